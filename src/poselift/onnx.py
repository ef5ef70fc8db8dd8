"""ONNX graphs of poselift's networks: export (torch) and onnxruntime sessions (no torch).

Three graphs, each exported from the one torch implementation:

- the lift (:class:`~poselift.pipeline.LiftPipeline`: normalise, network, unproject,
  root-relative, metric scale), ``model.onnx`` of a lifter folder: inputs ``keypoints``
  ``(batch, N, 2)`` float32 pixels and ``height`` (scalar float32 metres, ``<= 0``:
  normalised units), output ``pose3d`` ``(batch, N, 3)``;
- the completion network (:class:`~poselift.nets.CompletionNet`), ``completion.onnx``:
  inputs ``keypoints`` ``(batch, N, 2)`` and ``visible`` ``(batch, N)`` float32 (1 visible,
  0 missing), output ``filled`` ``(batch, N, 2)``;
- a learned correction (:class:`~poselift.nets.CorrectionNet`), ``model.onnx`` of a
  correction folder: input ``keypoints`` ``(batch, M, 2)`` of complete poses, output
  ``corrected``.

Every graph carries the folder's ``config.json`` and a digest of the weights it was
exported from (ONNX ``metadata_props``), so a shipped graph is only used when it matches
the folder's ``model.safetensors`` (:func:`graph_mismatch`). Export needs torch and
``onnx``; running needs only onnxruntime. This module never imports :mod:`poselift.lifter`.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import atomic_path, file_sha256 as _file_sha256
from .errors import GraphExportError, InvalidArgumentError, MissingDependencyError, ProviderError, WeightsError, install_hint, require

__all__ = [
    "GraphSpec",
    "LIFT_GRAPH",
    "COMPLETION_GRAPH",
    "CORRECTION_GRAPH",
    "export_graph",
    "open_graph",
    "graph_mismatch",
    "ProviderError",
    "default_cache_dir",
    "default_session_options",
    "check_providers",
]

logger = logging.getLogger(__name__)

# Metadata keys written into every export.
META_CONFIG = "poselift_config"

#: Config fields added after graphs were shipped, with the value a graph exported before
#: them behaved as (a stored config without the key matches a config with that value).
ADDED_CONFIG_FIELDS: dict[str, Any] = {"head": "depth"}
META_WEIGHTS = "poselift_weights_sha256"
META_VERSION = "poselift_version"

# Bump when an exported graph's inputs, outputs or metadata change meaning.
_EXPORT_FORMAT = 2

ProviderSpec = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class GraphSpec:
    """Names and dynamic axes of one kind of exported graph."""

    kind: str
    inputs: tuple[str, ...]
    output: str
    doc: str


LIFT_GRAPH = GraphSpec(
    "lift", ("keypoints", "height"), "pose3d",
    "keypoints (batch, N, 2) pixels, height () metres (<= 0: normalised units) -> pose3d (batch, N, 3), "
    "root-relative, OpenCV camera axes",
)
COMPLETION_GRAPH = GraphSpec(
    "completion", ("keypoints", "visible"), "filled",
    "keypoints (batch, N, 2) pixels, visible (batch, N) 1/0 -> filled (batch, N, 2): missing joints filled",
)
CORRECTION_GRAPH = GraphSpec(
    "correction", ("keypoints",), "corrected",
    "keypoints (batch, M, 2) pixels of complete poses -> corrected (batch, M, 2)",
)

# Execution providers that the plain onnxruntime wheel lacks, and where they come from.
_PROVIDER_PACKAGES = {
    "CUDAExecutionProvider": "onnxruntime-gpu",
    "TensorrtExecutionProvider": "onnxruntime-gpu",
    "ROCMExecutionProvider": "onnxruntime-rocm",
    "MIGraphXExecutionProvider": "onnxruntime-migraphx",
    "DmlExecutionProvider": "onnxruntime-directml",
    "OpenVINOExecutionProvider": "onnxruntime-openvino",
}


# ---------------------------------------------------------------------------- export (torch)
def export_graph(
    module: Any,
    spec: GraphSpec,
    example: tuple[Any, ...],
    path: str | os.PathLike,
    *,
    config_json: str,
    weights_digest: str,
    opset: int = 17,
    weights_file: str | os.PathLike | None = None,
) -> Path:
    """Export the torch ``module`` as a ``spec`` graph with a dynamic batch axis to ``path``.

    The export runs on a CPU copy in eval mode (the module itself is left untouched), passes
    ``onnx.checker``, stores ``config_json`` and ``weights_digest`` in ``metadata_props``, and
    is written atomically. Without ``weights_file`` the graph is self-contained, with
    BatchNorm folded into the preceding Linear layers. With ``weights_file`` (the folder's
    ``model.safetensors``, next to ``path``) the graph stores no weights of its own: its
    initializers point into that file (ONNX external data; float16 weights are cast to
    float32 in the graph), so a released folder carries its weights once; the graph's
    SHA-256 is then recorded in the folder's ``config.json`` (:func:`open_graph` checks it).
    """
    import torch

    onnx = require("onnx", "onnx")
    _check_opset(opset)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    copy_ = copy.deepcopy(module).cpu().eval()
    if weights_file is None:
        _fold_batchnorm(copy_)
    buffer = io.BytesIO()
    dynamic = {name: {0: "batch"} for name in spec.inputs if example[spec.inputs.index(name)].ndim > 0}
    # the exporter and the warning filters are process-wide state: one export at a time (threads crashed)
    with _EXPORT_LOCK, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; the as_tensor constants it warns about are true constants here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                copy_,
                example,
                buffer,
                input_names=list(spec.inputs),
                output_names=[spec.output],
                dynamic_axes={**dynamic, spec.output: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as e:  # the exporter's errors for an opset it cannot target
            raise GraphExportError(
                f"torch {torch.__version__} cannot export the {spec.kind} graph at ONNX opset {opset} "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); the default, 17, works"
            ) from None
    model = onnx.load_model_from_string(buffer.getvalue())
    model.producer_name = "poselift"
    model.doc_string = f"poselift {spec.kind}: {spec.doc}."
    from ._version import __version__

    del model.metadata_props[:]
    for key, value in {META_CONFIG: config_json, META_WEIGHTS: weights_digest, META_VERSION: __version__}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    if weights_file is None:
        onnx.checker.check_model(model)
    else:
        _link_weights(model, Path(weights_file), path.parent)
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString())
    if weights_file is not None:
        onnx.checker.check_model(str(path))  # resolves the external data next to the file
        from .weights import record_graph_digest

        record_graph_digest(path)  # a model folder's graph: its config.json ties it to this file
    logger.info("exported %s graph to %s (opset %d)", spec.kind, path, opset)
    return path


#: Serialises torch.onnx.export across threads (concurrent exports crashed in the exporter).
_EXPORT_LOCK = threading.Lock()

#: Lowest ONNX opset poselift's graphs export at (``Where`` needs 9).
MIN_OPSET = 9


def _check_opset(opset: Any) -> None:
    """Refuse an opset that is not a whole number within what poselift and torch can export."""
    try:
        from torch.onnx._constants import ONNX_MAX_OPSET as highest
    except ImportError:  # a torch without the constant: the exporter's own error is wrapped below
        highest = 10**6
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= highest:
        raise GraphExportError(f"ONNX opset must be a whole number from {MIN_OPSET} to {highest}; got {opset!r} (default 17).")


def _link_weights(model: Any, weights_file: Path, folder: Path) -> None:
    """Point every large initializer of ``model`` at the equal tensor of a safetensors file.

    safetensors stores each tensor's little-endian bytes contiguously after a JSON header,
    which is exactly what ONNX external data (``location``, ``offset``, ``length``) reads.
    Tensors are matched by value; float16 ones get a ``Cast`` to float32.
    """
    import struct

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    if weights_file.parent.resolve() != folder.resolve():
        raise GraphExportError(f"{weights_file} must sit next to the graph (in {folder}) for its external data to resolve")
    with open(weights_file, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    stored = load_file(str(weights_file))
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for key, value in stored.items():
        by_shape.setdefault(tuple(value.shape), []).append(key)
    kinds = {"F16": TensorProto.FLOAT16, "F32": TensorProto.FLOAT}
    casts = []
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < 16:
            continue  # small constants of the graph stay inside it
        key = next((k for k in by_shape.get(tuple(arr.shape), []) if header[k]["dtype"] in kinds
                    and np.array_equal(stored[k].astype(np.float32), arr)), None)
        if key is None:
            continue  # a constant of the graph itself (e.g. a table), not a stored weight
        start, end = header[key]["data_offsets"]
        name = init.name
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_type = kinds[header[key]["dtype"]]
        init.data_location = TensorProto.EXTERNAL
        for k, v in (("location", weights_file.name), ("offset", str(8 + header_len + start)), ("length", str(end - start))):
            entry = init.external_data.add()
            entry.key, entry.value = k, v
        if init.data_type == TensorProto.FLOAT16:
            init.name = f"{name}.float16"
            casts.append(helper.make_node("Cast", [init.name], [name], to=TensorProto.FLOAT, name=f"cast:{name}"))
    for i, node in enumerate(casts):
        model.graph.node.insert(i, node)


def example_poses(num_joints: int, batch: int = 2) -> Any:
    """``(batch, N, 2)`` non-degenerate float32 poses to trace with (the graphs have no
    data-dependent control flow, so any do)."""
    import torch

    angles = torch.linspace(0.0, 2.0 * torch.pi, num_joints + 1)[:num_joints]
    pose = torch.stack([torch.cos(angles), torch.sin(2.0 * angles)], dim=-1) * 100.0 + 200.0
    return torch.stack([pose * (0.5 + 0.5 * i) + 10.0 * i for i in range(batch)])


def _fold_batchnorm(module: Any) -> None:
    """Fold every eval-mode ``BatchNorm1d`` that directly follows a ``Linear`` into it.

    Same function, fewer graph nodes: onnxruntime does not fuse Gemm + BatchNormalization.
    """
    import torch
    from torch.nn.utils.fusion import fuse_linear_bn_eval

    for seq in module.modules():
        if not isinstance(seq, torch.nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            linear, bn = seq[i], seq[i + 1]
            if (
                isinstance(linear, torch.nn.Linear)
                and isinstance(bn, torch.nn.BatchNorm1d)
                and bn.track_running_stats
                and bn.running_mean is not None
                and bn.running_var is not None
            ):
                seq[i] = fuse_linear_bn_eval(linear, bn)
                seq[i + 1] = torch.nn.Identity()


# ---------------------------------------------------------------------------- cache
def _code_digest() -> str:
    """Digest of the code the exported graphs are traced from, so edits invalidate the cache."""
    import torch

    from ._version import __version__

    h = hashlib.sha256(f"{_EXPORT_FORMAT}|{__version__}|{torch.__version__}".encode())
    here = Path(__file__).parent  # the sources by path: this backend imports no network module
    for source in (here / "geometry.py", here / "pipeline.py", here / "nets.py", here / "skeleton.py", Path(__file__)):
        try:
            h.update(Path(source or "").read_bytes())
        except OSError:  # no source on disk (e.g. a zip import): the version has to do
            h.update(str(source).encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/poselift/onnx`` (``~/.cache/poselift/onnx`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "poselift" / "onnx"


def _cached_export(
    export: Callable[[Path], Path], name: str, key_parts: Sequence[str], opset: int, cache_dir: Path | None
) -> Path:
    """Run ``export(path)`` once per (weights, config, code, opset); return the file."""
    key = hashlib.sha256("|".join([*key_parts, _code_digest(), str(opset), name]).encode()).hexdigest()[:24]
    roots = [Path(cache_dir)] if cache_dir is not None else [
        default_cache_dir(),
        Path(tempfile.gettempdir()) / f"poselift-onnx-{os.getuid() if hasattr(os, 'getuid') else 'user'}",
    ]
    errors = []
    for root in roots:
        path = root / key / name
        seal = path.with_name(path.name + ".sha256")  # the file's hash, written after a complete export
        if path.is_file():
            if seal.is_file() and seal.read_text(encoding="utf-8").strip() == _file_sha256(path):
                logger.debug("using cached ONNX export %s", path)
                return path
            logger.warning("cached ONNX export %s is incomplete or was changed; exporting it again", path)
            for stale in (path, seal):
                stale.unlink(missing_ok=True)
        try:
            out = export(path)
            with atomic_path(seal) as tmp:
                tmp.write_text(_file_sha256(out) + "\n", encoding="utf-8")
            return out
        except OSError as e:
            errors.append(f"{root}: {e}")
    raise GraphExportError(
        "cannot write the ONNX export to any cache folder (" + "; ".join(errors) + "); "
        "pass a writable cache_dir=..."
    )


# ---------------------------------------------------------------------------- runtime (no torch)
def check_providers(providers: Sequence[ProviderSpec] | None, ort: Any) -> list[ProviderSpec]:
    """The provider list to use, or a :class:`ProviderError` that names the package to install."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        raise ProviderError(f"providers must be a list of provider names, e.g. [{providers!r}]; got the string {providers!r}.")
    providers = list(providers)
    if not providers:
        raise ProviderError("providers is empty; pass e.g. ['CPUExecutionProvider'] or leave it as None.")
    available = list(ort.get_available_providers())
    for spec in providers:
        name = spec if isinstance(spec, str) else spec[0] if isinstance(spec, tuple) and spec else None
        if not isinstance(name, str):
            raise ProviderError(f"each provider must be a name or a (name, options) tuple; got {spec!r}.")
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            if name in _PROVIDER_PACKAGES:
                hint = f" It comes with the {_PROVIDER_PACKAGES[name]} package (install it instead of onnxruntime)."
            else:
                hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProviderError(
                f"onnxruntime {ort.__version__} has no execution provider {name!r}; "
                f"available here: {available}.{hint}"
            )
    return providers


