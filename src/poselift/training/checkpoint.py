"""Training checkpoints: a folder per step with safetensors tensors and a JSON skeleton of the state.

``run/checkpoints/step-00001000/`` holds ``state.safetensors`` (every tensor of the nested
training state: networks, optimisers, random generators), ``state.json`` (the rest of the
state, with references to those tensors) and the recipe as ``config.yaml``. A folder is
written by the package's one atomic folder write (:func:`poselift._files.atomic_dir`: a
hidden temporary folder renamed when complete), so a killed run never leaves a
half-written checkpoint under a final name; the two newest checkpoints are kept, so a
checkpoint damaged afterwards (a full disk, a copy cut short) falls back to the one before.
Every checkpoint carries its run's ``run_id`` (also in ``run/run.json``): a resume never loads
another run's checkpoint, and rotation never deletes one.
No pickle is read or written.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from .._files import atomic_dir
from ..weights import state_dict_mismatch
from ..errors import PoseliftError

__all__ = [
    "CheckpointError", "save_checkpoint", "load_checkpoint", "list_checkpoints", "load_latest", "compare_state_dicts", "run_id_of",
]

logger = logging.getLogger(__name__)

KEEP = 2


class CheckpointError(PoseliftError):
    """A checkpoint cannot be read, or does not fit the run that tries to resume from it."""


def _split_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Tensors of a nested state go to ``tensors``; the JSON-able rest is returned."""
    if torch.is_tensor(obj):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_split_state(k, f"{prefix}.k{i}", tensors), _split_state(v, f"{prefix}.{i}", tensors)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)], "tuple": isinstance(obj, tuple)}
    return obj


def _join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_join_state(k, tensors): _join_state(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join_state(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, newest first."""
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if not p.name.endswith(".tmp") and (p / "state.json").is_file()]
    return sorted(done, reverse=True)


def run_id_of(path: Path) -> str | None:
    """The ``run_id`` a checkpoint was saved with (``None``: saved before run ids, or unreadable)."""
    try:
        meta = json.loads((path / "state.json").read_text(encoding="utf-8"))
        return next((v for k, v in meta["__dict__"] if k == "run_id" and isinstance(v, str)), None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_checkpoint(root: Path, step: int, state: dict[str, Any], config_yaml: str) -> Path:
    """Write ``root/step-XXXXXXXX`` atomically and keep the newest :data:`KEEP` checkpoints of
    this run (``state["run_id"]``; checkpoints saved before run ids count as this run's)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    meta = _split_state(state, "s", tensors)
    final = root / f"step-{step:08d}"
    root.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final, replace=True) as tmp:  # a step written again (a resumed run) replaces its folder
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
        (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    run_id = state.get("run_id")
    older = [p for p in list_checkpoints(root) if p != final and run_id_of(p) in (run_id, None)]
    for old in older[KEEP - 1 :]:  # another run's checkpoints are never this run's to delete
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The nested state saved by :func:`save_checkpoint`; :class:`CheckpointError` if unreadable."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path / "state.safetensors"))
        meta = json.loads((path / "state.json").read_text(encoding="utf-8"))
        state = _join_state(meta, tensors)
    except Exception as e:  # truncated file, bad JSON, a tensor reference that is not there
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"checkpoint {path} holds no training state")
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0 or path.name != f"step-{step:08d}":
        raise CheckpointError(f"checkpoint {path} records step {json.dumps(step)[:40]}, not the step its name says")
    return state


def load_latest(root: Path, run_id: str | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint under ``root`` (falling back, with a warning, past damaged
    ones). With ``run_id``, checkpoints saved by another run are skipped with a warning, never
    loaded; checkpoints saved before run ids are taken as this run's."""
    for path in list_checkpoints(root):
        try:
            state = load_checkpoint(path)
        except CheckpointError as e:
            logger.warning("%s; falling back to the previous checkpoint", e)
            continue
        if run_id is not None and state.get("run_id") not in (run_id, None):
            logger.warning("checkpoint %s belongs to another run (%s, not %s): not resumed from", path, state["run_id"], run_id)
            continue
        return path, state
    return None


def compare_state_dicts(name: str, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` naming the keys and shapes in which a saved network differs."""
    mismatch = state_dict_mismatch(expected, found, ours="run", theirs="checkpoint")
    if mismatch:
        raise CheckpointError(
            f"the checkpoint's {name} does not fit this recipe's network ({mismatch}). "
            "Resume with the recipe the run started with (its config.yaml), or start a new run folder."
        )
