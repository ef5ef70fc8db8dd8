"""The ``poselift`` command: lift keypoint files, run the demo, evaluate, train, export.

Every subcommand has ``--help``. User errors (a missing file, a malformed input, an
unknown model) print one ``poselift: error: ...`` message to stderr and exit with
status 2; tracebacks are reserved for bugs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._version import __version__
from .errors import InvalidArgumentError, OutputExistsError, PoseliftError
from .weights import DEFAULT_MODEL

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)

_LAYOUT_CHOICES = ("auto", "h36m17", "lsp14", "body25", "coco18", "coco17", "mpii16", "mediapipe33")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _height(text: str) -> float:
    """A body height in metres, between 0.3 and 3."""
    value = _positive_float(text)
    if not 0.3 <= value <= 3.0:
        hint = f"; {text} looks like centimetres: pass {value / 100:.2f}" if 30 <= value <= 300 else ""
        raise argparse.ArgumentTypeError(f"must be a body height in metres between 0.3 and 3, got {text}{hint}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _person(text: str) -> str | int:
    """``poselift video --person``: main, all or a person id."""
    if text in ("main", "all"):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected main, all or a person id (0, 1, ...), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``poselift`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="poselift",
        description="Lift 2D human keypoints to 3D skeletons with networks trained without 3D labels.",
        epilog="Run 'poselift COMMAND --help' for the options of a command. Start with 'poselift demo'.",
        formatter_class=fmt,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress messages of the library")
    parser.add_argument("--version", action="version", version=f"poselift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "lift",
        help="lift a keypoint file (OpenPose, COCO, .npy, .npz) to 3D",
        formatter_class=fmt,
        description=(
            "Lift the 2D keypoints of every person in every frame of INPUT to 3D and write them to OUTPUT.\n\n"
            "INPUT can be:\n"
            "  - an OpenPose JSON file or a folder of them (one file per frame, BODY_25 or COCO-18),\n"
            "  - a COCO keypoint annotation file or a COCO result file (.json),\n"
            "  - a .npy array (N, 2|3), (frames, N, 2|3) or (frames, people, N, 2|3) in pixels,\n"
            "    the optional third channel being the confidence,\n"
            "  - a .npz with 'keypoints' (as for .npy) and optionally 'confidence'.\n\n"
            "Keypoints in another layout than the model's (e.g. OpenPose) are converted first\n"
            "(poselift.adapt). Joints the detector missed (confidence below the model's threshold)\n"
            "are filled in by the model when it has a completion network, and listed as \"filled\".\n"
            "A person with too few joints (any missing joint, for a model without completion)\n"
            "is not lifted: the output marks it \"lifted\": false and lists the missing joints.\n\n"
            "OUTPUT (.json or .npz): per frame and person, each joint's [x, y, z] in metres,\n"
            "root-relative (pelvis at 0), camera axes x right, y down, z away from the camera."
        ),
        epilog="example: poselift lift openpose_output/ -o poses3d.json --plot pose.png",
    )
    p.add_argument("input", metavar="INPUT", help="keypoint file or OpenPose folder")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file, .json or .npz")
    p.add_argument(
        "--model", default=DEFAULT_MODEL, metavar="NAME_OR_PATH",
        help=f"lifter to use: a folder from save_pretrained() or a hub name (default: {DEFAULT_MODEL})",
    )  # fmt: skip
    p.add_argument(
        "--layout", default="auto", choices=_LAYOUT_CHOICES,
        help="joint layout of INPUT (default: auto, from the file format and joint count; "
        "body25/coco18 are OpenPose's, mediapipe33 MediaPipe's as 'poselift video' writes them, "
        "17-joint arrays count as h36m17 unless told coco17)",
    )  # fmt: skip
    p.add_argument(
        "--height", type=_height, default=None, metavar="M",
        help="body height in metres that sets the output scale (default: the model's, usually 1.70)",
    )  # fmt: skip
    p.add_argument("--plot", default=None, metavar="PNG", help="also draw the first lifted pose to this image")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and PNG) if they exist")
    p.add_argument(
        "--sequence", nargs="?", const="offline", default=None, choices=("offline", "causal"),
        help="the frames of INPUT are a clip in order (at --fps), each person slot one tracked person: lift "
        "each person's frames as one clip (Lifter.lift_sequence); offline = the whole clip (the default of a "
        "bare --sequence), causal = 100 ms of look-ahead at 50 fps",
    )  # fmt: skip
    _add_smooth_arguments(
        p, "(default: the rate the keypoints record, as 'poselift video' writes it; else 30)"
    )

    p = sub.add_parser(
        "video",
        help="detect, lift and export a person from a video, an image or a folder of images (needs the video extra: pip install '.[video]')",
        formatter_class=fmt,
        description=(
            "Find everyone in every frame of INPUT with MediaPipe Pose (bundled models, runs offline), give\n"
            "each person an id that stays theirs from frame to frame, lift the --person chosen (by default\n"
            "the main person: detected in the most frames, then the largest) to 3D, place them in the\n"
            "camera frame and write to OUT/:\n"
            "  keypoints/       the 2D landmarks as OpenPose JSON, one file per frame (33 MediaPipe\n"
            "                   landmarks, person_id = the person's id; re-lift them with\n"
            "                   'poselift lift OUT/keypoints -o ...')\n"
            "  poses3d.json/.npz  root-relative 3D poses in metres, camera axes, a person axis after the\n"
            "                   frame axis (\"people\" in the metadata: their ids), plus each root's position\n"
            "                   in the camera frame (\"translation\" per person)\n"
            "  animation.mp4    the 2D keypoints over the frames beside a 3D view of the main person (or .gif)\n"
            "  pictures/        for photos instead of the animation: NAME.png, the 2D keypoints over the\n"
            "                   photo beside the 3D view\n"
            "  motion.bvh       a BVH animation of the main person (y up, the soles on the ground; videos\n"
            "                   and frame folders); motion_ID.bvh for each other person lifted\n\n"
            "INPUT: a video file, an image, or a folder of images (natural name order; images of one size\n"
            "are frames of a sequence, of different sizes unrelated photos). Frames without a person are\n"
            "kept and marked; the summary gives every photo's outcome. When nobody is lifted in any frame,\n"
            "nothing is written and the exit status is 1. Depth from the camera scales with the assumed\n"
            "--height; without --camera the focal length is max(width, height) pixels (53 degrees across\n"
            "the longer side)."
        ),
        epilog="example: poselift video dance.mp4 -o dance/ --smooth",
    )
    p.add_argument("input", metavar="INPUT", help="video file, image, or folder of images")
    p.add_argument("-o", "--output-dir", required=True, metavar="OUT", help="output folder (created)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME_OR_PATH", help=f"lifter to use (default: {DEFAULT_MODEL})")
    p.add_argument(
        "--height", type=_height, default=None, metavar="M",
        help="body height in metres (0.3 to 3): sets the 3D scale and the distance from the camera "
        "(default: the model's, 1.70)",
    )  # fmt: skip
    p.add_argument(
        "--camera", default=None, metavar="F,CX,CY|FX,FY,CX,CY|FILE.json",
        help="camera intrinsics in pixels, or a JSON file {\"model\": \"pinhole\", \"fx\", \"fy\", \"cx\", \"cy\"} "
        "(default: from the image size)",
    )  # fmt: skip
    p.add_argument("--fov", type=_positive_float, default=None, metavar="DEG", help="field of view across the longer image side when --camera is not given")
    p.add_argument("--animation", default="mp4", choices=("mp4", "gif", "none"), help="animation format of a sequence (default mp4); photos get PNG pictures, none: neither")
    p.add_argument("--no-bvh", action="store_true", help="do not write motion.bvh")
    p.add_argument(
        "--ground", default="tracked", choices=("tracked", "fixed"),
        help="ground of the BVH world frame, fitted to the feet's contact frames, the soles on it: tracked = "
        "follows the contacts slowly (handheld or moving camera, the default); fixed = one height for the "
        "whole video (camera on a tripod)",
    )  # fmt: skip
    p.add_argument(
        "--person", default="main", type=_person, metavar="main|all|ID",
        help="whom to lift in a video: main = the person detected in the most frames, then the largest "
        "(default); all = everyone followed; ID = that person (the summary lists the ids). A photo's "
        "person is its largest",
    )  # fmt: skip
    p.add_argument("--max-frames", type=_positive_int, default=None, metavar="N", help="process at most N frames")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs already in OUT")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--sequence", default="offline", choices=("offline", "causal", "off"),
        help="lift the frames as one clip (Lifter.lift_sequence): offline = the whole clip (default); "
        "causal = 100 ms of look-ahead at 50 fps, as live; off = each frame alone",
    )  # fmt: skip
    _add_smooth_arguments(p, "(default: the video's; 30 for a folder of frames)")

    p = sub.add_parser(
        "demo",
        help="lift the bundled OpenPose sample and draw it",
        description="Lift a short OpenPose walking clip that ships with poselift, then write the 3D poses "
        "(JSON and npz), a picture and an animation. Drawing needs matplotlib: pip install \".[viz]\" (in the poselift checkout).",
    )
    p.add_argument("-o", "--output-dir", default="poselift-demo", metavar="DIR", help="output folder (default: poselift-demo)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo in DIR")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH", help=f"lifter to use (default: {DEFAULT_MODEL})")

    p = sub.add_parser(
        "evaluate",
        help="measure a model on Human3.6M (S9, S11) or on the CMU clips (--cmu)",
        formatter_class=fmt,
        description=(
            "Evaluate MODEL on the Human3.6M test subjects S9 and S11, all four cameras, and print\n"
            "MPJPE, N-MPJPE (scale-aligned) and P-MPJPE (Procrustes-aligned) in mm per action and\n"
            "on average. Needs the data files described in the documentation (h36m_3d_17j.npz,\n"
            "cameras.json and, for --inputs detected, h36m_sh_2d_test.npz).\n\n"
            "With --cmu DIR, evaluate on a held-out domain instead: CMU motion-capture clips (BVH) filmed\n"
            "by seeded random virtual cameras (poselift.evaluation.cmu), per clip and on average;\n"
            "--inputs noisy adds detector-like noise and a missing joint in 10 %% of the poses."
        ),
        epilog="examples:\n  poselift evaluate runs/h36m/best --h36m data/h36m --inputs detected\n"
        "  poselift evaluate poselift/h36m-17 --cmu data/cmu_bvh --inputs noisy",
    )
    p.add_argument("model", metavar="MODEL", help="folder from save_pretrained() or a hub name")
    p.add_argument("--h36m", default=None, metavar="DIR", help="Human3.6M data folder (default: $POSELIFT_DATA/h36m)")
    p.add_argument(
        "--inputs", default="gt", choices=("gt", "detected", "noisy"),
        help="2D inputs: gt = ground truth projected with each camera; detected = Stacked-Hourglass detections "
        "(Human3.6M); noisy = detector-like noise and missing joints (--cmu)",
    )  # fmt: skip
    p.add_argument("--cmu", default=None, metavar="DIR", help="evaluate on the CMU clips in DIR instead of Human3.6M")
    p.add_argument(
        "--clips", default="test", metavar="SPLIT",
        help="with --cmu: 'test' (default), 'val' (the clips that may select models), 'all', or clip names "
        "separated by commas",
    )  # fmt: skip
    p.add_argument(
        "--stride", type=_positive_int, default=None, metavar="N",
        help="use every N-th frame (default: every frame of Human3.6M; every 4th of the 120 fps CMU clips)",
    )  # fmt: skip
    p.add_argument(
        "--correction", action="store_true",
        help="with --inputs detected: apply the learned MPII-16 correction poselift ships for the model's "
        "layout after the geometric mapping, as adapt_mpii16() does (default: the mapping only)",
    )  # fmt: skip
    p.add_argument(
        "--sequence", nargs="?", const="offline", default=None, choices=("offline", "causal"),
        help="lift each sequence and camera as one clip, frames in order (Lifter.lift_sequence): offline = the "
        "whole clip (the default of a bare --sequence); causal = 100 ms of look-ahead, as live",
    )  # fmt: skip
    p.add_argument(
        "--smooth", default=None, choices=("offline", "causal"),
        help="lift each frame, then smooth each clip with One-Euro and median bone lengths (the post-hoc baseline)",
    )  # fmt: skip
    p.add_argument(
        "--subjects", nargs="+", default=None, metavar="S",
        help="subjects to measure (default: the test subjects S9 S11; choose settings on S8, never on them)",
    )  # fmt: skip
    p.add_argument("--json", default=None, metavar="OUT", help="also write the results to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace the --json file if it exists")

    p = sub.add_parser(
        "train",
        help="train a lifter from a YAML recipe (needs the train extra: pip install '.[train]')",
        formatter_class=fmt,
        description=(
            "Train a lifter as described by RECIPE.yaml (see training/recipes/). Checkpoints, logs and\n"
            "the exported models (RUN_DIR/final and RUN_DIR/best) go to the run folder; an interrupted\n"
            "run resumes from its last checkpoint unless --no-resume is given."
        ),
        epilog="example: poselift train training/recipes/h36m17_adv_ss.yaml --set steps=200 --set data.stride=8",
    )
    p.add_argument("recipe", metavar="RECIPE.yaml", help="training recipe")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe entry, e.g. --set steps=100 --set lifter.width=256 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--run-dir", default=None, metavar="DIR",
        help="run folder (default: runs/<name>, the recipe's name or else its file name)",
    )  # fmt: skip
    p.add_argument(
        "--no-resume", action="store_true",
        help="start from scratch: an earlier run's checkpoints, log, best/ and final/ in the run folder are removed",
    )  # fmt: skip

    p = sub.add_parser(
        "finetune",
        help="fine-tune a lifter on your own unlabelled 2D keypoints (needs the train extra: pip install '.[train]')",
        formatter_class=fmt,
        description=(
            "Fine-tune BASE on the complete poses of KEYPOINTS (anything `poselift lift` reads, e.g. the\n"
            "keypoints/ folder `poselift video` writes), without 3D: random-view self-consistency, left/right\n"
            "symmetry and an anchor to BASE's own lifts. A share of the poses is held out and the checkpoint\n"
            "with the lowest self-consistency error on it is kept as OUT/best; OUT also holds checkpoints\n"
            "(an interrupted run resumes), the log and OUT/final."
        ),
        epilog="example: poselift finetune poselift/h36m-17 dance/keypoints -o runs/my-lifter",
    )
    p.add_argument("base", metavar="BASE", help="lifter to start from (released name or model folder)")
    p.add_argument("keypoints", metavar="KEYPOINTS", help="keypoint file or folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="run folder (the model is OUT/best)")
    p.add_argument("--layout", default=None, help="layout of the keypoints when the file does not say")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="N", help="training steps (default 1200)")
    p.add_argument(
        "--holdout", type=float, default=0.1, metavar="SHARE",
        help="share of the poses held out to choose the checkpoint (default 0.1)",
    )  # fmt: skip
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a fine-tuning setting, e.g. --set lr=1e-4 --set loss.anchor=2 (repeatable)",
    )  # fmt: skip
    p.add_argument("--no-resume", action="store_true", help="start from scratch even if OUT has checkpoints")

    p = sub.add_parser(
        "export",
        help="export a model to ONNX (needs the onnx extra: pip install '.[onnx]')",
        description="Export the whole lift (normalisation, network, metric scaling) of MODEL to one ONNX file "
        "with a dynamic batch size, for onnxruntime or other ONNX runtimes.",
        epilog="example: poselift export poselift/h36m-17 --onnx h36m-17.onnx",
    )
    p.add_argument("model", metavar="MODEL", help="folder from save_pretrained() or a hub name")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="output ONNX file")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.onnx if it exists")
    return parser


def _add_smooth_arguments(p: argparse.ArgumentParser, fps_help: str) -> None:
    p.add_argument(
        "--smooth", nargs="?", const="offline", default=None, choices=("offline", "causal"),
        help="smooth each person over the frames: offline = One-Euro forward and backward, no lag (the default "
        "of a bare --smooth); causal = One-Euro forward only, as live. Bones then keep their median length",
    )  # fmt: skip
    p.add_argument("--fps", type=_positive_float, default=None, metavar="FPS", help=f"frame rate of the input {fps_help}")


def _parse_camera(text: str | None) -> Any:
    """``--camera``: numbers ``f,cx,cy`` or ``fx,fy,cx,cy``, or a JSON file of intrinsics."""
    if text is None:
        return None
    from .camera import Camera, CameraError

    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        from ._files import read_capped

        try:
            spec = json.loads(read_capped(path, 1 << 20).decode("utf-8"))  # a regular file of at most 1 MB
        except (OSError, ValueError) as e:
            raise CameraError(f"cannot read the camera file {path}: {e}") from None
        if not isinstance(spec, dict):
            raise CameraError(f"the camera file {path} must hold a JSON object of intrinsics.")
        try:
            return Camera.from_dict(spec)
        except CameraError as e:
            raise CameraError(f"{path}: {e}") from None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 3:
        return Camera(values[0], values[0], values[1], values[2])
    if len(values) == 4:
        return Camera(*values)
    raise CameraError(f"--camera must be F,CX,CY or FX,FY,CX,CY in pixels, or a .json file; got {text!r}.")


def _sequence_people(
    lifter: Any, kp: np.ndarray, conf: np.ndarray, people: np.ndarray, lifted: np.ndarray, args: argparse.Namespace, fps: float
) -> np.ndarray:
    """Each person slot of ``(frames, people, N, 2)`` lifted as one clip; NaN where not lifted."""
    F, P, M = conf.shape
    out = np.full((F, P, M, 3), np.nan, dtype=np.float32)
    for p in range(P):
        if not lifted[:, p].any():
            continue
        rows = people[:, p]
        clip = lifter.lift_sequence(
            np.where(rows[:, None, None], kp[:, p], 0.0), np.where(rows[:, None], conf[:, p], 0.0), fps=fps,
            causal=args.sequence == "causal", height=args.height, on_unliftable="nan",
        )  # fmt: skip
        out[:, p] = np.where(lifted[:, p, None, None], clip.poses, np.nan)
    return out


def _smooth_people(poses: np.ndarray, lifted: np.ndarray, skeleton: Any, fps: float, mode: str) -> np.ndarray:
    """Smooth each person slot of ``(frames, people, N, 3)`` over the frames (NaN where not lifted)."""
    from .smooth import smooth_poses

    out = poses.copy()
    for p in range(poses.shape[1]):
        if lifted[:, p].sum() < 2:
            continue
        seq = np.where(lifted[:, p, None, None], poses[:, p], np.nan)
        out[:, p] = np.where(lifted[:, p, None, None], smooth_poses(seq, skeleton, fps, mode=mode), poses[:, p])
    return out


def _cmd_video(args: argparse.Namespace) -> int:
    from .video import lift_video

    camera = _parse_camera(args.camera)
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


# --------------------------------------------------------------------------- lift
def _input_layout(data: Any, requested: str, model_layout: str) -> str | None:
    """The layout of the read keypoints: requested, detected, or the model's for an ambiguous count."""
    from .skeleton import canonical_layout, guess_layouts

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
    raise PoseliftError(
        f"{data.num_joints} joints could be {' or '.join(candidates)}; pass --layout to say which"
    )