def default_session_options(intra_op_threads: int | None = None) -> Any:
    """The ``onnxruntime.SessionOptions`` the ONNX backend uses unless given its own.

    All graph optimisations, sequential execution, ``intra_op_threads`` threads per
    operator (``None``/0: onnxruntime's default, one per physical core), and worker
    threads that sleep instead of spinning between runs, so they leave the cores to
    other work in the same process.
    """
    ort = require("onnxruntime", "onnx")
    if intra_op_threads is not None and intra_op_threads < 0:
        raise InvalidArgumentError(f"intra_op_threads must be >= 0 (0: onnxruntime's default); got {intra_op_threads}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if intra_op_threads is not None:
        options.intra_op_num_threads = int(intra_op_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _make_session(path: Path, providers: list[ProviderSpec], options: Any, ort: Any) -> Any:
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if wanted not in session.get_providers():
        # onnxruntime falls back to the CPU when e.g. the CUDA libraries fail to load
        raise ProviderError(
            f"onnxruntime could not start {wanted!r} (active: {session.get_providers()}); "
            "see onnxruntime's log above for the reason (often missing CUDA/cuDNN libraries)."
        )
    return session


def graph_mismatch(session: Any, spec: GraphSpec, config: Mapping[str, Any], weights_digest: str) -> str | None:
    """Why ``session`` is not the ``spec`` graph of these config and weights (``None`` if it is)."""
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if sorted(inputs) != sorted(spec.inputs) or outputs != [spec.output]:
        return f"it has inputs {sorted(inputs)} and outputs {outputs}, not {list(spec.inputs)} -> [{spec.output!r}]"
    meta = session.get_modelmeta().custom_metadata_map
    if META_CONFIG not in meta:
        return "it carries no poselift config in its metadata"
    try:
        stored = json.loads(meta[META_CONFIG])
    except ValueError as e:
        return f"its stored config is unreadable ({e})"
    if isinstance(stored, dict):
        stored = {**{k: v for k, v in ADDED_CONFIG_FIELDS.items() if k in config}, **stored}
    if stored != dict(config):
        return "its stored config differs from config.json"
    if meta.get(META_WEIGHTS) != weights_digest:
        return "it was exported from different weights than model.safetensors"
    return None


def open_graph(
    folder: Path,
    name: str,
    spec: GraphSpec,
    *,
    config: Mapping[str, Any],
    weights_digest: str,
    export: Callable[[Path], Path] | None,
    providers: Sequence[ProviderSpec] | None = None,
    session_options: Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    opset: int = 17,
    file_digest: str | None = None,
) -> tuple[Any, Path]:
    """An onnxruntime session of the ``name`` graph of a model folder, and the file it runs.

    Uses ``folder / name`` when its SHA-256 is ``file_digest`` (recorded in the folder's
    ``config.json`` when the graph was exported there: its metadata alone would not show
    edited weights or nodes) and it was exported from exactly this config and these weights;
    otherwise ``export(path)`` (torch) writes one into ``cache_dir`` (default
    :func:`default_cache_dir`, falling back to the temp folder), keyed by weights, config
    and code, so the model folder itself is never written to. Without torch (``export``
    is ``None``), a missing or stale graph raises :class:`~poselift.errors.MissingDependencyError`.
    """
    ort = require("onnxruntime", "onnx")
    provider_list = check_providers(providers, ort)
    options = session_options if session_options is not None else default_session_options()
    shipped = folder / name
    why = f"{shipped} does not exist"
    if shipped.is_file() and file_digest is None:
        why = f"{shipped}: config.json records no digest of it (saved by an older poselift, or added by hand)"
    elif shipped.is_file() and _file_sha256(shipped) != file_digest:
        why = f"{shipped}: it is not the graph config.json records (modified after the export)"
    elif shipped.is_file():
        try:
            session = _make_session(shipped, provider_list, options, ort)
            why = graph_mismatch(session, spec, config, weights_digest)
        except ProviderError:
            raise
        except Exception as e:  # corrupt file: onnxruntime raises its own error types
            why = f"onnxruntime cannot load it ({e})"
        if why is None:
            return session, shipped
        why = f"{shipped}: {why}"
    if export is None:
        raise MissingDependencyError(
            f"no usable ONNX graph for {folder} ({why}), and exporting one needs torch. "
            f"Install it with: {install_hint('torch')} (once: the export is cached), "
            "or use a folder that ships its graphs (the released weights do; "
            "save_pretrained(folder, onnx=True) writes them)."
        )
    if shipped.is_file():
        logger.warning("ignoring %s; exporting the weights instead", why)
    path = _cached_export(export, name, [weights_digest, json.dumps(config, sort_keys=True)], opset, Path(cache_dir) if cache_dir is not None else None)
    session = _make_session(path, provider_list, options, ort)
    mismatch = graph_mismatch(session, spec, config, weights_digest)
    if mismatch is not None:  # only a cache entry overwritten by hand gets here
        raise WeightsError(f"cached ONNX export {path} does not match {folder}: {mismatch}; delete it and retry.")
    return session, path
