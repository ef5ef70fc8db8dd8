"""``poselift video``: detect, lift and export the people of a video, a photo or a folder of photos."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

__all__ = ["cmd_video"]


def cmd_video(args: argparse.Namespace) -> int:
    from ..video import lift_video

    from ..camera import parse_camera

    camera = parse_camera(args.camera)
    result = lift_video(
        args.input, args.output_dir, model=args.model, camera=camera, fov_deg=args.fov, height=args.height,
        smooth=args.smooth, sequence=None if args.sequence == "off" else args.sequence, fps=args.fps, max_frames=args.max_frames,
        animation=None if args.animation == "none" else args.animation, bvh=not args.no_bvh, ground=args.ground, overwrite=args.overwrite,
        progress=not args.no_progress, person=args.person,
    )  # fmt: skip
    F = len(result.frames)
    unit = "frames" if result.sequence else ("photos" if F > 1 else "photo")
    rate = f", {result.fps:g} fps" if result.sequence else ""
    print(f"input:   {args.input} ({F} {unit}{rate})")
    if result.sequence:
        _print_people(result, args.person)
    print(f"found:   a person in {int(result.found.any(axis=1).sum())} of {F} {unit}")
    smoothed = f", smoothed ({args.smooth})" if args.smooth and result.sequence else ""
    as_clip = f" as one clip (lift_sequence, {args.sequence})" if result.sequence and args.sequence != "off" else ""
    print(f"lifted:  {int(result.lifted.any(axis=1).sum())} of {F} {unit} with {args.model}{as_clip}{smoothed}")
    missing = [result.frames[i] for i in np.flatnonzero(~result.lifted.any(axis=1))]
    if not result.sequence:  # every photo gets its line
        for i, name in enumerate(result.frames):
            print(f"photo:   {name}: {result.outcome(i)}")
    elif missing:
        print(f"skipped: {len(missing)} {unit} without a lifted person (e.g. {', '.join(missing[:5])}); marked in the outputs")
    stages = "decode, detect, lift" + (", smooth" if smoothed else "")
    print(f"speed:   {result.fps_end_to_end:.1f} frames/s ({stages})")
    if not result.lifted.any():
        print(f"poselift video: error: nobody was lifted in {args.input}, so nothing was written", file=sys.stderr)
        return 1
    for key, path in result.outputs.items():
        print(f"wrote:   {path}")
    return 0


def _print_people(result: Any, person: Any) -> None:
    """Who was followed and who was lifted, for ``poselift video``'s summary."""
    tracks = {t.id: t for t in result.tracks}
    print(f"people:  {len(tracks)} followed (ids 0-{len(tracks) - 1}, by first appearance)" if tracks else "people:  nobody followed")
    for pid in result.people:
        t = tracks[pid]
        why = " (main: detected in the most frames, then the largest)" if pid == result.main and person == "main" else ""
        main = ", the main person" if pid == result.main and person != "main" else ""
        p = result.people.index(pid)
        print(
            f"person:  {pid}{why}{main}: detected in {len(t.frames)} frames ({result.frames[t.first]}-{result.frames[t.last]}), "
            f"landmarks in {int(result.found[:, p].sum())}, lifted in {int(result.lifted[:, p].sum())}"
        )
    fixed = [f"{int(result.swapped[:, p].sum())} with left and right swapped back, {int(result.mended[:, p].sum())} "
             f"with a limb's excursion mended (person {pid})" for p, pid in enumerate(result.people)
             if result.swapped[:, p].any() or result.mended[:, p].any()]  # fmt: skip
    if fixed:
        print(f"2D:      frames {'; '.join(fixed)}")