def _check_output(output: str, inputs: Sequence[str], overwrite: bool, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output path that is an input, an existing file (without ``--overwrite``) or of the wrong type."""
    out = Path(output)
    for given in inputs:
        if given and out.resolve() == Path(given).resolve():
            raise PoseliftError(f"output {out} is the input file: write the result to another file")
    if suffixes and out.suffix.lower() not in suffixes:
        raise PoseliftError(f"output file {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise PoseliftError(f"output {out.resolve()} is a folder: give a file name")
    if out.exists() and not overwrite:
        raise PoseliftError(f"output {out.resolve()} exists: pass --overwrite to replace it, or choose another name")
    return out


def _cmd_lift(args: argparse.Namespace) -> int:
    from .adapt import adapt_layout
    from .io import read_keypoints, write_poses
    from .lifter import Lifter

    _check_output(args.output, [args.input], args.overwrite, (".json", ".npz"))
    if args.plot:
        from .viz import PLOT_SUFFIXES

        _check_output(args.plot, [args.input, args.output], args.overwrite, PLOT_SUFFIXES)
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
    missing = (conf < threshold) & people[..., None]

    # Which poses can be lifted is the library's rule: lift(..., on_unliftable="nan").
    poses = np.full((F, P, M, 3), np.nan, dtype=np.float32)
    filled = np.zeros((F, P, M), dtype=bool)
    lifted = np.zeros((F, P), dtype=bool)
    reason = np.full((F, P), "", dtype=object)
    if people.any():
        result = lifter.lift(kp[people], conf[people], height=args.height, on_unliftable="nan")
        poses[people], filled[people], lifted[people] = result.poses, result.filled, result.lifted
        reason[people] = result.reason
    fps, fps_from = (args.fps, "--fps") if args.fps else ((data.fps, "recorded in the keypoints") if data.fps else (30.0, "assumed"))
    if args.sequence and args.smooth:
        raise PoseliftError("--sequence and --smooth are alternatives: pass one of them")
    if args.sequence:
        poses = _sequence_people(lifter, kp, conf, people, lifted, args, fps)
    if args.smooth:
        poses = _smooth_people(poses, lifted, target, fps, args.smooth)
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
    out = write_poses(
        args.output, poses, skeleton=target, frames=data.frames, num_people=data.num_people,
        lifted=lifted, missing=missing, filled=filled, metadata=metadata, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"wrote:   {out}")

    if args.plot:
        from .viz import save_pose_plot

        f, p = (int(i) for i in np.argwhere(lifted)[0])
        if layout is not None and layout != target.name:  # draw the 2D input as it came, in its own layout
            kp2d = np.concatenate([data.keypoints[f, p], data.confidence[f, p, :, None]], axis=-1)
            layout2d = layout
        else:
            kp2d, layout2d = np.concatenate([kp[f, p], conf[f, p, :, None]], axis=-1), target.name
        png = save_pose_plot(
            poses[f, p], target, args.plot, keypoints2d=kp2d, skeleton2d=layout2d,
            title=f"{Path(args.input).name}: frame {data.frames[f]}, person {p}",
        )  # fmt: skip
        print(f"plot:    {png}")
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


# --------------------------------------------------------------------------- other commands
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    paths = run_demo(args.output_dir, model=args.model, overwrite=args.overwrite)
    print(f"demo outputs in {Path(args.output_dir).resolve()}:")
    for key, path in paths.items():
        print(f"  {key:>4}: {path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.evaluate import evaluate_poses, format_table
    from .evaluation.h36m import TEST_SUBJECTS, load_h36m
    from .lifter import Lifter

    if args.json:
        _check_output(args.json, [], args.overwrite, (".json",))
    if args.sequence and args.smooth:
        raise PoseliftError("--sequence and --smooth are alternatives: pass one of them")
    cmu = args.cmu is not None or args.inputs == "noisy"
    if cmu and args.cmu is None:
        raise InvalidArgumentError("--inputs noisy applies to the CMU clips: add --cmu DIR")
    if cmu and (args.inputs == "detected" or args.correction):
        raise InvalidArgumentError("the CMU clips have no detections: use --inputs gt or --inputs noisy")
    lifter = Lifter.from_pretrained(args.model)
    skeleton = lifter.config.skeleton
    if cmu:
        from .evaluation.cmu import load_cmu

        if skeleton != "h36m17":
            raise InvalidArgumentError(f"the CMU evaluation is in the h36m17 layout; this model lifts {skeleton!r}")
        clips = args.clips if args.clips in ("test", "val", "all") else [c.strip() for c in args.clips.split(",") if c.strip()]
        stride = args.stride or 4
        poses = load_cmu(args.cmu, clips, inputs=args.inputs, stride=stride)
        fps = 120.0 / stride  # load_cmu samples every clip at 120 / stride fps
        title = f"{args.model} on CMU clips ({args.clips}), {args.inputs} 2D, 4 virtual cameras per clip, every {stride} frame(s); mm"
        record = {"model": str(args.model), "data": "cmu", "inputs": args.inputs, "clips": args.clips, "stride": stride}
    else:
        correction = None
        if args.correction:
            from .correction import load_correction

            if args.inputs != "detected":
                raise PoseliftError("--correction applies to detections: add --inputs detected")
            correction = load_correction("mpii16", skeleton)
            if correction is None:
                raise PoseliftError(f"poselift ships no learned MPII-16 correction for the {skeleton!r} layout; drop --correction")
        subjects = list(args.subjects or TEST_SUBJECTS)
        stride = args.stride or 1
        poses = load_h36m(args.h36m, subjects, inputs=args.inputs, stride=stride, skeleton=skeleton)
        if correction is not None:
            poses.kp2d = correction.correct_complete(poses.kp2d)
        fps = 50.0 / stride
        what = f"{args.inputs} 2D" + (" + learned correction" if correction is not None else "")
        if args.sequence:
            what += f", lift_sequence ({args.sequence})"
        elif args.smooth:
            what += f", per frame + One-Euro {args.smooth} + median bones"
        title = f"{args.model} on Human3.6M {'+'.join(subjects)}, {what}, all cameras, every {stride} frame(s); mm (Accel: mm/frame^2)"
        record = {"model": str(args.model), "inputs": args.inputs, "correction": correction is not None,
                  "stride": stride, "subjects": subjects}  # fmt: skip
    result = evaluate_poses(lifter, poses, sequence=args.sequence, smooth=args.smooth, fps=fps)
    print(title)
    table = format_table(result)
    print(table.replace("action  ", "clip    ") if cmu else table)
    if args.json:
        from ._files import atomic_path

        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        record.update({"sequence": args.sequence, "smooth": args.smooth, **result})
        with atomic_path(out, replace=args.overwrite) as tmp:  # FileExistsError if written meanwhile
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.config import load_recipe
    from .training.run import train

    recipe = Path(args.recipe)
    config = load_recipe(recipe, args.overrides)
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
    else:
        name = config.name if config.name != type(config).model_fields["name"].default else recipe.stem
        run_dir = Path("runs") / name
    print(f"training {config.name!r} in {run_dir}")
    train(config, run_dir, resume=not args.no_resume)
    written = [str(run_dir / n) for n in ("final", "best") if (run_dir / n / "config.json").is_file()]
    print(f"done: models in {' and '.join(written)}" if written else f"done: no model folder written in {run_dir}")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from .training.config import apply_overrides
    from .training.finetune import finetune

    overrides = apply_overrides({}, args.overrides)
    if args.steps is not None:
        overrides["steps"] = args.steps
    print(f"fine-tuning {args.base} on {args.keypoints} in {args.output}")
    best = finetune(args.base, args.keypoints, args.output, layout=args.layout, holdout=args.holdout,
                    overrides=overrides, resume=not args.no_resume)
    print(f"done: the model is {best} (Lifter.from_pretrained({str(best)!r}))")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .lifter import Lifter

    from ._files import atomic_path

    path = _check_output(args.onnx, [], args.overwrite, (".onnx",))
    lifter = Lifter.from_pretrained(args.model, backend="torch")
    with atomic_path(path, replace=args.overwrite) as tmp:  # FileExistsError if written meanwhile
        lifter.export_onnx(tmp, opset=args.opset)
    print(f"wrote {path}")
    return 0


_COMMANDS = {
    "lift": _cmd_lift,
    "video": _cmd_video,
    "demo": _cmd_demo,
    "evaluate": _cmd_evaluate,
    "train": _cmd_train,
    "finetune": _cmd_finetune,
    "export": _cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``poselift`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2

    # Library messages go to stderr for this call only; nothing global is left behind.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_logger = logging.getLogger("poselift")
    old_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return _COMMANDS[args.command](args)
    except OutputExistsError as e:  # the library names overwrite=True; here it is an option
        print(f"poselift {args.command}: error: {e.with_option('--overwrite')}", file=sys.stderr)
        return 2
    except (PoseliftError, OSError) as e:
        print(f"poselift {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:  # an optional part that is not installed
        print(f"poselift {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"poselift {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(old_level)


if __name__ == "__main__":
    raise SystemExit(main())
