"""Weights I/O for every network poselift ships: lifters (with their completion network) and
learned corrections.

One module for: resolving a name to a folder, the registry of weights bundled in the wheel,
reading ``config.json``, strict loading of ``model.safetensors`` into torch modules, and
digests of the weights (which tie an ONNX graph to them). Writing a folder, its model card
and publishing it are :mod:`poselift.pretrained`'s. Only the functions that load into or save from torch modules import torch.

Resolution is deterministic (never a guess):

1. an existing directory loads from disk;
2. a released name bundled inside the package (and no ``revision``) loads from the wheel;
3. ``namespace/name`` or ``namespace/name@revision`` is a Hugging Face hub id, fetched with
   ``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE``, ``revision``, ``token``);
4. anything else is a path that does not exist: :class:`~poselift.errors.ModelNotFoundError`
   (a ``FileNotFoundError``) naming the absolute path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from ._files import DIGEST_FIELD, GRAPHS_FIELD  # the folder's digests of its weights and ONNX graphs
from .errors import ConfigError, InvalidArgumentError, ModelNotFoundError, WeightsError

__all__ = [
    "DEFAULT_MODEL",
    "BUNDLED",
    "BUNDLED_CORRECTIONS",
    "RELEASED",
    "Release",
    "is_released",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "CARD_NAME",
    "ONNX_NAME",
    "COMPLETION_ONNX_NAME",
    "resolve_model",
    "parse_hub_id",
    "read_config",
    "read_state",
    "split_state",
    "DIGEST_FIELD",
    "pop_digest",
    "GRAPHS_FIELD",
    "graph_digests",
    "record_graph_digest",
    "verify_weights",
    "check_stored_size",
    "mlp_parameters_at_least",
    "state_digest",
    "load_modules",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
#: Largest config.json read (the released ones are about 2 KB).
MAX_CONFIG_BYTES = 1 << 20
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
#: The exported graph of a folder's main network (lifter pipeline, or correction).
ONNX_NAME = "model.onnx"
#: The exported graph of a lifter's completion network.
COMPLETION_ONNX_NAME = "completion.onnx"

#: The model ``Lifter.from_pretrained()`` loads when given no name.
DEFAULT_MODEL = "poselift/h36m-17"

class Release(NamedTuple):
    """A released model shipped inside the wheel: its folder under ``poselift/weights`` and its kind."""

    folder: str
    kind: Literal["lifter", "correction"]


#: The one registry of released models (hub id -> :class:`Release`); each also loads by
#: its hub id from the hub with a ``revision``.
RELEASED: dict[str, Release] = {
    "poselift/h36m-17": Release("h36m-17", "lifter"),
    "poselift/h36m-17-mono": Release("h36m-17-mono", "lifter"),
    "poselift/h36m-17-semi": Release("h36m-17-semi", "lifter"),
    "poselift/h36m-14": Release("h36m-14", "lifter"),
    "poselift/mpii16-h36m17": Release("corrections/mpii16-h36m17", "correction"),
}
#: Views of :data:`RELEASED` by kind (hub id -> folder), kept for code that imports them.
BUNDLED: dict[str, str] = {name: r.folder for name, r in RELEASED.items() if r.kind == "lifter"}
BUNDLED_CORRECTIONS: dict[str, str] = {name: r.folder for name, r in RELEASED.items() if r.kind == "correction"}


def is_released(name: str, kind: str | None = None) -> bool:
    """Whether ``name`` is a released model shipped in the wheel (of ``kind``, when given)."""
    release = RELEASED.get(name)
    return release is not None and (kind is None or release.kind == kind)


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
        raise InvalidArgumentError(f"two revisions given: {rev_in_name!r} in the name and revision={revision!r}")
    revision = revision or rev_in_name
    if repo_id in RELEASED and revision is None:
        logger.debug("loading bundled weights %s", repo_id)
        return _bundled_dir(RELEASED[repo_id].folder)
    near = _near_bundled(repo_id) if repo_id not in RELEASED else None
    if near is not None:  # a typo of a released name: answer now, unless the hub cache has it
        try:
            return _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True, token=token)
        except ModelNotFoundError:
            raise ModelNotFoundError(
                f"no released model {repo_id!r}: did you mean {near!r}? Released names (bundled, no network "
                f"needed): {sorted(RELEASED)}."
            ) from None
    if not local_files_only and not _offline():
        unreachable = _hub_unreachable()
        if unreachable is not None:  # no network: the local hub cache or a quick, clear error
            logger.info("the hub cannot be reached (%s); looking in the local hub cache only", unreachable)
            try:
                return _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=True, token=token)
            except ModelNotFoundError:
                raise ModelNotFoundError(
                    f"could not get model {repo_id!r}: the hub cannot be reached ({unreachable}) and it is not in "
                    f"the local hub cache. Connect, copy a hub cache from a connected machine, or pass a local "
                    f"folder. Bundled names (no network needed): {sorted(RELEASED)}."
                ) from None
    return _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)


def _near_bundled(repo_id: str) -> str | None:
    """The released name ``repo_id`` is probably a typo of (``poselift/h36m17`` -> ``poselift/h36m-17``)."""
    import difflib

    if not repo_id.lower().startswith("poselift/"):
        return None
    close = difflib.get_close_matches(repo_id.lower(), list(RELEASED), n=1, cutoff=0.75)
    return close[0] if close else None


def _offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it."""
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return True
    except ImportError:  # pragma: no cover - huggingface_hub is a core dependency
        pass
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub's host cannot be reached within ``timeout`` seconds (``None`` if it can).

    huggingface_hub retries a dead connection for about 25 s; one TCP connection answers in
    a few. Behind an HTTP proxy the direct connection says nothing, so nothing is checked.
    """
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
        return None
    try:
        from huggingface_hub import constants

        url = urlparse(constants.ENDPOINT)
    except Exception:  # pragma: no cover
        return None
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"
    return None


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
        offline = local_files_only or _offline()
        hint = (
            "it is not in the local hub cache and downloads are off (offline mode): download it on a "
            f"connected machine with `hf download {repo_id}` (or one Lifter.from_pretrained call) and copy the cache, or pass a local folder"
            if offline
            else "check the name and revision, your network, or pass a local folder"
        )
        bundled = f" Bundled names (no network needed): {sorted(RELEASED)}."
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
    from ._files import read_capped

    path = Path(folder) / CONFIG_NAME
    try:
        raw = read_capped(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path.resolve()} is missing: a poselift model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path.resolve()} is a folder; it must be the JSON file written by save_pretrained()") from None
    except ValueError as e:  # not a regular file (FIFO, device), or far too large
        raise ConfigError(f"{e}: a config.json is a small JSON file written by save_pretrained()") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, an integer of more than 4,300 digits
        raise ConfigError(f"{path}: not valid JSON ({type(e).__name__}: {e}); the download may be corrupt") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _is_sha256(value: Any) -> bool:
    """A SHA-256 hex digest as the folders record them (64 lowercase hexadecimal digits)."""
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _check_graph_digests(graphs: Any, source: str) -> dict[str, str]:
    if graphs is None:
        return {}
    if not isinstance(graphs, dict) or not all(
        isinstance(k, str) and _is_sha256(v) for k, v in graphs.items()
    ):
        raise ConfigError(
            f"{source}: {GRAPHS_FIELD} must map graph file names to 64 hexadecimal digits (SHA-256); "
            f"got {json.dumps(graphs)[:80]}"
        )
    return graphs


def graph_digests(folder: str | os.PathLike) -> dict[str, str]:
    """The graph digests a model folder's ``config.json`` records (``{}`` when none)."""
    return _check_graph_digests(read_config(folder).get(GRAPHS_FIELD), str(Path(folder) / CONFIG_NAME))


