"""ONNX export and an onnxruntime backend (needs ``pip install "poselift[onnx]"``).

The whole lift (:class:`~poselift.lifter.LiftPipeline`: normalise, network, unproject,
root-relative, metric scale) is exported as one graph:

- input ``keypoints``: ``(batch, N, 2)`` float32 pixels; ``batch`` is dynamic;
- input ``height``: scalar float32, body height in metres (``<= 0``: normalised units);
- output ``pose3d``: ``(batch, N, 3)`` float32.

The lifter's ``config.json`` travels inside the file (ONNX ``metadata_props``), so an
exported model is self-describing.

:class:`OnnxLifter` is a :class:`~poselift.lifter.Lifter` whose network call runs in
onnxruntime; input checks, batching and output conversion are the torch backend's own.
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
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import LifterConfig
from .errors import PoseliftError, WeightsError, require
from .hub import CONFIG_NAME, WEIGHTS_NAME
from .lifter import Lifter
from .nets import LifterNet

__all__ = ["export_onnx", "OnnxLifter", "ProviderError", "ONNX_NAME", "default_cache_dir", "default_session_options"]

logger = logging.getLogger(__name__)

#: File name of an ONNX export inside a model folder (used when it is shipped there).
ONNX_NAME = "model.onnx"

INPUT_NAMES = ("keypoints", "height")
OUTPUT_NAME = "pose3d"

# Metadata keys written into every export.
_META_CONFIG = "poselift_config"
_META_WEIGHTS = "poselift_weights_sha256"
_META_VERSION = "poselift_version"

# Bump when the exported graph's inputs, outputs or metadata change meaning.
_EXPORT_FORMAT = 1

ProviderSpec = str | tuple[str, dict[str, Any]]


# Execution providers that the plain onnxruntime wheel lacks, and where they come from.
_PROVIDER_PACKAGES = {
    "CUDAExecutionProvider": "onnxruntime-gpu",
    "TensorrtExecutionProvider": "onnxruntime-gpu",
    "ROCMExecutionProvider": "onnxruntime-rocm",
    "MIGraphXExecutionProvider": "onnxruntime-migraphx",
    "DmlExecutionProvider": "onnxruntime-directml",
    "OpenVINOExecutionProvider": "onnxruntime-openvino",
}


class ProviderError(PoseliftError, ValueError):
    """An onnxruntime execution provider that this installation does not offer."""


# ---------------------------------------------------------------------------- export
def export_onnx(lifter: Lifter, path: str | os.PathLike, *, opset: int = 17) -> Path:
    """Export ``lifter.pipeline`` to an ONNX file with a dynamic batch axis.

    The export runs on a CPU copy in eval mode (the lifter itself is left untouched),
    passes ``onnx.checker``, and stores the lifter's config JSON and a digest of its
    weights in the model's ``metadata_props``. The file is written atomically.

    Returns:
        The path written.
    """
    onnx = require("onnx", "onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _export_model(lifter, opset=opset)
    onnx.checker.check_model(model)
    _atomic_write(path, model.SerializeToString())
    logger.info("exported %s lifter to %s (opset %d)", lifter.config.skeleton, path, opset)
    return path


def _export_model(lifter: Lifter, *, opset: int) -> Any:
    """Trace the pipeline to an in-memory ``onnx.ModelProto`` carrying poselift metadata."""
    onnx = require("onnx", "onnx")
    pipeline = copy.deepcopy(lifter.pipeline).cpu().eval()
    _fold_batchnorm(pipeline)
    n = lifter.skeleton.num_joints
    # Any non-degenerate poses do: the graph has no data-dependent control flow.
    angles = torch.linspace(0.0, 2.0 * torch.pi, n + 1)[:n]
    pose = torch.stack([torch.cos(angles), torch.sin(2.0 * angles)], dim=-1) * 100.0 + 200.0
    example = (torch.stack([pose, pose * 0.5 + 10.0]), torch.tensor(1.7))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; the as_tensor constants it warns about are true constants here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            pipeline,
            example,
            buffer,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAMES[0]: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load_model_from_string(buffer.getvalue())
    model.producer_name = "poselift"
    model.doc_string = (
        f"poselift {lifter.config.skeleton} lifter: keypoints (batch, {n}, 2) pixels, "
        f"height () metres (<= 0: normalised units) -> pose3d (batch, {n}, 3), "
        "root-relative, OpenCV camera axes."
    )
    from . import __version__

    meta = {
        _META_CONFIG: lifter.config.to_json(),
        _META_WEIGHTS: _weights_digest(lifter.net),
        _META_VERSION: __version__,
    }
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def _fold_batchnorm(module: torch.nn.Module) -> None:
    """Fold every eval-mode ``BatchNorm1d`` that directly follows a ``Linear`` into it.

    Same function, fewer graph nodes: onnxruntime does not fuse Gemm + BatchNormalization.
    """
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


def _weights_digest(net: torch.nn.Module) -> str:
    """SHA-256 over the state dict (names, dtypes, shapes, bytes), independent of file format."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and rename, so readers never see a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- cache
