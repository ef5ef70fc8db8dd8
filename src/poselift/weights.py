"""Weights I/O for every network poselift ships: lifters (with their completion network) and
learned corrections.

One module for: resolving a name to a folder, the registry of weights bundled in the wheel,
reading ``config.json``, strict loading of ``model.safetensors`` into torch modules,
digests of the weights (which tie an ONNX graph to them), and writing a folder with its
model card. Only the functions that load into or save from torch modules import torch.

Resolution is deterministic (never a guess):

1. an existing directory loads from disk;
2. a released name bundled inside the package (and no ``revision``) loads from the wheel;
3. ``namespace/name`` or ``namespace/name@revision`` is a Hugging Face hub id, fetched with
   ``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE``, ``revision``, ``token``);
4. anything else is a path that does not exist: :class:`~poselift.errors.ModelNotFoundError`
   (a ``FileNotFoundError``) naming the absolute path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ModelNotFoundError, WeightsError

__all__ = [
    "DEFAULT_MODEL",
    "BUNDLED",
    "BUNDLED_CORRECTIONS",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "CARD_NAME",
    "ONNX_NAME",
    "COMPLETION_ONNX_NAME",
    "resolve_model",
    "parse_hub_id",
    "read_config",
    "read_state",
    "state_digest",
    "load_modules",
    "save_folder",
    "push_folder",
    "model_card",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
#: The exported graph of a folder's main network (lifter pipeline, or correction).
ONNX_NAME = "model.onnx"
#: The exported graph of a lifter's completion network.
COMPLETION_ONNX_NAME = "completion.onnx"

#: The model ``Lifter.from_pretrained()`` loads when given no name.
DEFAULT_MODEL = "poselift/h36m-17"

#: Released lifters shipped inside the wheel: hub id -> folder under ``poselift/weights``.
BUNDLED: dict[str, str] = {
    "poselift/h36m-17": "h36m-17",
    "poselift/h36m-14": "h36m-14",
}

#: Released learned corrections shipped inside the wheel: hub id -> folder.
BUNDLED_CORRECTIONS: dict[str, str] = {
    "poselift/mpii16-h36m17": "corrections/mpii16-h36m17",
}


def _bundled() -> dict[str, str]:
    """Every bundled name (lifters and corrections) -> its folder under ``poselift/weights``."""
    return {**BUNDLED, **BUNDLED_CORRECTIONS}

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")


def parse_hub_id(name: str) -> tuple[str, str | None] | None:
    """``"ns/name@rev"`` -> ``("ns/name", "rev")``; ``None`` if ``name`` is not a hub id."""
    m = _HUB_ID.match(name)
    if m is None:
        return None
    return m.group("repo"), m.group("rev")


def _bundled_dir(folder: str) -> Path:
    return Path(str(resources.files("poselift") / "weights" / folder))


def resolve_model(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``config.json`` and ``model.safetensors`` (and, where
    shipped, the ONNX graphs)."""
    text = os.fspath(name_or_path)
    local = Path(text).expanduser()
    if local.is_dir():
        return local
    if local.is_file():
        raise ModelNotFoundError(
            f"{local.resolve()} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    parsed = parse_hub_id(text) if isinstance(name_or_path, str) else None
    if parsed is None:
        raise ModelNotFoundError(
            f"no model folder at {local.resolve()}; pass an existing folder, a released name "
            f"such as {DEFAULT_MODEL!r}, or a hub id 'namespace/name[@revision]'"
        )
    repo_id, rev_in_name = parsed
    if rev_in_name and revision and rev_in_name != revision:
        raise ValueError(f"two revisions given: {rev_in_name!r} in the name and revision={revision!r}")
    revision = revision or rev_in_name
    if repo_id in _bundled() and revision is None:
        logger.debug("loading bundled weights %s", repo_id)
        return _bundled_dir(_bundled()[repo_id])
    return _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)


def _download(repo_id: str, *, revision, cache_dir, local_files_only, token) -> Path:
    from huggingface_hub import hf_hub_download

    def fetch(filename: str) -> Path:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
            )
        )

    try:
        config_path = fetch(CONFIG_NAME)
        weights_path = fetch(WEIGHTS_NAME)
    except Exception as e:  # huggingface_hub raises many types; all mean "not available here"
        where = f"{repo_id}@{revision}" if revision else repo_id
        offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
        hint = (
            "it is not in the local hub cache and downloads are off (offline mode): download it on a "
            f"connected machine with `hf download {repo_id}` (or one Lifter.from_pretrained call) and copy the cache, or pass a local folder"
            if offline
            else "check the name and revision, your network, or pass a local folder"
        )
        bundled = f" Bundled names (no network needed): {sorted(_bundled())}."
        raise ModelNotFoundError(f"could not get model {where!r} from the hub: {hint}.{bundled} ({type(e).__name__}: {e})") from e
    if config_path.parent != weights_path.parent:  # pragma: no cover - hub snapshots keep files together
        raise ModelNotFoundError(f"{repo_id}: config and weights resolved to different folders")
    for optional in (ONNX_NAME, COMPLETION_ONNX_NAME, CARD_NAME):
        try:
            fetch(optional)
        except Exception:  # not every repository has them; torch can export the graphs
            logger.debug("%s has no %s", repo_id, optional)
    return config_path.parent