def record_graph_digest(graph: str | os.PathLike) -> None:
    """Record the SHA-256 of ``graph`` in the ``config.json`` beside it (written atomically)."""
    from ._files import atomic_path, file_sha256

    graph = Path(graph)
    data = read_config(graph.parent)
    data[GRAPHS_FIELD] = {**_check_graph_digests(data.get(GRAPHS_FIELD), str(graph.parent / CONFIG_NAME)), graph.name: file_sha256(graph)}
    with atomic_path(graph.parent / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def pop_digest(data: dict[str, Any], source: str) -> str | None:
    """Remove and return the weights digest of a config dict (``None`` when it has none); the
    graph digests (:data:`GRAPHS_FIELD`) are removed too, checked by the ONNX loader."""
    _check_graph_digests(data.pop(GRAPHS_FIELD, None), source)
    digest = data.pop(DIGEST_FIELD, None)
    if digest is not None and not _is_sha256(digest):
        raise ConfigError(f"{source}: {DIGEST_FIELD} must be 64 hexadecimal digits (a SHA-256); got {json.dumps(digest)[:80]}")
    return digest


def verify_weights(folder: str | os.PathLike, digest: str | None, found: str | None = None) -> None:
    """Raise :class:`~poselift.errors.WeightsError` unless ``model.safetensors`` has this digest.

    ``None`` (a config without a digest, e.g. a training checkpoint) checks nothing.
    ``found``: the file's :func:`state_digest` when the caller has already read it (the
    loaders return it), so the file is not read and hashed again.
    """
    if digest is None:
        return
    path = Path(folder) / WEIGHTS_NAME
    if found is None:
        found = state_digest(_load_file(path, "numpy"))
    if found != digest:
        raise WeightsError(
            f"{path} does not match the {DIGEST_FIELD} in its {CONFIG_NAME} (expected {digest[:12]}..., "
            f"found {found[:12]}...): the file is corrupt or was modified. Delete the folder and download "
            "or save it again."
        )


def _header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the header of a safetensors file, without reading the data."""
    from safetensors import safe_open

    with _reading(path):
        with safe_open(str(path), framework="numpy") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def mlp_parameters_at_least(inputs: int, width: int, blocks: int) -> int:
    """A lower bound of the weights of a :class:`~poselift.nets.ResidualMLP` (``in -> width``,
    ``blocks`` blocks of two ``width x width`` layers), computable without building it."""
    return inputs * width + blocks * 2 * width * width


def check_stored_size(folder: str | os.PathLike, at_least: int, what: str) -> None:
    """Refuse a config that describes a network far larger than the weights stored for it.

    ``at_least``: a lower bound of the parameter count the config implies. Checked on the
    safetensors header before any network is built, so ``width: 200000`` fails at once
    instead of allocating tens of GB.
    """
    path = Path(folder) / WEIGHTS_NAME
    stored = sum(int(np.prod(s, dtype=np.int64)) for s in _header_shapes(path).values())
    if at_least > 2 * stored + 1_000_000:
        raise WeightsError(
            f"{path} holds {stored:,} numbers but its {CONFIG_NAME} describes a {what} of at least "
            f"{at_least:,} parameters: the config does not belong to these weights (edited width or blocks?). "
            "Re-export the model with save_pretrained()."
        )


def read_state(folder: str | os.PathLike, prefix: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of ``model.safetensors`` as numpy arrays (no torch needed).

    With ``prefix``, only keys that start with it, with the prefix removed; ``prefix=""``
    keeps the keys that belong to no secondary network of the folder (no ``completion.`` key).
    """
    return split_state(_load_file(Path(folder) / WEIGHTS_NAME, "numpy"), prefix)


def split_state(state: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    """The part of a folder's state that :func:`read_state` returns for ``prefix``."""
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
    with _reading(path):
        return load_file(str(path))


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Around reading the safetensors file ``path``: a missing or unreadable file raises :class:`~poselift.errors.WeightsError`."""
    if not path.is_file():
        raise WeightsError(f"{path} is missing: a model folder needs {WEIGHTS_NAME} next to {CONFIG_NAME}.")
    try:
        yield
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


def state_dict_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any], *, ours: str, theirs: str) -> str | None:
    """How the keys and shapes of state dict ``found`` (``theirs``) differ from ``expected`` (``ours``), in words.

    ``None`` when they fit. Used by strict loading here and by training checkpoints.
    """
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if tuple(expected[k].shape) != tuple(found[k].shape))
    parts = []
    if missing:
        parts.append(f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    if wrong:
        shapes = (f"{k}: {ours} {tuple(expected[k].shape)} vs {theirs} {tuple(found[k].shape)}" for k in wrong[:4])
        parts.append("shape mismatch " + ", ".join(shapes))
    return "; ".join(parts) or None


def load_modules(modules: Mapping[str, Any], folder: str | os.PathLike) -> str:
    """Load ``model.safetensors`` strictly into ``{key prefix: torch module}`` and set them to eval.

    Missing, unexpected or mis-shaped keys and non-finite values raise
    :class:`~poselift.errors.WeightsError` listing them; nothing falls back to random weights.
    Returns the file's :func:`state_digest` (for :func:`verify_weights`).
    """
    import torch

    path = Path(folder) / WEIGHTS_NAME
    state = _load_file(path, "torch")
    expected = {prefix + k: v for prefix, m in modules.items() for k, v in m.state_dict().items()}
    mismatch = state_dict_mismatch(expected, state, ours="config", theirs="file")
    if mismatch:
        raise WeightsError(f"{path} does not match its {CONFIG_NAME}: {mismatch}. Re-export the model with save_pretrained().")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise WeightsError(f"{path}: tensor {k!r} holds NaN or infinite values; the weights are broken.")
        if k.endswith("running_var") and bool((v < 0).any()):
            raise WeightsError(f"{path}: tensor {k!r} holds negative variances; the weights are broken.")
    digest = state_digest(state)
    # longest prefix first, so "" (the main network) takes only what no other module claims
    for prefix, module in sorted(modules.items(), key=lambda kv: -len(kv[0])):
        own = {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
        module.load_state_dict(own, strict=True)
        module.eval()
    return digest
