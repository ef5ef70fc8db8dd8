"""A self-contained demo: lift the bundled OpenPose walking clip to 3D and draw it.

    >>> from poselift.demo import run_demo
    >>> paths = run_demo("poselift-demo")           # doctest: +SKIP
    >>> sorted(paths)                                # doctest: +SKIP
    ['gif', 'json', 'npz', 'png']

or from a shell: ``python -m poselift.demo [output_dir] [--model NAME_OR_PATH]``.

The sample (``poselift/samples/openpose_walk``) is 70 frames of OpenPose BODY_25 JSON
made from a CMU motion-capture walk (see ``poselift/samples/README.md``). Drawing needs
matplotlib (``pip install ".[viz]"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from importlib import resources
from pathlib import Path

import numpy as np

from ._files import atomic_path, check_writable
from .adapt import adapt_openpose
from .errors import InputFileError, InvalidArgumentError, KeypointValueError, OutputExistsError, OutputPathError, require
from .weights import DEFAULT_MODEL
from .io import read_keypoints, write_poses
from .lifter import Lifter

__all__ = ["run_demo", "sample_path", "SAMPLES"]

logger = logging.getLogger(__name__)

#: Samples shipped in the package: name -> description.
SAMPLES: dict[str, str] = {
    "openpose_walk": "70 frames (30 fps) of OpenPose BODY_25 JSON, one person walking; made from CMU mocap 02_01",
}


def sample_path(name: str = "openpose_walk") -> Path:
    """Folder of a bundled sample (see :data:`SAMPLES`)."""
    if name not in SAMPLES:
        raise InvalidArgumentError(f"unknown sample {name!r}; bundled samples are {sorted(SAMPLES)}")
    path = Path(str(resources.files("poselift") / "samples" / name))
    if not path.is_dir():
        raise FileNotFoundError(
            f"bundled sample folder {path} is missing; the poselift installation is incomplete: reinstall poselift"
        )
    return path


def _representative_frame(kp: np.ndarray, lifted: np.ndarray) -> int:
    """The lifted frame with the widest stride (ankle distance over torso length), for the still image."""
    neck, mid_hip, right_ankle, left_ankle = 1, 8, 11, 14  # BODY_25
    torso = np.linalg.norm(kp[:, neck, :2] - kp[:, mid_hip, :2], axis=-1)
    spread = np.linalg.norm(kp[:, left_ankle, :2] - kp[:, right_ankle, :2], axis=-1) / np.maximum(torso, 1e-6)
    spread[~lifted] = -1.0
    return int(np.argmax(spread))


#: The files :func:`run_demo` writes into its output folder.
DEMO_OUTPUTS = ("poses3d.json", "poses3d.npz", "skeleton.png", "skeleton.gif")


def run_demo(
    output_dir: str | os.PathLike = "poselift-demo", *, model: str | os.PathLike | None = None, overwrite: bool = False
) -> dict[str, Path]:
    """Lift the bundled OpenPose sample and write the results.

    Args:
        output_dir: folder for the outputs (created if needed).
        model: a lifter name or folder for :meth:`Lifter.from_pretrained`; ``None`` loads
            the default released weights (``poselift/h36m-17``).
        overwrite: replace outputs of an earlier demo in ``output_dir``; otherwise they
            raise :class:`~poselift.errors.OutputExistsError` before any work.

    Returns:
        ``{"json": poses3d.json, "npz": poses3d.npz, "png": skeleton.png, "gif": skeleton.gif}``:
        the lifted poses (metres, camera frame, root-relative) in both formats, a
        multi-view plot of one frame next to its 2D input, and a short animation.
    """
    from .viz import save_pose_animation, save_pose_plot

    require("matplotlib", "viz")  # the pictures need it: fail before the work, not after the poses
    out = Path(output_dir)
    taken = [name for name in DEMO_OUTPUTS if (out / name).exists()]
    if taken and not overwrite:
        raise OutputExistsError(f"{out.resolve()} already holds {', '.join(taken)}", option="overwrite=True")
    for name in DEMO_OUTPUTS:
        if (out / name).is_dir():
            raise OutputPathError(f"{out / name} is a folder, not a file poselift wrote: move it away or choose another output folder")
        check_writable(out / name)
    sample = sample_path("openpose_walk")
    data = read_keypoints(sample)
    if data.layout != "openpose_body25" or data.max_people < 1:
        raise InputFileError(f"bundled sample {sample} is not single-person OpenPose BODY_25 ({data!r})")
    kp25 = data.keypoints[:, 0]  # (frames, 25, 2): one person per frame
    conf25 = data.confidence[:, 0]

    lifter = Lifter.from_pretrained(DEFAULT_MODEL if model is None else model)
    adapted = adapt_openpose(kp25, layout="body25", confidence=conf25, target=lifter.config.skeleton)
    # The library's rule decides which frames can be lifted; the others stay gaps (NaN).
    result = lifter.lift(adapted, on_unliftable="nan")
    poses, lifted = result.poses, result.lifted
    if not lifted.any():
        raise KeypointValueError(f"no frame of {sample} could be lifted ({sorted(set(result.reason.tolist()))})")
    logger.info("lifted %d of %d frames of %s with %r", int(lifted.sum()), len(lifted), sample.name, lifter)

    meta = {"input": f"poselift sample {sample.name}", "model": str(DEFAULT_MODEL if model is None else model)}
    out.mkdir(parents=True, exist_ok=True)
    names = dict(zip(("json", "npz", "png", "gif"), DEMO_OUTPUTS))
    with contextlib.ExitStack() as staged:  # every file drawn to a temporary name, installed at the end: all or none
        tmp = {key: staged.enter_context(atomic_path(out / name, replace=overwrite)) for key, name in names.items()}
        for key in ("json", "npz"):
            write_poses(
                tmp[key], poses[:, None], skeleton=lifter.skeleton, frames=data.frames,
                lifted=lifted[:, None], metadata=meta, overwrite=True,
            )  # fmt: skip
        with_conf = np.concatenate([kp25, conf25[..., None]], axis=-1)
        t = _representative_frame(with_conf, lifted)
        save_pose_plot(
            poses, lifter.skeleton, tmp["png"], frame=t, keypoints2d=with_conf,
            skeleton2d="openpose_body25", title=f"poselift demo: OpenPose walk, frame {t + 1} of {len(poses)}",
        )  # fmt: skip
        # Animation: every second lifted frame at 15 fps (real time for the 30 fps clip).
        keep = np.flatnonzero(lifted)[::2]
        save_pose_animation(
            poses[keep], lifter.skeleton, tmp["gif"], fps=15, views=("front", "side"),
            keypoints2d=with_conf[keep], skeleton2d="openpose_body25", title="poselift demo", dpi=64,
        )  # fmt: skip
    paths = {key: out / name for key, name in names.items()}
    for key, path in paths.items():
        logger.info("demo %s: %s", key, path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m poselift.demo [output_dir] [--model NAME_OR_PATH]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m poselift.demo", description="Lift the bundled OpenPose sample.")
    parser.add_argument("output_dir", nargs="?", default="poselift-demo")
    parser.add_argument("--model", default=None, help=f"lifter name or folder (default {DEFAULT_MODEL})")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = run_demo(args.output_dir, model=args.model, overwrite=args.overwrite)
    for key, path in paths.items():
        print(f"{key:>4}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
