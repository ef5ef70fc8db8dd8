"""Learned 2D domain correction (Chen et al. 2019, section 3.6): ``x_sc = x_s + C(x_s)``.

After the geometric mapping of :mod:`poselift.adapt`, keypoints of another convention (a
detector's joints, an annotator's hips) still differ systematically from the ones a lifter
was trained on. ``C`` (:class:`~poselift.nets.CorrectionNet`) is a small residual MLP, one
per (source layout, target layout), trained without correspondences
(:mod:`poselift.training.correction`). It acts on per-pose normalised poses, so it is
independent of image size; poses with missing joints are passed through unchanged.

A correction is stored like a lifter (``model.safetensors`` + ``config.json`` + model card,
and ``model.onnx`` for use without torch) and loads by folder, bundled name or hub id. Its
runners (torch module or onnxruntime session, :class:`CorrectionRunner`) are at the end of
this module, as the lifter's are in :mod:`poselift.runners`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ._arrays import Container, to_numpy
from .config import CorrectionConfig
from .errors import InvalidArgumentError, require, torch_available
from .pretrained import Backend, Pretrained, Runner, check_backend, model_card
from .skeleton import SKELETONS, get_skeleton
from .weights import ONNX_NAME, WEIGHTS_NAME, graph_digests, is_released, mlp_parameters_at_least, read_state, state_digest

__all__ = [
    "LearnedCorrection",
    "load_correction",
    "correction_card",
    "CorrectionRunner",
    "TorchCorrectionRunner",
    "OnnxCorrectionRunner",
    "load_correction_runner",
    "export_correction",
]

#: RMS size in pixels every pose is brought to before the correction network sees it.
_WORKING_SIZE = 100.0


class LearnedCorrection(Pretrained):
    """A learned correction, usable as ``correction=`` of the adapters.

    ``correction(xy, conf)``: ``(*batch, M, 2)`` pixels in the target layout and ``(*batch, M)``
    confidence -> corrected ``(*batch, M, 2)`` in the caller's container; only poses whose
    joints are all present (confidence > 0, finite) are corrected.
    """

    config_class = CorrectionConfig
    kind = "correction network"

    def __init__(self, config: CorrectionConfig, net: Any = None, *, runner: CorrectionRunner | None = None):
        self.config = config
        if runner is None:
            runner = TorchCorrectionRunner(config, net)
        elif net is not None:
            raise InvalidArgumentError("pass either runner= or net=, not both")
        self.runner = runner

    @property
    def backend(self) -> Backend:
        return self.runner.backend

    @property
    def net(self) -> Any:
        """The torch module (:class:`~poselift.nets.CorrectionNet`; torch backend)."""
        return self._torch_runner().net

    def __repr__(self) -> str:
        return f"LearnedCorrection(source={self.config.source!r}, target={self.config.target!r}, {self.runner.describe()})"

    def __call__(self, xy: Any, conf: Any) -> Any:
        x = to_numpy(xy)
        container = Container.of(xy, x)
        c = to_numpy(conf)
        flat = x.reshape(-1, *x.shape[-2:]).astype(np.float64 if x.dtype == np.float64 else np.float32)
        complete = (c.reshape(flat.shape[:2]) > 0).all(axis=-1) & np.isfinite(flat).all(axis=(-1, -2))
        if complete.any():
            # The correction moves joints relative to the pose's centre and size; it runs on each
            # pose centred and brought to one size, in float64 around it, so offsets of 1e9 px or
            # scales of 1e20 lose no precision and never overflow float32 inside the network.
            rows = flat[complete].astype(np.float64)
            centre = rows.mean(axis=1, keepdims=True)
            dev = rows - centre
            with np.errstate(all="ignore"):
                top = np.abs(dev).max(axis=(1, 2), keepdims=True)
                size = top * np.sqrt(np.square(dev / np.where(top > 0, top, 1.0)).mean(axis=(1, 2), keepdims=True))
            sized = (np.isfinite(size) & (size > 0))[:, 0, 0]  # all joints at one point: nothing to correct
            work = (dev[sized] / size[sized] * _WORKING_SIZE).astype(np.float32)
            rows[sized] = centre[sized] + self.runner.correct(work).astype(np.float64) / _WORKING_SIZE * size[sized]
            flat[complete] = rows
        return container.restore(flat.reshape(x.shape))

    def correct_complete(self, keypoints: Any) -> Any:
        """Correct ``(*batch, M, 2)`` pixel keypoints whose joints are all present (e.g. a detector's output)."""
        shape = np.shape(keypoints)
        return self(keypoints, np.ones(shape[:-1], dtype=np.float32))

    # ------------------------------------------------------------------ the model folder (Pretrained hooks)
    @classmethod
    def _stored_parameters(cls, config: CorrectionConfig) -> int:
        n = get_skeleton(config.target).num_joints if config.target in SKELETONS else 0
        return mlp_parameters_at_least(2 * n, config.width, config.blocks)

    @classmethod
    def _load_runner(
        cls,
        folder: Path,
        config: CorrectionConfig,
        backend: Backend | None,
        *,
        providers: Any = None,
        onnx_cache_dir: str | os.PathLike | None = None,
    ) -> tuple[CorrectionRunner, str]:
        """Runner options: ``providers`` and ``onnx_cache_dir`` (ONNX backend)."""
        return load_correction_runner(folder, config, backend=backend, providers=providers, cache_dir=onnx_cache_dir)

    def card(self) -> str:
        return correction_card(self.config)

    def _export_graphs(self, folder: Path) -> None:
        export_correction(self._torch_runner(), self.config, Path(folder) / ONNX_NAME, weights_file=Path(folder) / WEIGHTS_NAME)


def load_correction(source: str, target: str, *, backend: Backend | None = None) -> LearnedCorrection | None:
    """The correction poselift ships for ``source -> target``, or ``None`` if it ships none."""
    name = f"poselift/{source}-{target}"
    if not is_released(name, "correction"):
        return None
    return LearnedCorrection.from_pretrained(name, backend=backend)


def correction_card(config: CorrectionConfig) -> str:
    """The model card (``README.md``) of a correction, from its config and metadata."""
    return model_card(
        title=f"poselift correction {config.source} -> {config.target}",
        summary=(
            f"A learned 2D correction (Chen et al. 2019, x + C(x)) that moves `{config.source}` keypoints, "
            f"after poselift's geometric mapping, towards the `{config.target}` convention a lifter was "
            f"trained on (residual MLP, width {config.width}, {config.blocks} blocks), trained without pairs."
        ),
        usage="\n".join([
            "from poselift.correction import LearnedCorrection",
            f"C = LearnedCorrection.from_pretrained({config.metadata.get('name', 'path/to/this/folder')!r})",
            f"kp = adapt_layout(keypoints, {config.source!r}, target={config.target!r}, correction=C).keypoints",
        ]),
        metadata=config.metadata,
    )


# ---------------------------------------------------------------------------- runners
class CorrectionRunner(Runner, Protocol):
    """Runs a learned correction."""

    def correct(self, x: np.ndarray) -> np.ndarray:
        """``(B, M, 2)`` float32 pixels of complete poses -> corrected ``(B, M, 2)``."""


class TorchCorrectionRunner:
    """The torch module (:class:`~poselift.nets.CorrectionNet`) of a learned correction."""

    backend: Backend = "torch"

    def __init__(self, config: CorrectionConfig, net: Any = None):
        require("torch", "torch")
        from .nets import CorrectionNet

        self.net = (net if net is not None else CorrectionNet(config)).eval()

    def modules(self) -> dict[str, Any]:
        return {"": self.net}

    def correct(self, x: np.ndarray) -> np.ndarray:
        import torch

        device = next(self.net.parameters()).device
        with torch.inference_mode():
            return self.net(torch.from_numpy(x).to(device)).cpu().numpy()

    def describe(self) -> str:
        return "backend='torch'"


class OnnxCorrectionRunner:
    """An onnxruntime session of a correction's graph (``session``, from ``onnx_path``)."""

    backend: Backend = "onnx"

    def __init__(self, session: Any, onnx_path: Path):
        self.session, self.onnx_path = session, onnx_path

    def correct(self, x: np.ndarray) -> np.ndarray:
        from .onnx import CORRECTION_GRAPH

        (out,) = self.session.run([CORRECTION_GRAPH.output], {"keypoints": np.ascontiguousarray(x)})
        return out

    def describe(self) -> str:
        return f"backend='onnx', providers={self.session.get_providers()!r}"


def load_correction_runner(
    folder: Path,
    config: CorrectionConfig,
    *,
    backend: str | None = None,
    providers: Any = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[CorrectionRunner, str]:
    """The runner of the correction in ``folder`` (``config`` already read from it), and the
    :func:`~poselift.weights.state_digest` of its ``model.safetensors`` (read once)."""
    backend = check_backend(backend, folder)
    if backend == "torch":
        from .weights import load_modules

        runner = TorchCorrectionRunner(config)
        return runner, load_modules(runner.modules(), folder)

    from .onnx import CORRECTION_GRAPH, default_session_options, open_graph

    def export(path: Path) -> Path:
        from .weights import load_modules

        runner = TorchCorrectionRunner(config)
        load_modules(runner.modules(), folder)
        return export_correction(runner, config, path)

    digest = state_digest(read_state(folder))  # the graph's weights are the whole file
    session, path = open_graph(
        folder, ONNX_NAME, CORRECTION_GRAPH, config=config.model_dump(mode="json"),
        weights_digest=digest, export=export if torch_available() else None, file_digest=graph_digests(folder).get(ONNX_NAME),
        providers=providers, session_options=default_session_options(1), cache_dir=cache_dir,
    )
    return OnnxCorrectionRunner(session, path), digest


def export_correction(
    runner: TorchCorrectionRunner, config: CorrectionConfig, path: str | os.PathLike, *, opset: int = 17, weights_file: Any = None
) -> Path:
    """Write the graph (``model.onnx``) of a torch correction to ``path``."""
    from .onnx import CORRECTION_GRAPH, example_poses, export_graph

    example = (example_poses(get_skeleton(config.target).num_joints),)
    return export_graph(runner.net, CORRECTION_GRAPH, example, path, config_json=json.dumps(config.model_dump(mode="json")),
                        weights_digest=state_digest(runner.net.state_dict()), opset=opset, weights_file=weights_file)