# ---------------------------------------------------------------------------- reading
def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a model folder, with errors that say what is wrong."""
    path = Path(folder) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path.resolve()} is missing: a poselift model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); the download may be corrupt") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_state(folder: str | os.PathLike, prefix: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of ``model.safetensors`` as numpy arrays (no torch needed).

    With ``prefix``, only keys that start with it, with the prefix removed; ``prefix=""``
    keeps the keys that belong to no secondary network of the folder (no ``completion.`` key).
    """
    state = _load_file(Path(folder) / WEIGHTS_NAME, "numpy")
    if prefix is None:
        return state
    if prefix == "":
        return {k: v for k, v in state.items() if not k.startswith(_SUB_PREFIXES)}
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _load_file(path: Path, framework: str) -> dict[str, Any]:
    """Every tensor of a safetensors file, as numpy arrays or torch tensors."""
    if framework == "numpy":
        from safetensors.numpy import load_file
    else:
        from safetensors.torch import load_file
    if not path.is_file():
        raise WeightsError(f"{path} is missing: a model folder needs {WEIGHTS_NAME} next to {CONFIG_NAME}.")
    try:
        return load_file(str(path))
    except Exception as e:
        raise WeightsError(
            f"{path} cannot be read as safetensors ({e}); the file is corrupt or truncated: "
            "delete it and download or export it again."
        ) from None


#: Key prefixes of the secondary networks stored in a lifter's ``model.safetensors``.
_SUB_PREFIXES = ("completion.",)


def state_digest(state: Mapping[str, Any]) -> str:
    """SHA-256 over a state dict (names, shapes, float32 bytes), the same for numpy and torch.

    Floating-point tensors are hashed as float32, the precision the networks run in, so
    weights saved as float16 hash like the modules they load into.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        h.update(f"{name}|{arr.dtype.str}|{tuple(arr.shape)}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def load_modules(modules: Mapping[str, Any], folder: str | os.PathLike) -> None:
    """Load ``model.safetensors`` strictly into ``{key prefix: torch module}`` and set them to eval.

    Missing, unexpected or mis-shaped keys and non-finite values raise
    :class:`~poselift.errors.WeightsError` listing them; nothing falls back to random weights.
    """
    import torch

    path = Path(folder) / WEIGHTS_NAME
    state = _load_file(path, "torch")
    expected = {prefix + k: v for prefix, m in modules.items() for k, v in m.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if wrong:
            parts.append(
                "shape mismatch " + ", ".join(f"{k}: file {tuple(state[k].shape)} vs config {tuple(expected[k].shape)}" for k in wrong[:4])
            )
        raise WeightsError(f"{path} does not match its {CONFIG_NAME}: " + "; ".join(parts) + ". Re-export the model with save_pretrained().")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise WeightsError(f"{path}: tensor {k!r} holds NaN or infinite values; the weights are broken.")
    # longest prefix first, so "" (the main network) takes only what no other module claims
    for prefix, module in sorted(modules.items(), key=lambda kv: -len(kv[0])):
        own = {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
        module.load_state_dict(own, strict=True)
        module.eval()


# ---------------------------------------------------------------------------- writing
def save_folder(
    folder: str | os.PathLike,
    modules: Mapping[str, Any],
    config_json: str,
    card: str,
    *,
    dtype: Any = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``model.safetensors`` (the ``{key prefix: torch module}`` weights), ``config.json``
    and the model card ``README.md`` into ``folder``; returns the folder.

    ``dtype`` (e.g. ``torch.float16``) stores floating-point weights at that precision.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        prefix + k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
        for prefix, module in modules.items()
        for k, v in module.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", **(metadata or {})})
    (folder / CONFIG_NAME).write_text(config_json, encoding="utf-8")
    (folder / CARD_NAME).write_text(card, encoding="utf-8")
    return folder


def push_folder(save: Any, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str) -> str:
    """Create ``repo_id`` on the hub and upload what ``save(folder)`` writes; returns the commit URL."""
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(info)


def model_card(
    *, title: str, summary: str, usage: str, metadata: Mapping[str, Any], joint_names: list[str] | None = None
) -> str:
    """A model card (``README.md``): front matter, summary, usage, provenance from ``metadata``."""
    meta = dict(metadata)
    lines = [
        "---",
        "library_name: poselift",
        f"license: {meta.get('license', 'other')}",
        "tags: [3d-human-pose, pose-lifting, poselift]",
        "---",
        "",
        f"# {meta.get('name', title)}",
        "",
        summary,
        "",
        "```python",
        usage,
        "```",
        "",
    ]
    sections = (("training_data", "Training data"), ("source_data", "Source data"), ("target_data", "Target data"),
                ("data_terms", "Data terms"), ("recipe", "Recipe"), ("command", "Command"))
    for key, heading in sections:
        if key in meta:
            lines += [f"## {heading}", "", str(meta[key]), ""]
    results = meta.get("results")
    if isinstance(results, dict) and results:
        lines += ["## Measured accuracy", "", "| evaluation | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in results.items()]
        lines.append("")
    if joint_names:
        lines += ["## Joint order", "", ", ".join(f"{i} {n}" for i, n in enumerate(joint_names)), ""]
    return "\n".join(lines)