def _code_digest() -> str:
    """Digest of the code the exported graph is traced from, so edits invalidate the cache."""
    from . import __version__, geometry, lifter, nets, skeleton

    h = hashlib.sha256(f"{_EXPORT_FORMAT}|{__version__}|{torch.__version__}".encode())
    for source in (geometry.__file__, lifter.__file__, nets.__file__, skeleton.__file__, __file__):
        try:
            h.update(Path(source or "").read_bytes())
        except OSError:  # no source on disk (e.g. a zip import): the version has to do
            h.update(str(source).encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/poselift/onnx`` (``~/.cache/poselift/onnx`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "poselift" / "onnx"


def _cached_export(lifter: Lifter, weights_digest: str, opset: int, cache_dir: Path | None) -> Path:
    """Export ``lifter`` once per (weights, config, code, opset); return the file."""
    key = hashlib.sha256(
        "|".join([weights_digest, lifter.config.to_json(), _code_digest(), str(opset)]).encode()
    ).hexdigest()[:24]
    roots = [Path(cache_dir)] if cache_dir is not None else [
        default_cache_dir(),
        Path(tempfile.gettempdir()) / f"poselift-onnx-{os.getuid() if hasattr(os, 'getuid') else 'user'}",
    ]
    errors = []
    for root in roots:
        path = root / key / ONNX_NAME
        if path.is_file():
            logger.debug("using cached ONNX export %s", path)
            return path
        try:
            return export_onnx(lifter, path, opset=opset)
        except OSError as e:
            errors.append(f"{root}: {e}")
    raise PoseliftError(
        "cannot write the ONNX export to any cache folder (" + "; ".join(errors) + "); "
        "pass a writable cache_dir=..."
    )


# ---------------------------------------------------------------------------- runtime
def _check_providers(providers: Sequence[ProviderSpec] | None, ort: Any) -> list[ProviderSpec]:
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
    """The ``onnxruntime.SessionOptions`` an :class:`OnnxLifter` uses unless given its own.

    All graph optimisations, sequential execution, ``intra_op_threads`` threads per
    operator (``None``/0: onnxruntime's default, one per physical core), and worker
    threads that sleep instead of spinning between runs: spinning threads keep the
    cores busy after each call and slow down torch or numpy work in the same process
    (torch validation of 4096 poses took 260 ms instead of 1.4 ms on a busy 2-core machine).
    """
    ort = require("onnxruntime", "onnx")
    if intra_op_threads is not None and intra_op_threads < 0:
        raise ValueError(f"intra_op_threads must be >= 0 (0: onnxruntime's default); got {intra_op_threads}")
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


def _session_mismatch(session: Any, config: LifterConfig, weights_digest: str | None) -> str | None:
    """Why ``session`` does not run the lifter described by ``config`` (None if it does)."""
    n = config.num_joints
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    if set(inputs) != set(INPUT_NAMES) or outputs != [OUTPUT_NAME]:
        return f"it has inputs {sorted(inputs)} and outputs {outputs}, not {list(INPUT_NAMES)} -> [{OUTPUT_NAME!r}]"
    if list(inputs[INPUT_NAMES[0]].shape[1:]) != [n, 2]:
        return f"its keypoints input has shape {inputs[INPUT_NAMES[0]].shape}, not (batch, {n}, 2)"
    meta = session.get_modelmeta().custom_metadata_map
    if _META_CONFIG not in meta:
        return "it carries no poselift config in its metadata"
    try:
        stored = LifterConfig.from_dict(json.loads(meta[_META_CONFIG]), source="ONNX metadata")
    except (ValueError, PoseliftError) as e:
        return f"its stored config is unreadable ({e})"
    if stored.model_dump() != config.model_dump():
        return f"its stored config differs from {CONFIG_NAME}"
    if weights_digest is not None and meta.get(_META_WEIGHTS) != weights_digest:
        return f"it was exported from different weights than {WEIGHTS_NAME}"
    return None


class OnnxLifter(Lifter):
    """A :class:`~poselift.lifter.Lifter` that runs the lift pipeline in onnxruntime.

    Same API, input checks and outputs as the torch backend (to float32 rounding), usually
    faster for small batches on CPU. Build it with :meth:`from_folder` or
    ``Lifter.from_pretrained(..., backend="onnx", providers=[...])``.

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
        onnx_path: the ONNX file the session was created from.
    """

    def __init__(
        self,
        config: LifterConfig,
        net: LifterNet | None = None,
        *,
        session: Any | None = None,
        onnx_path: Path | None = None,
        **kwargs: Any,
    ):
        super().__init__(config, net, **kwargs)
        self.session = session
        self.onnx_path = onnx_path
        self._output_names = [OUTPUT_NAME]

    def __repr__(self) -> str:
        c = self.config
        return (
            f"OnnxLifter(skeleton={c.skeleton!r}, width={c.width}, blocks={c.blocks}, "
            f"providers={self.session.get_providers() if self.session is not None else None!r})"
        )

    @classmethod
    def from_folder(  # type: ignore[override]
        cls,
        folder: str | os.PathLike,
        *,
        providers: Sequence[ProviderSpec] | None = None,
        intra_op_threads: int | None = None,
        session_options: Any | None = None,
        cache_dir: str | os.PathLike | None = None,
        opset: int = 17,
        device: str | torch.device | None = None,
    ) -> "OnnxLifter":
        """Load ``config.json`` + ``model.safetensors`` and open an onnxruntime session.

        Uses ``model.onnx`` from the folder when it matches the config and weights;
        otherwise exports once into ``cache_dir`` (default :func:`default_cache_dir`,
        falling back to the temp folder), keyed by a digest of weights, config and code,
        so the model folder itself is never written to.

        Args:
            providers: onnxruntime execution providers in priority order (names or
                ``(name, options)`` tuples); default ``["CPUExecutionProvider"]``.
            intra_op_threads: threads per operator; ``None``/0: onnxruntime's default
                (one per physical core).
            session_options: an ``onnxruntime.SessionOptions`` to use as it is, instead
                of :func:`default_session_options`.
            cache_dir: where exports are cached (default :func:`default_cache_dir`).
            opset: ONNX opset of the export.
            device: accepted for signature compatibility; only CPU (``None``/"cpu") is
                meaningful, the device is chosen through ``providers``.
        """
        ort = require("onnxruntime", "onnx")
        if session_options is not None and intra_op_threads is not None:
            raise ValueError("pass intra_op_threads or session_options, not both: set the threads on your SessionOptions.")
        options = session_options if session_options is not None else default_session_options(intra_op_threads)
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(
                f"the ONNX backend does not take device={str(device)!r}; choose where it runs "
                "with providers=[...] (e.g. 'CUDAExecutionProvider' with onnxruntime-gpu)."
            )
        provider_list = _check_providers(providers, ort)
        folder = Path(folder)
        # the torch modules (lifter net, completion net) load exactly as for the torch backend
        lifter = super().from_folder(folder)
        config = lifter.config
        digest = _weights_digest(lifter.net)

        session = None
        shipped = folder / ONNX_NAME
        if shipped.is_file():
            try:
                session = _make_session(shipped, provider_list, options, ort)
                why = _session_mismatch(session, config, digest)
            except ProviderError:
                raise
            except Exception as e:  # corrupt file: onnxruntime raises its own error types
                why = f"onnxruntime cannot load it ({e})"
            if why is None:
                path = shipped
            else:
                logger.warning("ignoring %s: %s; exporting the weights instead", shipped, why)
                session = None
        if session is None:
            path = _cached_export(lifter, digest, opset, Path(cache_dir) if cache_dir is not None else None)
            session = _make_session(path, provider_list, options, ort)
            why = _session_mismatch(session, config, digest)
            if why is not None:  # only a cache entry overwritten by hand gets here
                raise WeightsError(f"cached ONNX export {path} does not match {folder}: {why}; delete it and retry.")
        logger.info("loaded %s lifter from %s into onnxruntime (%s, %s)", config.skeleton, folder, path, session.get_providers())
        lifter.session, lifter.onnx_path = session, path
        return lifter

    def to(self, device: str | torch.device) -> "OnnxLifter":
        if torch.device(device).type != "cpu":
            raise ValueError(
                "an OnnxLifter runs where its onnxruntime providers put it; "
                "load it with providers=[...] instead of calling .to()."
            )
        super().to(device)  # the torch modules that still run here (completion) stay on the CPU
        return self

    def _lift_flat(self, x: torch.Tensor, height: float | None, normalized: bool) -> torch.Tensor:
        """``(B, N, 2)`` float32 CPU pixels -> ``(B, N, 3)`` through onnxruntime."""
        if self.session is None:
            raise PoseliftError("this OnnxLifter has no onnxruntime session; build it with OnnxLifter.from_folder().")
        target = self.config.height if height is None else float(height)
        feed = {
            INPUT_NAMES[0]: np.ascontiguousarray(x.numpy()),
            INPUT_NAMES[1]: np.asarray(0.0 if normalized else target, dtype=np.float32),
        }
        (out,) = self.session.run(self._output_names, feed)
        return torch.from_numpy(out)
