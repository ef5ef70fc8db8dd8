"""``poselift lift``: lift a keypoint file (OpenPose JSON folder, COCO JSON, npy/npz) to 3D poses."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_path
from ..errors import CommandLineError
from .checks import check_output

__all__ = ["cmd_lift"]


def _lift_sequences(lifter: Any, kp: np.ndarray, conf: np.ndarray, args: argparse.Namespace, fps: float) -> Any:
    """Each person slot of ``(frames, people, N, 2)`` lifted as one clip (``conf`` 0 where a slot
    holds nobody): the :class:`~poselift.LiftResult` of ``lift_sequence``, frames first."""
    clips = lifter.lift_sequence(
        np.moveaxis(kp, 1, 0), np.moveaxis(conf, 1, 0), fps=fps, causal=args.sequence == "causal", height=args.height,
        on_unliftable="nan",
    )  # fmt: skip
    return type(clips)(*(np.moveaxis(np.asarray(field), 0, 1) for field in clips))


def _input_layout(data: Any, requested: str, model_layout: str) -> str | None:
    """The layout of the read keypoints: requested, detected, or the model's for an ambiguous count."""
    from ..skeleton import canonical_layout, guess_layouts

    if requested != "auto":
        return canonical_layout(requested)
    if data.layout is not None:
        return data.layout
    if data.num_joints == 0:  # nobody in any frame
        return None
    candidates = guess_layouts(data.num_joints)
    if model_layout in candidates:
        others = [c for c in candidates if c != model_layout]
        print(
            f"note: {data.num_joints} joints taken as {model_layout}"
            + (f"; pass --layout {others[0]} if they are {others[0]} keypoints" if others else "")
        )
        return model_layout
    raise CommandLineError(
        f"{data.num_joints} joints could be {' or '.join(candidates)}; pass --layout to say which"
    )


