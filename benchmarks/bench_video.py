"""The video pipeline on real media: frames lifted, bone-length stability, jitter, lag, speed, BVH.

Runs ``poselift.video.lift_video`` (MediaPipe Pose + the released lifter) on the 205-frame
1280x720 street video and the 20 COCO photos of ``$POSELIFT_DATA/media`` and measures:

* share of frames with a lifted person;
* bone-length coefficient of variation over the frames (std / mean per bone, median over
  the 16 bones) of the raw camera-space poses, after the temporal filter alone, and after
  ``--smooth`` (filter + bones at their median length), offline and causal;
* jitter: mean joint acceleration (m/s^2) of the camera-space poses and of the
  root-relative poses, before and after smoothing;
* the lag the causal filter adds: the delay of the causal output behind the offline
  (zero-lag) output of the same filter;
* speed: frames per second of decoding + detection + lifting + smoothing, each stage's
  share, and the machine's load while it ran;
* the BVH round trip: ``write_bvh`` of the smoothed world-frame poses read back by an
  independent reader (``tests/bvh_reader.py``), forward-kinematics positions against the
  poses with fixed bone lengths.

The media are research data that must not enter the repository: renders (``--render``)
go to a folder outside it. Needs ``pip install ".[video]"``.

Usage::

    python benchmarks/bench_video.py                        # writes the video section of benchmarks/RESULTS.md
    python benchmarks/bench_video.py --out - --render /tmp/poselift-renders
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
START, END = "<!-- bench_video start -->", "<!-- bench_video end -->"


def media_folder(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    root = os.environ.get("POSELIFT_DATA") or str(HERE.parent.parent / "shared" / "data")
    return Path(root) / "media"


def measure_video(video: Path, workdir: Path, render: Path | None) -> dict:
    from poselift.export import fixed_bone_poses, write_bvh
    from poselift.smooth import bone_length_cv, estimate_lag, jitter, smooth_poses
    from poselift.video import lift_video

    sys.path.insert(0, str(HERE.parent / "tests"))
    from bvh_reader import read_bvh

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = lift_video(video, None, smooth="offline")  # what `poselift video --smooth` runs, without writing
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    skel, fps, raw = result.skeleton, result.fps, result.poses_raw
    F = len(result.frames)

    smoothed, smooth_time = {}, {}
    for mode in ("offline", "causal"):
        for fixed in (False, True):
            t = time.perf_counter()
            smoothed[(mode, fixed)] = smooth_poses(raw, skel, fps, mode=mode, fixed_bones=fixed)
            smooth_time[(mode, fixed)] = time.perf_counter() - t

    def rel(p: np.ndarray) -> np.ndarray:
        return p - p[:, list(skel.root)].mean(axis=1, keepdims=True)

    def cv(p: np.ndarray) -> float:
        return float(np.median(bone_length_cv(p, skel)))

    stages = {k: v for k, v in result.timings.items() if k in ("decode", "detect", "lift", "smooth")}
    end_to_end = F / sum(stages.values())

    # BVH round trip of the smoothed world-frame sequence
    world = result.world  # what lift_video writes to motion.bvh (tracked ground, feet on it)
    bvh_path, _ = write_bvh(workdir / "motion.bvh", world, skel, fps, axes="yup", units="cm")
    names, fk, _ = read_bvh(bvh_path)
    got = np.stack([fk[:, names.index(j)] for j in skel.joints], axis=1) / 100.0
    expected, _ = fixed_bone_poses(world, skel)
    err = np.linalg.norm(got - expected, axis=-1)
    _, lengths = fixed_bone_poses(world, skel)

    if render is not None:
        render_video_frames(video, result, render)

    return {
        "frames": F,
        "fps_video": fps,
        "found": int(result.found.sum()),
        "lifted": int(result.lifted.sum()),
        "tracker_refusals": result.tracker_refusals,
        "bone_cv_median": {
            "raw": cv(raw),
            "filter_only_offline": cv(smoothed[("offline", False)]),
            "smooth_offline": cv(smoothed[("offline", True)]),
            "filter_only_causal": cv(smoothed[("causal", False)]),
            "smooth_causal": cv(smoothed[("causal", True)]),
        },
        "bone_cv_raw_per_bone": {
            f"{skel.joints[p]}-{skel.joints[c]}": round(float(v), 3) for (p, c), v in zip(skel.bones, bone_length_cv(raw, skel))
        },
        "jitter_camera": {
            "raw": jitter(raw, fps),
            "offline": jitter(smoothed[("offline", True)], fps),
            "causal": jitter(smoothed[("causal", True)], fps),
        },
        "jitter_root_relative": {
            "raw": jitter(rel(raw), fps),
            "offline": jitter(rel(smoothed[("offline", True)]), fps),
            "causal": jitter(rel(smoothed[("causal", True)]), fps),
        },
        "causal_lag_s": {
            "root_relative": estimate_lag(rel(smoothed[("offline", False)]), rel(smoothed[("causal", False)]), fps),
            "root_trajectory": estimate_lag(
                smoothed[("offline", False)][:, list(skel.root)].mean(axis=1),
                smoothed[("causal", False)][:, list(skel.root)].mean(axis=1),
                fps,
            ),
        },
        "root_depth_m": {"median": float(np.median(raw[result.lifted, 0, 2])), "min": float(np.nanmin(raw[:, 0, 2])), "max": float(np.nanmax(raw[:, 0, 2]))},
        "timings_s": {**stages, "wall_with_model_load": wall},
        "fps_end_to_end": end_to_end,
        "fps_detector_only": F / stages["detect"],
        "load_1min": [load_before, load_after],
        "bvh_round_trip_m": {"max": float(err.max()), "mean": float(err.mean())},
        "bvh_bone_lengths_m": {skel.joints[j]: round(float(lengths[j]), 3) for j in range(skel.num_joints) if lengths[j] > 0},
    }


def measure_photos(media: Path, render: Path | None) -> dict:
    from poselift.video import lift_video

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        photos = sorted(media.glob("*.jpg"))
        for p in photos:
            (folder / p.name).symlink_to(p.resolve())
        result = lift_video(folder, None)
        if render is not None:
            from poselift.video import open_frames, render_frame
            import cv2

            for i, (name, frame) in enumerate(open_frames(folder)):
                cv2.imwrite(str(render / f"photo_{name}.png"), render_frame(frame, result, i, panel_height=360))
    return {
        "photos": len(result.frames),
        "found": int(result.found.sum()),
        "lifted": int(result.lifted.sum()),
        "per_photo": {name: bool(ok) for name, ok in zip(result.frames, result.lifted)},
        "refused": {result.frames[i]: why for i, why in result.refused.items()},
    }


def render_video_frames(video: Path, result, render: Path, every: int = 25) -> None:
    """PNGs of every ``every``-th frame (overlay and 3D view) into ``render`` (outside the repository)."""
    import cv2

    from poselift.video import open_frames, render_frame

    for i, (name, frame) in enumerate(open_frames(video)):
        if i % every == 0 or i == len(result.frames) - 1:
            cv2.imwrite(str(render / f"video_{name}.png"), render_frame(frame, result, i, panel_height=360))


def machine() -> dict:
    import cv2
    import mediapipe

    return {
        "cpu": platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mediapipe": mediapipe.__version__,
        "opencv": cv2.__version__,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }


def report(video: dict, photos: dict, info: dict, command: str) -> str:
    v, p = video, photos
    cvs, jc, jr = v["bone_cv_median"], v["jitter_camera"], v["jitter_root_relative"]
    t = v["timings_s"]
    total = sum(t[k] for k in ("decode", "detect", "lift", "smooth"))
    lines = [
        START,
        "## Video pipeline (`benchmarks/bench_video.py`)",
        "",
        f"Command: `{command}`. MediaPipe {info['mediapipe']} (pose model bundled in its wheel), OpenCV "
        f"{info['opencv']}, numpy {info['numpy']}, Python {info['python']}, {info['logical_cpus']} logical CPUs, "
        f"OMP_NUM_THREADS={info['threads']}; 1-minute load average {v['load_1min'][0]:.2f} before and "
        f"{v['load_1min'][1]:.2f} after the video run (the machine was shared with training jobs).",
        "",
        f"Real street video, {v['frames']} frames, 1280x720, {v['fps_video']:g} fps (one dancer, pedestrians behind):",
        "",
        "| measure | value |",
        "|---|---|",
        f"| frames with a person found / lifted | {v['found']} / {v['lifted']} of {v['frames']} ({100 * v['lifted'] / v['frames']:.1f} %) |",
        f"| detections refused as another person | {v['tracker_refusals']} |",
        f"| bone-length CV, median over 16 bones: raw | {cvs['raw']:.3f} |",
        f"| ... One-Euro filter only, offline / causal | {cvs['filter_only_offline']:.3f} / {cvs['filter_only_causal']:.3f} |",
        f"| ... `--smooth` (filter + median bone lengths), offline / causal | {cvs['smooth_offline']:.3f} / {cvs['smooth_causal']:.3f} |",
        f"| jitter, camera frame (mean joint acceleration): raw / offline / causal | {jc['raw']:.1f} / {jc['offline']:.1f} / {jc['causal']:.1f} m/s² |",
        f"| jitter, root-relative: raw / offline / causal | {jr['raw']:.1f} / {jr['offline']:.1f} / {jr['causal']:.1f} m/s² |",
        f"| lag of the causal filter behind the offline one: pose / root trajectory | {1000 * v['causal_lag_s']['root_relative']:.0f} / {1000 * v['causal_lag_s']['root_trajectory']:.0f} ms |",
        f"| root depth (assumed height 1.70 m): median (min-max) | {v['root_depth_m']['median']:.2f} ({v['root_depth_m']['min']:.2f}-{v['root_depth_m']['max']:.2f}) m |",
        f"| end to end (decode + detect + lift + smooth) | {v['fps_end_to_end']:.1f} frames/s |",
        f"| ... time shares: decode / detect / lift / smooth | {100 * t['decode'] / total:.0f} / {100 * t['detect'] / total:.0f} / {100 * t['lift'] / total:.0f} / {100 * t['smooth'] / total:.0f} % |",
        f"| detector alone | {v['fps_detector_only']:.1f} frames/s |",
        f"| BVH round trip (independent reader, FK vs fixed-bone poses): max / mean | {100 * v['bvh_round_trip_m']['max']:.1e} / {100 * v['bvh_round_trip_m']['mean']:.1e} cm |",
        "",
        "How to read this: the lifter's own bone lengths wander from frame to frame, slowly and with the pose "
        "(hips and forearms most: a foreshortened limb gets a depth of the wrong size), so the One-Euro filter alone "
        "barely changes their spread; `--smooth` meets the 0.08 target because it then sets each bone to its median "
        "length (offline: over the whole clip, hence 0; causal: a running median over the last 250 frames). "
        "The jitter of the camera-frame poses is mostly the root's depth, the noisiest quantity from one image, "
        "which is smoothed with a plain 0.5 Hz low-pass (hence the longer causal lag of the trajectory). "
        f"Speed is limited by the detector ({100 * t['detect'] / total:.0f} % of the time): MediaPipe's full "
        "landmark model is the only one bundled in the wheel (its lite and heavy models are downloaded at run time), "
        "and the 2 CPU cores were shared with other jobs during the run. The camera of this clip is handheld and "
        "moves, so the trajectory mixes the dancer's and the camera's motion; the BVH ground follows the feet "
        "(`ground=\"tracked\"`, the default of `poselift video`).",
        "",
        f"Raw bone-length CV per bone: {', '.join(f'{k} {x}' for k, x in v['bone_cv_raw_per_bone'].items())}.",
        "",
        f"COCO photos: a person found in {p['found']} of {p['photos']}, lifted in {p['lifted']}; "
        f"refused by the lifter: {'; '.join(f'{k} ({why})' for k, why in p['refused'].items()) or 'none'}.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the video section of ``path`` (between the markers) or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", default=None, help="media folder (default: $POSELIFT_DATA/media or ../shared/data/media)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="markdown file whose video section to write ('-': none)")
    parser.add_argument("--json", default=None, help="also write all numbers to this JSON file")
    parser.add_argument("--render", default=None, help="folder (outside the repository) for PNG renders to look at")
    args = parser.parse_args(argv)
    media = media_folder(args.media)
    if not (media / "video.avi").is_file():
        print(f"no video.avi in {media}; set POSELIFT_DATA or pass --media", file=sys.stderr)
        return 2
    render = Path(args.render) if args.render else None
    if render is not None:
        if Path(render).resolve().is_relative_to(HERE.parent.resolve()):
            print("--render must lie outside the repository: renders of the media must not be committed", file=sys.stderr)
            return 2
        render.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        video = measure_video(media / "video.avi", Path(tmp), render)
    photos = measure_photos(media, render)
    info = machine()
    record = {"video": video, "photos": photos, "machine": info}
    print(json.dumps(record, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if args.out != "-":
        command = "OMP_NUM_THREADS=1 python benchmarks/bench_video.py"
        write_section(Path(args.out), report(video, photos, info, command))
        print(f"wrote the video section of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
