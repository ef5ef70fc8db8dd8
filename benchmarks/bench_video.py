"""The video pipeline on real media: frames lifted, bone-length stability, jitter, lag, speed, BVH.

Runs ``poselift.video.lift_video`` (MediaPipe Pose + the released lifter) on the 205-frame
1280x720 street video and the 20 COCO photos of ``$POSELIFT_DATA/media`` and measures:

* people followed, the main person chosen, share of frames with the main person lifted;
* jumps in the written 2D: frame transitions whose largest limb-joint move (shoulders,
  elbows, wrists, hips, knees, ankles) exceeds 0.6 torso lengths (shoulder centre to hip
  centre of the frame before) -- a limb or the whole person taken from someone else;
* the feet in ``motion.bvh`` (default options, read by ``tests/bvh_reader.py``): the lower
  ankle's height above the ground;
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
    skel, fps, raw = result.skeleton, result.fps, result.poses_raw[:, 0]  # the main person
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

    stages = {k: v for k, v in result.timings.items() if k in ("decode", "detect", "track", "lift", "smooth")}
    end_to_end = F / sum(stages.values())

    # BVH round trip of the smoothed world-frame sequence
    world = result.world[:, 0]  # what lift_video writes to motion.bvh (tracked ground, feet on it)
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
        "people_followed": len(result.tracks),
        "main_person": {"id": result.main, "frames_detected": len(result.tracks[result.main].frames)},
        "jumps_2d": jumps_2d(result.detections[:, 0]),
        "frames_sides_swapped_back": int(result.swapped.sum()),
        "frames_limb_mended": int(result.mended.sum()),
        "feet_default_bvh": feet_default(video, workdir),
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
        "root_depth_m": {"median": float(np.median(raw[result.lifted[:, 0], 0, 2])), "min": float(np.nanmin(raw[:, 0, 2])), "max": float(np.nanmax(raw[:, 0, 2]))},
        "timings_s": {**stages, "wall_with_model_load": wall},
        "fps_end_to_end": end_to_end,
        "fps_detector_only": F / stages["detect"],
        "load_1min": [load_before, load_after],
        "bvh_round_trip_m": {"max": float(err.max()), "mean": float(err.mean())},
        "bvh_bone_lengths_m": {skel.joints[j]: round(float(lengths[j]), 3) for j in range(skel.num_joints) if lengths[j] > 0},
    }


LIMB_JOINTS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # mediapipe33 shoulders ... ankles


def jumps_2d(kp: np.ndarray, limit: float = 0.6) -> dict:
    """Frame transitions of ``(F, 33, 3)`` landmarks whose largest limb-joint move exceeds
    ``limit`` torso lengths (of the frame before); frames without the person are skipped."""
    moves = []
    for f in range(1, len(kp)):
        a, b = kp[f - 1], kp[f]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        torso = np.linalg.norm(a[[11, 12], :2].mean(axis=0) - a[[23, 24], :2].mean(axis=0))
        moves.append((f, float(np.linalg.norm(b[LIMB_JOINTS, :2] - a[LIMB_JOINTS, :2], axis=-1).max() / torso)))
    return {"transitions": len(moves), "over": [f for f, m in moves if m > limit], "largest": max(m for _, m in moves)}


def feet_default(video: Path, workdir: Path) -> dict:
    """``motion.bvh`` of ``poselift video`` with default options: the lower ankle's height (cm)."""
    from poselift.video import lift_video

    from bvh_reader import read_bvh

    out = workdir / "default"
    lift_video(video, out, animation=None)
    names, fk, _ = read_bvh(out / "motion.bvh")
    lower = fk[:, [names.index("left_ankle"), names.index("right_ankle")], 1].min(axis=1)
    return {"above_ground": float((lower >= 0).mean()), "median_cm": float(np.median(lower)), "min_cm": float(lower.min())}


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
        "per_photo": {name: bool(ok) for name, ok in zip(result.frames, result.lifted[:, 0])},
        "refused": {result.frames[i]: why for (i, _), why in result.refused.items()},
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
    total = sum(t.get(k, 0.0) for k in ("decode", "detect", "track", "lift", "smooth"))
    j, feet = v["jumps_2d"], v["feet_default_bvh"]
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
        f"| people followed (ids) / the main person chosen | {v['people_followed']} / person {v['main_person']['id']} (detected in {v['main_person']['frames_detected']} frames) |",
        f"| frames with the main person found / lifted | {v['found']} / {v['lifted']} of {v['frames']} ({100 * v['lifted'] / v['frames']:.1f} %) |",
        f"| 2D jumps: transitions moving a limb joint by more than 0.6 torso lengths | {len(j['over'])} of {j['transitions']}{' (' + ', '.join(map(str, j['over'])) + ')' if j['over'] else ''}; largest move {j['largest']:.2f} |",
        f"| 2D repairs: frames with left/right swapped back / a limb excursion mended | {v['frames_sides_swapped_back']} / {v['frames_limb_mended']} |",
        f"| `motion.bvh` (default options): lower ankle at or above the ground / median / lowest | {100 * feet['above_ground']:.1f} % / {feet['median_cm']:.1f} cm / {feet['min_cm']:.1f} cm |",
        f"| bone-length CV, median over 16 bones: raw | {cvs['raw']:.3f} |",
        f"| ... One-Euro filter only, offline / causal | {cvs['filter_only_offline']:.3f} / {cvs['filter_only_causal']:.3f} |",
        f"| ... `--smooth` (filter + median bone lengths), offline / causal | {cvs['smooth_offline']:.3f} / {cvs['smooth_causal']:.3f} |",
        f"| jitter, camera frame (mean joint acceleration): raw / offline / causal | {jc['raw']:.1f} / {jc['offline']:.1f} / {jc['causal']:.1f} m/s² |",
        f"| jitter, root-relative: raw / offline / causal | {jr['raw']:.1f} / {jr['offline']:.1f} / {jr['causal']:.1f} m/s² |",
        f"| lag of the causal filter behind the offline one: pose / root trajectory | {1000 * v['causal_lag_s']['root_relative']:.0f} / {1000 * v['causal_lag_s']['root_trajectory']:.0f} ms |",
        f"| root depth (assumed height 1.70 m): median (min-max) | {v['root_depth_m']['median']:.2f} ({v['root_depth_m']['min']:.2f}-{v['root_depth_m']['max']:.2f}) m |",
        f"| end to end (decode + detect + track + lift + smooth) | {v['fps_end_to_end']:.1f} frames/s |",
        f"| ... time shares: decode / detect / track / lift / smooth | {100 * t['decode'] / total:.0f} / {100 * t['detect'] / total:.0f} / {100 * t.get('track', 0.0) / total:.0f} / {100 * t['lift'] / total:.0f} / {100 * t['smooth'] / total:.0f} % |",
        f"| detection alone (person detector and landmark model) | {v['fps_detector_only']:.1f} frames/s |",
        f"| BVH round trip (independent reader, FK vs fixed-bone poses): max / mean | {100 * v['bvh_round_trip_m']['max']:.1e} / {100 * v['bvh_round_trip_m']['mean']:.1e} cm |",
        "",
        "How to read this: \"raw\" is what `lift_video` lifts by default, `Lifter.lift_sequence` over the clip, "
        "which already holds each bone near one length (frame-by-frame lifting, `sequence=None`, lets the lengths "
        "wander with the pose: a foreshortened limb gets a depth of the wrong size); `--smooth` then sets each bone "
        "to its median length (offline: over the whole clip, hence 0; causal: a running median over the last 250 "
        "frames). "
        "The jitter of the camera-frame poses is mostly the root's depth, the noisiest quantity from one image, "
        "which is smoothed with a plain 0.5 Hz low-pass (hence the longer causal lag of the trajectory). "
        f"Speed is limited by detection ({100 * t['detect'] / total:.0f} % of the time): the person detector "
        "(BlazePose, one square tile of the frame on every second frame, all tiles on the first) to follow "
        "everyone, then MediaPipe's full landmark model, the only one bundled in the wheel, for the main person "
        "in every frame; the 2 CPU cores were shared with other jobs during the run (load average above). "
        "People other than the main one are followed by their detections only, so following more of them costs "
        "nothing extra; `--person all` runs the landmark model once per person and frame. "
        "The 2D jumps are counted on the main person's landmarks as written (after the tracker's left/right "
        "and limb-excursion repairs and the offline 2D smoothing, `poselift.people.find_people`). "
        "The camera of this clip is handheld and "
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
        text = head + section + ("\n" + tail if tail else "")
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
