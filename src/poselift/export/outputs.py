"""The output folder of :func:`poselift.video.lift_video`: refused before any work when it
cannot be written or holds outputs (:func:`check_output_dir`), then written all or nothing
(:func:`write_outputs`): every output goes into a staging folder first and is moved into place
only when all are complete, under the folder's lock."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import FolderBusyError, check_writable, folder_lock, foreign_entries, install_dir, install_file
from ..errors import OutputConflictError, OutputExistsError, OutputPathError
from ..frames import FrameSource
from .openpose import KEYPOINT_FILES, write_keypoints
from .poses import write_poses
from .render import PICTURE_FILES, write_animation, write_pictures

if TYPE_CHECKING:
    from ..camera import Camera

__all__ = ["STAGE_PREFIX", "check_output_dir", "write_outputs"]

logger = logging.getLogger(__name__)

#: The output folders, each with the glob of the files poselift writes in it.
_OUTPUT_FOLDERS = {"keypoints": KEYPOINT_FILES, "pictures": PICTURE_FILES}

#: Name prefix of the staging folder a ``video`` run writes its outputs into first.
STAGE_PREFIX = ".poselift-video-"


def _remove_stale_temporaries(out: Path, animation: str | None) -> None:
    """Remove what a killed run left in ``out`` (its staging folder, temporary files of its
    outputs); called holding the folder's lock, so no live run is writing them."""
    names = sorted(set(_output_names(animation) + ["animation.mp4", "animation.gif", "pictures"]))
    rand = r"[a-z0-9_]{8}"  # tempfile's random part
    ours = re.compile(
        rf"^(?:{re.escape(STAGE_PREFIX)}{rand}"
        + "".join(rf"|\.{re.escape(n)}\.(?:old\.)?{rand}(?:\.tmp{re.escape(Path(n).suffix)})?" for n in names)
        + ")$"
    )  # exactly the names atomic_path, atomic_dir and the staging folder give their temporaries
    for entry in out.iterdir():
        if ours.match(entry.name) and not entry.is_symlink():
            logger.warning("removing %s, left by an interrupted run", entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _output_names(animation: str | None, sequence: bool | None = True) -> list[str]:
    """The outputs of a run: an animation for a sequence, a folder of pictures for photos
    (neither while ``sequence`` is not known: ``None``)."""
    names = ["keypoints", "poses3d.json", "poses3d.npz", "motion.bvh"]
    if animation and sequence is not None:
        names.append(f"animation.{animation}" if sequence else "pictures")
    return names


#: Every name a run may write in its output folder: only these, recorded by an earlier run, are
#: ever removed on overwrite.
_OUTPUT_NAME = re.compile(r"keypoints|pictures|poses3d\.(?:json|npz)|motion(?:_\d+)?\.bvh|animation\.(?:mp4|gif)")


def _written_before(out: Path) -> list[str]:
    """The outputs an earlier run recorded in ``out/poses3d.json``: its metadata ``outputs``
    (``bvh_files`` for a folder written by an earlier version, which recorded only those), in
    the order recorded; only poselift's own output names are taken."""
    try:
        meta = json.loads((out / "poses3d.json").read_text())["metadata"]
        recorded = meta["outputs"] if "outputs" in meta else meta["bvh_files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(recorded, list):
        return []
    return list(dict.fromkeys(n for n in recorded if isinstance(n, str) and _OUTPUT_NAME.fullmatch(n)))


def _earlier_outputs(out: Path) -> list[str]:
    """The outputs an earlier run recorded in ``out`` that are still there: on overwrite, those
    this run does not write are removed, so no earlier output stays beside this run's. Only a
    file, or a folder for ``keypoints`` and ``pictures``: a link or an entry of another kind is
    not poselift's and stays."""
    return [
        n for n in _written_before(out)
        if not (out / n).is_symlink() and ((out / n).is_dir() if n in _OUTPUT_FOLDERS else (out / n).is_file())
    ]  # fmt: skip


def check_output_dir(source: Any, out: Path, animation: str | None, overwrite: bool, sequence: bool | None = True) -> None:
    """Refuse, before any work, an input inside an output path, existing outputs without
    ``overwrite``, and a ``keypoints`` or ``pictures`` folder holding files poselift did not write.
    ``sequence=None`` (not known yet: the frames are not opened) checks the outputs every run
    writes; called again once it is known."""
    names = _output_names(animation, sequence)
    check_writable(out)
    if isinstance(source, (str, os.PathLike)):
        src = Path(source).resolve()
        for name in names:
            target = (out / name).resolve()
            if src == target or target in src.parents:
                raise OutputConflictError(
                    f"the input {src} lies inside the output {target} that this run writes: "
                    "choose another output folder."
                )
    taken = [n for n in names if (out / n).exists() or (out / n).is_symlink()]
    taken += [n for n in _earlier_outputs(out) if n not in taken]
    if out.is_dir():  # a motion_<id>.bvh this run may write (ids are known only after the work)
        taken += sorted(p.name for p in out.iterdir() if re.fullmatch(r"motion_\d+\.bvh", p.name) and p.name not in taken)
    if taken and not overwrite:
        raise OutputExistsError(f"{out.resolve()} already holds {', '.join(taken)}", option="overwrite=True")
    wrong = [n for n in taken if (out / n).is_dir() != (n in _OUTPUT_FOLDERS) or (out / n).is_symlink()]
    if wrong:
        raise OutputConflictError(
            f"{out.resolve()} holds {', '.join(wrong)} of another kind than poselift writes there (a folder for a "
            "file, a file or link for the keypoints or pictures folder): move it away or choose another output folder."
        )
    for name, own in _OUTPUT_FOLDERS.items():
        folder = out / name
        if name in taken:
            foreign = foreign_entries(folder, own) if folder.is_dir() and not folder.is_symlink() else [name]
            if foreign:
                raise OutputConflictError(
                    f"{folder.resolve()} holds files poselift does not write ({', '.join(foreign[:5])}): "
                    "--overwrite replaces only poselift's own outputs; move them away or choose another output folder."
                )


def write_outputs(
    result: Any, source: FrameSource, out: Path, *, animation: str | None, bvh: bool, height: float | None, lifter: Any,
    overwrite: bool,
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create the output folder {out}: {e.strerror or e}") from e
    try:
        with folder_lock(out):  # one run writes here at a time; outputs that appeared meanwhile are refused
            check_output_dir(None, out, animation, overwrite, result.sequence)
            _remove_stale_temporaries(out, animation)
            # every output is written into a staging folder first and moved into place only when
            # all are complete: a failure or Ctrl-C leaves no partial set of outputs
            earlier = _earlier_outputs(out)  # read before this run's poses3d.json replaces the record
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
            try:
                _write_files(result, source, stage, animation=animation, bvh=bvh, height=height, lifter=lifter)
                _install_outputs(result.outputs, out, overwrite)
                mine = {Path(path).name for path in result.outputs.values()}
                for name in earlier:  # an earlier run's outputs (overwrite) that this run did not write
                    if name not in mine:
                        _remove_output(out / name)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except (OutputExistsError, OutputConflictError):
        raise
    except FolderBusyError as e:  # another run holds the folder's lock
        raise OutputConflictError(f"{e}: nothing was written to {out.resolve()}; run again when it is done.") from e
    except FileExistsError as e:  # an output written meanwhile by something that does not take the lock
        raise OutputExistsError(f"{e}; this run's outputs were taken back", option="overwrite=True") from e
    logger.info("wrote %d frames to %s", len(result.frames), out)


def _remove_output(path: Path) -> None:
    """Remove an earlier run's output; a folder only with the files poselift writes there
    (:func:`check_output_dir` refused any other under the folder's lock)."""
    if path.is_symlink() or not path.exists():
        return
    if not path.is_dir():
        path.unlink()
        return
    own = _OUTPUT_FOLDERS.get(path.name)
    if own is None or foreign_entries(path, own):
        logger.warning("left %s: it holds files poselift did not write", path)
        return
    for entry in path.iterdir():
        entry.unlink()
    path.rmdir()


def _install_outputs(outputs: dict[str, Path], out: Path, overwrite: bool) -> None:
    """Move the staged ``outputs`` into ``out`` (updating their paths). The folders go first:
    with ``overwrite`` only they can still be refused (files appeared in them meanwhile); on
    any refusal the outputs this run had newly created are removed again, so no partial set
    stays."""
    created: list[Path] = []
    try:
        for key in sorted(outputs, key=lambda k: k not in _OUTPUT_FOLDERS):
            final = out / Path(outputs[key]).name
            new = not (final.exists() or final.is_symlink())
            if key in _OUTPUT_FOLDERS:
                install_dir(outputs[key], final, overwrite, _OUTPUT_FOLDERS[key])
            else:
                install_file(outputs[key], final, overwrite)
            if new:
                created.append(final)
            outputs[key] = final
    except FileExistsError:
        for final in created:  # this run's own, just created: nothing else is deleted
            if final.is_dir():
                shutil.rmtree(final, ignore_errors=True)
            else:
                final.unlink(missing_ok=True)
        raise


def _write_files(
    result: Any, source: FrameSource, out: Path, *, animation: str | None, bvh: bool, height: float | None, lifter: Any
) -> None:
    """Every output into ``out``, a fresh staging folder (nothing there to replace or refuse)."""
    skel = result.skeleton
    result.outputs["keypoints"] = write_keypoints(
        out / "keypoints", result.frames, result.people, result.detections, result.found, result.fps
    )
    root = skel.root_point(result.poses)
    rel = result.poses - root[:, :, None, :]
    people = {str(t.id): {"first": result.frames[t.first], "last": result.frames[t.last], "frames": len(t.frames)} for t in result.tracks}
    order = _bvh_order(result) if bvh and result.sequence and result.world is not None else []
    bvh_names = {p: "motion.bvh" if i == 0 else f"motion_{result.people[p]}.bvh" for i, p in enumerate(order)}
    metadata = {
        "input": source.label,
        "detector": "mediapipe pose (mediapipe33 landmarks)",
        "fps": result.fps,
        "height_m": height if height is not None else lifter.config.height,
        "people": result.people,  # the person axis: ids
        "main_person": result.main,
        "people_found": people,
        "frames_without_person": [result.frames[i] for i in np.flatnonzero(~result.found.any(axis=1))],
        "frames_without_person_by_id": {str(pid): [result.frames[i] for i in np.flatnonzero(~result.found[:, p])] for p, pid in enumerate(result.people)},
        "frames_refused": {f"{result.frames[f]} person {result.people[p]}": msg for (f, p), msg in result.refused.items()},
        "frames_sides_swapped_back": {str(pid): [result.frames[i] for i in np.flatnonzero(result.swapped[:, p])] for p, pid in enumerate(result.people)},
        "frames_limb_mended": {str(pid): [result.frames[i] for i in np.flatnonzero(result.mended[:, p])] for p, pid in enumerate(result.people)},
        "cameras": [c.to_dict() for c in _unique(result.cameras)],
        "bvh_files": list(bvh_names.values()),  # as earlier versions recorded them (they read only these)
        "outputs": _written_names(bvh_names, animation, result.sequence),  # what a later run with overwrite may remove
    }  # fmt: skip
    if source.skipped:
        metadata["unreadable_files"] = dict(source.skipped)
    P = len(result.people)  # slots after a frame's last person found are padding, not written
    last_found = np.where(result.found.any(axis=1), P - np.argmax(result.found[:, ::-1], axis=1), 0) if P else np.zeros(len(result.frames), int)
    for suffix in ("json", "npz"):  # write_poses writes to a temporary file and renames it
        result.outputs[suffix] = write_poses(
            out / f"poses3d.{suffix}", rel, skeleton=skel, frames=result.frames, num_people=last_found,
            lifted=result.lifted, translation=np.where(result.lifted[..., None], root, 0.0), metadata=metadata,
        )  # fmt: skip
    if bvh_names:
        from .bvh import write_bvh

        for p, name in bvh_names.items():
            path, _ = write_bvh(out / name, result.world[:, p], skel, result.fps, axes="yup")
            result.outputs["bvh" if name == "motion.bvh" else f"bvh {result.people[p]}"] = path
    if animation is not None and result.sequence:
        result.outputs["animation"] = write_animation(result, source, out / f"animation.{animation}")
    elif animation is not None:
        result.outputs["pictures"] = write_pictures(result, source, out / "pictures")


def _written_names(bvh_names: dict[int, str], animation: str | None, sequence: bool) -> list[str]:
    """The names :func:`_write_files` writes in the output folder, in the order it writes them."""
    names = ["keypoints", "poses3d.json", "poses3d.npz", *bvh_names.values()]
    if animation is not None:
        names.append(f"animation.{animation}" if sequence else "pictures")
    return names


def _bvh_order(result: Any) -> list[int]:
    """Person slots with a lifted frame, the main person first (``motion.bvh``)."""
    slots = [p for p in range(len(result.people)) if result.lifted[:, p].any()]
    return sorted(slots, key=lambda p: result.people[p] != result.main)


def _unique(cams: list[Camera]) -> list[Camera]:
    return list(dict.fromkeys(cams))  # cameras are frozen dataclasses: hashable, first-seen order kept
