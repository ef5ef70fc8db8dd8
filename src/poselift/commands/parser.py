"""The ``poselift`` command's argument parser: every subcommand, its options and their help."""

from __future__ import annotations

import argparse

from .._version import __version__
from ..skeleton import LAYOUT_ALIASES, SKELETONS
from ..weights import DEFAULT_MODEL

__all__ = ["build_parser"]

_LAYOUT_CHOICES = ("auto", *SKELETONS, *LAYOUT_ALIASES)  # every built-in layout and its short names


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
        help="detect, track, lift and export the people of a video, an image or a folder of images (needs the video extra: pip install '.[video]')",
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
        "export-onnx",
        aliases=["export"],  # its former name, kept so scripts keep working
        help="export a model's lift to one ONNX graph (needs the onnx extra: pip install '.[onnx]')",
        description="Export the whole lift (normalisation, network, metric scaling) of MODEL to one ONNX file "
        "with a dynamic batch size, for onnxruntime or other ONNX runtimes.",
        epilog="example: poselift export-onnx poselift/h36m-17 --onnx h36m-17.onnx",
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