def cmd_lift(args: argparse.Namespace) -> int:
    from ..adapt import adapt_layout
    from ..io import read_keypoints, write_poses
    from ..lifter import Lifter

    check_output(args.output, [args.input], args.overwrite, (".json", ".npz"))
    if args.plot:
        from ..viz import PLOT_SUFFIXES

        check_output(args.plot, [args.input, args.output], args.overwrite, PLOT_SUFFIXES)
    layout_arg = None if args.layout == "auto" else args.layout
    data = read_keypoints(args.input, layout=layout_arg)
    lifter = Lifter.from_pretrained(args.model)
    target = lifter.skeleton
    layout = _input_layout(data, args.layout, target.name)
    threshold = lifter.config.confidence_threshold

    present = data.present
    F, P = present.shape
    M = target.num_joints
    if layout is None or P == 0:
        kp = np.zeros((F, P, M, 2), np.float32)
        conf = np.zeros((F, P, M), np.float32)
    elif layout == target.name:
        kp, conf = data.keypoints, data.confidence
    else:
        kp, conf = adapt_layout(data.keypoints, layout, data.confidence, target=target.name)
    empty = present & ~(data.confidence > 0).any(axis=-1)  # a slot without any detected joint
    people = present & ~empty
    # Which poses can be lifted, and which joints are missing, is the library's rule: slots
    # without a person have no visible joint, so lift(..., on_unliftable="nan") leaves them NaN.
    fps, fps_from = (args.fps, "--fps") if args.fps else ((data.fps, "recorded in the keypoints") if data.fps else (30.0, "assumed"))
    if args.sequence and args.smooth:
        raise CommandLineError("--sequence and --smooth are alternatives: pass one of them")
    conf = np.where(people[..., None], conf, 0.0)
    if args.sequence:  # each person's frames as one clip; the same rule decides what is lifted
        result = _lift_sequences(lifter, np.where(people[..., None, None], kp, 0.0), conf, args, fps)
    else:
        result = lifter.lift(kp, conf, height=args.height, on_unliftable="nan")
    poses, filled, reason = result.poses, result.filled, result.reason
    lifted = result.lifted & people
    missing = result.missing & people[..., None]
    if args.smooth:
        from ..smooth import smooth_people

        poses = smooth_people(poses, lifted, target, fps, mode=args.smooth)
    metadata = {
        "model": str(args.model),
        "input": str(args.input),
        "input_layout": layout,
        "height_m": args.height if args.height is not None else lifter.config.height,
        "confidence_threshold": threshold,
    }
    if args.sequence:
        metadata["sequence"] = {"mode": args.sequence, "fps": fps}
    if args.smooth:
        metadata["smoothing"] = {"mode": args.smooth, "fps": fps, "fixed_bone_lengths": True}
    if data.errors:
        metadata["unreadable_files"] = data.errors

    n_people = int(people.sum())
    print(
        f"input:   {args.input} ({layout or 'no people'}, {F} frames, {n_people} {_plural(n_people, 'person', 'people')}"
        + (f", {int(empty.sum())} empty slots without any joint" if empty.any() else "")
        + ")"
    )
    if data.errors:
        first = next(iter(data.errors.values()))
        print(f"skipped: {len(data.errors)} unreadable file(s), e.g. {first}")
    n_filled = int((lifted & filled.any(axis=-1)).sum())
    print(
        f"lifted:  {int(lifted.sum())} of {n_people} {_plural(n_people, 'person', 'people')} with {args.model}"
        + (f" ({n_filled} with missing joints filled in by the model)" if n_filled else "")
    )
    refused = people & ~lifted
    if refused.any():
        print(f"skipped: {int(refused.sum())} people: {_why(reason[refused], missing[refused], lifter)}; marked \"lifted\": false in the output")
    if not lifted.any():
        print(
            f"poselift lift: error: no person in {args.input} could be lifted, so nothing was written"
            + (f" (is --layout {args.layout} right for this file?)" if args.layout != "auto" else ""),
            file=sys.stderr,
        )
        return 1
    if args.sequence:
        print(f"sequence: each person's frames lifted as one clip ({args.sequence}) at {fps:g} fps ({fps_from})")
    if args.smooth:
        print(
            f"smooth:  {args.smooth} One-Euro over the frames of each person at {fps:g} fps ({fps_from}); "
            "bones at their median length"
        )
    with contextlib.ExitStack() as staged:  # the plot is drawn first and installed after the poses: both or neither
        if args.plot:
            Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
            png = staged.enter_context(atomic_path(args.plot, replace=args.overwrite))
            from ..viz import save_pose_plot

            f, p = (int(i) for i in np.argwhere(lifted)[0])
            if layout is not None and layout != target.name:  # draw the 2D input as it came, in its own layout
                kp2d = np.concatenate([data.keypoints[f, p], data.confidence[f, p, :, None]], axis=-1)
                layout2d = layout
            else:
                kp2d, layout2d = np.concatenate([kp[f, p], conf[f, p, :, None]], axis=-1), target.name
            save_pose_plot(
                poses[f, p], target, png, keypoints2d=kp2d, skeleton2d=layout2d,
                title=f"{Path(args.input).name}: frame {data.frames[f]}, person {p}",
            )  # fmt: skip
        out = write_poses(
            args.output, poses, skeleton=target, frames=data.frames, num_people=data.num_people,
            lifted=lifted, missing=missing, filled=filled, metadata=metadata, overwrite=args.overwrite,
        )  # fmt: skip
    print(f"wrote:   {out}")
    if args.plot:
        print(f"plot:    {Path(args.plot)}")
    return 0


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _why(reasons: np.ndarray, missing: np.ndarray, lifter: Any) -> str:
    """One line on why poses were not lifted, from their :data:`~poselift.lifter.UNLIFTABLE_REASONS` keys."""
    target = lifter.skeleton
    parts = []
    too_few = reasons == "missing_joints"
    if too_few.any():
        counts = missing[too_few].sum(axis=0)
        worst = ", ".join(target.joints[j] for j in np.argsort(-counts)[:3] if counts[j] > 0)
        completion = lifter.config.completion
        what = (
            "missing joints"
            if completion is None
            else f"fewer than {completion.min_visible} of {target.num_joints} joints detected"
        )
        parts.append(f"{int(too_few.sum())} with {what} (most often {worst})")
    for key, text in (
        ("degenerate", "with all joints at one point"),
        ("nonfinite", "with NaN or infinite coordinates"),
        ("nonfinite_output", "for which the network returned NaN (broken weights?)"),
    ):
        count = int((reasons == key).sum())
        if count:
            parts.append(f"{count} {text}")
    return "; ".join(parts)
