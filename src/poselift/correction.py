"""Learned 2D domain correction (Chen et al. 2019, section 3.6): ``x_sc = x_s + C(x_s)``.

After the geometric mapping of :mod:`poselift.adapt`, keypoints of another convention (a
detector's joints, an annotator's hips) still differ systematically from the ones a lifter
was trained on. ``C`` (:class:`~poselift.nets.CorrectionNet`) is a small residual MLP, one
per (source layout, target layout), trained without correspondences
(:mod:`poselift.training.correction`). It acts on per-pose normalised poses, so it is
independent of image size; poses with missing joints are passed through unchanged.

A correction is stored like a lifter (``model.safetensors`` + ``config.json`` + model card,
and ``model.onnx`` for use without torch) and loads by folder, bundled name or hub id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import Container, to_numpy
from .config import CorrectionConfig
from .errors import PoseliftError
from .runners import Backend, CorrectionRunner, TorchCorrectionRunner, load_correction_runner
from .skeleton import SKELETONS, get_skeleton
from .weights import (
    BUNDLED_CORRECTIONS,
    CONFIG_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    check_stored_size,
    mlp_parameters_at_least,
    model_card,
    pop_digest,
    push_folder,
    read_config,
    resolve_model,
    save_folder,
    verify_weights,
)

__all__ = ["LearnedCorrection", "load_correction", "correction_card"]


class LearnedCorrection:
    """A learned correction, usable as ``correction=`` of the adapters.

    ``correction(xy, conf)``: ``(*batch, M, 2)`` pixels in the target layout and ``(*batch, M)``
    confidence -> corrected ``(*batch, M, 2)`` in the caller's container; only poses whose
    joints are all present (confidence > 0, finite) are corrected.
    """

    def __init__(self, config: CorrectionConfig, net: Any = None, *, runner: CorrectionRunner | None = None):
        self.config = config
        if runner is None:
            runner = TorchCorrectionRunner(config, net)
        elif net is not None:
            raise ValueError("pass either runner= or net=, not both")
        self.runner = runner

    @property
    def backend(self) -> Backend:
        return self.runner.backend

    @property
    def net(self) -> Any:
        """The torch module (:class:`~poselift.nets.CorrectionNet`; torch backend)."""
        if not isinstance(self.runner, TorchCorrectionRunner):
            raise PoseliftError(
                f"this correction runs on the {self.backend} backend and holds no torch module; "
                "load it with backend='torch' to train or save it."
            )
        return self.runner.net

    def __repr__(self) -> str:
        return f"LearnedCorrection(source={self.config.source!r}, target={self.config.target!r}, {self.runner.describe()})"

    def __call__(self, xy: Any, conf: Any) -> Any:
        x = to_numpy(xy)
        container = Container.of(xy, x)
        c = to_numpy(conf)
        flat = x.reshape(-1, *x.shape[-2:]).astype(np.float64 if x.dtype == np.float64 else np.float32)
        complete = (c.reshape(flat.shape[:2]) > 0).all(axis=-1) & np.isfinite(flat).all(axis=(-1, -2))
        if complete.any():
            rows = np.ascontiguousarray(flat[complete], dtype=np.float32)
            flat[complete] = self.runner.correct(rows)
        return container.restore(flat.reshape(x.shape))

    def correct_complete(self, keypoints: Any) -> Any:
        """Correct ``(*batch, M, 2)`` pixel keypoints whose joints are all present (e.g. a detector's output)."""
        shape = np.shape(keypoints)
        return self(keypoints, np.ones(shape[:-1], dtype=np.float32))

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        backend: Backend | None = None,
        providers: Any = None,
        onnx_cache_dir: str | os.PathLike | None = None,
    ) -> "LearnedCorrection":
        """Load a correction from a folder, a bundled name (``"poselift/mpii16-h36m17"``) or the hub."""
        folder = resolve_model(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        return cls.from_folder(folder, backend=backend, providers=providers, onnx_cache_dir=onnx_cache_dir)

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike,
        *,
        backend: Backend | None = None,
        providers: Any = None,
        onnx_cache_dir: str | os.PathLike | None = None,
    ) -> "LearnedCorrection":
        """Load a correction folder onto a backend (torch when installed, else onnxruntime)."""
        folder = Path(folder)
        source = str(folder / CONFIG_NAME)
        data = read_config(folder)
        digest = pop_digest(data, source)
        config = CorrectionConfig.from_dict(data, source=source)
        n = get_skeleton(config.target).num_joints if config.target in SKELETONS else 0
        check_stored_size(folder, mlp_parameters_at_least(2 * n, config.width, config.blocks), "correction network")
        runner, found = load_correction_runner(folder, config, backend=backend, providers=providers, cache_dir=onnx_cache_dir)
        verify_weights(folder, digest, found)
        return cls(config, runner=runner)

    def save_pretrained(self, folder: str | os.PathLike, *, onnx: bool = False) -> Path:
        """Write ``model.safetensors``, ``config.json`` and a model card (torch backend);
        ``onnx=True`` also writes ``model.onnx``."""
        folder = save_folder(folder, {"": self.net}, self.config.to_json(), correction_card(self.config))
        if onnx:
            from .runners import export_correction

            export_correction(self.runner, self.config, Path(folder) / ONNX_NAME, weights_file=Path(folder) / WEIGHTS_NAME)
        return folder

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str = "Upload poselift correction") -> str:
        """Upload the ``save_pretrained(folder, onnx=True)`` folder to a hub repository; returns the commit URL."""
        return push_folder(lambda f: self.save_pretrained(f, onnx=True), repo_id, private=private, token=token, commit_message=commit_message)


def load_correction(source: str, target: str, *, backend: Backend | None = None) -> LearnedCorrection | None:
    """The correction poselift ships for ``source -> target``, or ``None`` if it ships none."""
    name = f"poselift/{source}-{target}"
    if name not in BUNDLED_CORRECTIONS:
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
