"""``Lifter``: load weights, lift 2D keypoints to 3D, save and publish weights.

``lift`` is one straight pipe: validate and convert the input once (:mod:`poselift._arrays`),
decide which poses can be lifted and bring them to one working size in one pass
(:func:`poselift.liftability.assess`), run the networks in the runner
(:mod:`poselift.runners`: onnxruntime sessions, or torch modules), optionally place the
poses in the camera frame, and give the result back in the caller's container once.
Loading, saving and publishing come from :class:`~poselift.pretrained.Pretrained`.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import numpy as np

from ._args import check_height
from ._arrays import Container, to_numpy
from .layouts import Adapted
from .config import LifterConfig
from .errors import CameraError, InvalidArgumentError, ShapeError, WeightsError
from .liftability import (
    FEW,
    REASONS,
    UNLIFTABLE_REASONS,
    Lifted,
    LiftResult,
    Unliftable,
    assess,
    check_keypoints,
    first_index,
    pose_label,
    raise_unliftable,
    tolerance_of,
)
from .pretrained import Backend, Pretrained, model_card
from .runners import CPU_BATCH, LiftRunner, TorchLiftRunner, load_lift_runner
from .skeleton import get_skeleton
from .weights import COMPLETION_ONNX_NAME, DEFAULT_MODEL, ONNX_NAME, WEIGHTS_NAME, mlp_parameters_at_least

__all__ = ["Lifter", "LiftResult", "Units", "Unliftable", "UNLIFTABLE_REASONS", "check_keypoints", "lifter_card"]

logger = logging.getLogger(__name__)

Array = TypeVar("Array")  # np.ndarray or torch.Tensor: results come back in the caller's container
#: Output units of :meth:`Lifter.lift`: metres (scaled to a body height), or the network's
#: normalised units (the 2D pose at RMS size ``1/c`` and depth ``c``; 3D RMS size about 1).
Units = Literal["m", "normalized"]
_CAMERA = REASONS.index(Unliftable.CAMERA)
_BROKEN = REASONS.index(Unliftable.NONFINITE_OUTPUT)


def _unpack_adapted(keypoints: Any, confidence: Any) -> tuple[Any, Any]:
    """``(keypoints, confidence)`` of an :class:`~poselift.adapt.Adapted` result, or the arguments as given."""
    if isinstance(keypoints, Adapted):
        if confidence is not None:
            raise InvalidArgumentError(
                "an adapter result already carries its confidence: call lifter.lift(adapted) without confidence=."
            )
        return keypoints.keypoints, keypoints.confidence
    return keypoints, confidence


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"lift({old}) is deprecated; use {new}.", DeprecationWarning, stacklevel=3)


class Lifter(Pretrained):
    """A trained 2D-to-3D lifter.

    >>> lifter = Lifter.from_pretrained("path/to/folder")      # doctest: +SKIP
    >>> pose3d = lifter.lift(keypoints)                        # (*batch, N, 2) px -> (*batch, N, 3) m

    ``Lifter(config)`` builds fresh torch networks (for training); ``Lifter(config, net,
    completion=...)`` wraps trained ones; ``Lifter(config, runner=...)`` takes any runner.
    """

    config_class = LifterConfig
    kind = "lifter"
    default_name = DEFAULT_MODEL

    def __init__(
        self,
        config: LifterConfig,
        net: Any = None,
        *,
        completion: Any = None,
        device: Any = None,
        runner: LiftRunner | None = None,
    ):
        self.config = config
        self.skeleton = get_skeleton(config.skeleton)
        if runner is None:
            runner = TorchLiftRunner(config, net, completion, device)
        elif net is not None or completion is not None or device is not None:
            raise InvalidArgumentError("pass either runner= or the torch networks (net, completion, device), not both")
        self.runner = runner

    @property
    def backend(self) -> Backend:
        """``"torch"`` or ``"onnx"``: what runs the networks."""
        return self.runner.backend

    @property
    def net(self) -> Any:
        """The lifter network (:class:`~poselift.nets.LifterNet`; torch backend)."""
        return self._torch_runner().net

    @property
    def pipeline(self) -> Any:
        """The whole lift as one module (:class:`~poselift.pipeline.LiftPipeline`; torch backend)."""
        return self._torch_runner().pipeline

    @property
    def completion(self) -> Any:
        """The completion network (:class:`~poselift.nets.CompletionNet`) or ``None`` (torch backend)."""
        return self._torch_runner().completion

    @property
    def device(self) -> Any:
        """The torch device of the networks (torch backend)."""
        return self._torch_runner().device

    def __repr__(self) -> str:
        c = self.config
        return f"Lifter(skeleton={c.skeleton!r}, width={c.width}, blocks={c.blocks}, backend={self.backend!r}, {self.runner.describe()})"

    # ------------------------------------------------------------------ the model folder (Pretrained hooks)
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL, **options: Any) -> "Lifter":
        """Load a lifter from a folder, the bundled weights or the hub: :meth:`Pretrained.from_pretrained
        <poselift.pretrained.Pretrained.from_pretrained>` with the released default model."""
        return super().from_pretrained(name_or_path, **options)

    @classmethod
    def _stored_parameters(cls, config: LifterConfig) -> int:
        n = config.num_joints
        size = mlp_parameters_at_least(2 * n, config.width, config.blocks)
        if config.completion is not None:
            size += mlp_parameters_at_least(3 * n, config.completion.width, config.completion.blocks)
        return size

    @classmethod
    def _load_runner(
        cls,
        folder: Path,
        config: LifterConfig,
        backend: Backend | None,
        *,
        device: Any = None,
        providers: Any = None,
        intra_op_threads: int | None = None,
        session_options: Any = None,
        onnx_cache_dir: str | os.PathLike | None = None,
        opset: int = 17,
    ) -> tuple[LiftRunner, str]:
        """Runner options: ``device`` (torch); ``providers`` (onnxruntime execution providers in
        priority order, default ``["CPUExecutionProvider"]``), ``intra_op_threads`` (``None``/0:
        onnxruntime's default), ``session_options`` (an ``onnxruntime.SessionOptions`` used as it
        is), ``onnx_cache_dir`` (where graphs the folder does not ship are exported, with torch)
        and ``opset`` (of such an export) for ONNX."""
        return load_lift_runner(
            folder, config, backend=backend, device=device, providers=providers, intra_op_threads=intra_op_threads,
            session_options=session_options, cache_dir=onnx_cache_dir, opset=opset,
        )  # fmt: skip

    def card(self) -> str:
        return lifter_card(self.config)

    def _export_graphs(self, folder: Path) -> None:
        from .runners import export_completion, export_lift

        weights = folder / WEIGHTS_NAME  # the graphs read their weights from it: stored once
        export_lift(self._torch_runner(), self.config, folder / ONNX_NAME, weights_file=weights)
        if self.config.completion is not None:
            export_completion(self._torch_runner(), self.config, folder / COMPLETION_ONNX_NAME, weights_file=weights)

    def export_onnx(self, path: str | os.PathLike, *, opset: int = 17) -> Path:
        """Export the whole lift pipeline to one ONNX file with a dynamic batch (needs ``poselift[onnx]``)."""
        from .runners import export_lift

        return export_lift(self._torch_runner(), self.config, path, opset=opset)

    def to(self, device: Any) -> "Lifter":
        """Move the torch networks to ``device`` (the ONNX backend chooses with ``providers``)."""
        if self.backend != "torch" and str(device).split(":")[0] == "cpu":
            return self  # onnxruntime's CPU provider: already there
        if self.backend != "torch" and getattr(self, "_folder", None) is None:
            raise InvalidArgumentError(
                "an ONNX-backed lifter runs where its onnxruntime providers put it; "
                "load it with providers=[...] instead of calling .to()."
            )
        self._torch_runner().to(device)
        return self

    # ------------------------------------------------------------------ inference
    @overload
    def lift(
        self, keypoints: Array | Adapted, confidence: Array | None = None, *, height: float | None = None,
        units: Units = "m", batch_size: int | None = None, on_unliftable: Literal["raise"] = "raise", camera: Any = None,
    ) -> Array: ...  # fmt: skip

    @overload
    def lift(
        self, keypoints: Array | Adapted, confidence: Array | None = None, *, height: float | None = None,
        units: Units = "m", batch_size: int | None = None, on_unliftable: Literal["nan"], camera: Any = None,
    ) -> LiftResult: ...  # fmt: skip

    def lift(
        self,
        keypoints: Any,
        confidence: Any = None,
        *,
        height: float | None = None,
        units: Units = "m",
        batch_size: int | None = None,
        on_unliftable: Literal["raise", "nan"] = "raise",
        camera: Any = None,
        normalized: bool | None = None,
        return_filled: bool | None = None,
    ) -> Any:
        """Lift 2D keypoints to root-relative 3D in the camera frame.

        Args:
            keypoints: ``(*batch, N, 2)`` pixel coordinates (any offset and scale) in the
                model's joint layout (``self.skeleton``); ``np.ndarray`` or ``torch.Tensor``
                of integers or floats. Or the :class:`~poselift.adapt.Adapted` result of an
                adapter (``lifter.lift(adapt_openpose(kp))``), which carries its confidence.
            confidence: optional ``(*batch, N)`` per-joint confidence. Joints below
                ``config.confidence_threshold``, or with NaN or infinite coordinates, are
                missing (their coordinates are ignored) and are filled by the model's
                completion network before lifting. Without ``confidence`` every joint needs
                finite coordinates: ``lift`` cannot tell a missing joint from a broken one.
            height: body height in metres used to scale the output (default
                ``config.height``, 1.70 m); measured along the skeleton from the head to
                the feet (:func:`poselift.geometry.chain_height`). Must be finite and > 0.
            units: ``"m"`` (default) metres at ``height``; ``"normalized"`` the network's
                normalised units (the 2D pose scaled to RMS size ``1/c`` at depth ``c``; 3D
                RMS size about 1). Replaces ``normalized=True`` (deprecated).
            batch_size: poses per network call (>= 1); default the backend's best
                (``runner.batch_size``: 512 on a CPU, where the activations then stay in
                cache, 8192 on a GPU). Memory stays bounded for any number of poses.
            on_unliftable: what to do with a pose that cannot be lifted (a missing joint the
                model cannot fill, a NaN in a visible joint, all joints at one point; see
                :class:`~poselift.liftability.Unliftable`): ``"raise"`` (default) raises the
                :class:`~poselift.errors.KeypointValueError` that says which pose and why;
                ``"nan"`` lifts the others and returns a :class:`LiftResult` with NaN for
                the poses it could not lift, the masks and each pose's reason.
            camera: place the poses in the camera frame instead of root-relative: a
                :class:`poselift.camera.Camera`, a dict of intrinsics, or the image size
                ``(width, height)`` (focal length ``max(width, height)``, principal point at
                the centre). The root translation is solved from the 2D keypoints by
                confidence-weighted least squares; its depth scales with ``height``.
            normalized: deprecated spelling of ``units="normalized"``.
            return_filled: deprecated; ``on_unliftable="nan"`` returns the ``filled`` mask.

        Returns:
            ``on_unliftable="raise"``: the ``(*batch, N, 3)`` poses, in the container of
            ``keypoints`` (same device and dtype for floating-point tensors; float64 numpy
            input gives float64). Root-relative (or in the camera frame with ``camera``),
            OpenCV camera axes: x right, y down, z away from the camera.
            ``on_unliftable="nan"``: a :class:`LiftResult`. (Deprecated: ``return_filled=True``
            gives the tuple ``(poses, filled)``.) Finite input never gives NaN for a lifted pose.
        """
        if normalized is not None:
            _deprecated("normalized=...", 'units="normalized" (or units="m")')
            units = "normalized" if normalized else "m"
        if return_filled is not None:
            _deprecated("return_filled=True", 'lift(..., on_unliftable="nan"), whose result has .filled')
        keypoints, confidence = _unpack_adapted(keypoints, confidence)
        h = self._check_arguments(height, batch_size, on_unliftable, units)
        if camera is not None:
            from .camera import as_camera

            if h is None:
                raise CameraError(
                    'camera= needs metric poses: drop units="normalized" (normalized=True): the root depth depends on the body height.'
                )
            camera = as_camera(camera)  # implausible intrinsics fail before any work
        x, container, conf, tolerance = self._take_input(keypoints, confidence)
        done = self._lift_flat(x, conf, h, batch_size, on_unliftable, camera, tolerance)
        poses = container.restore(done.poses.reshape(*x.shape[:-1], 3))
        if on_unliftable == "nan":
            return done.result(poses, container, x.shape[:-1])
        if return_filled:
            return poses, container.restore(done.filled.reshape(x.shape[:-1]), floating=False)
        return poses

    def _lift_flat(
        self,
        x: np.ndarray,
        conf: np.ndarray | None,
        height: float | None,
        batch_size: int,
        on_unliftable: str,
        camera: Any,
        tolerance: float,
    ) -> Lifted:
        """The pipe on numpy arrays: ``x`` ``(*batch, N, 2)``, ``conf`` flat ``(B, N)`` or ``None``."""
        batch_shape = x.shape[:-2]
        n = self.skeleton.num_joints
        flat = x.reshape(-1, n, 2)
        min_visible = None if self.config.completion is None else self.config.completion.min_visible
        threshold = self.config.confidence_threshold
        found = assess(flat, conf, threshold=threshold, min_visible=min_visible, tolerance=tolerance)
        codes, missing = found.codes, found.missing
        if found.all_liftable:  # the common case: no masks to apply
            out = self._run(found.work, missing, height, batch_size)
            # one pass; NaN and inf survive the sum, finite lifts cannot overflow it (a few poses:
            # in Python floats, without numpy's per-call cost)
            finite = math.isfinite(sum(out.ravel().tolist()) if out.shape[0] <= FEW else out.sum())
        else:
            if on_unliftable == "raise":
                raise_unliftable(found, flat, self.skeleton, batch_shape, threshold=threshold, min_visible=min_visible)
            ok = codes == 0
            out = np.full((flat.shape[0], n, 3), np.nan, dtype=np.float32)
            rows = np.flatnonzero(ok)
            if rows.size:
                out[rows] = self._run(found.work[rows], None if missing is None else missing[rows], height, batch_size)
            finite = np.isfinite(out[rows]).all()
        if not finite:  # finite input gave NaN: broken weights
            broken = (codes == 0) & ~np.isfinite(out).all(axis=(-1, -2))
            if on_unliftable == "raise":
                first, _ = first_index(broken, batch_shape)
                raise WeightsError(
                    f"the network returned NaN or infinite values for {pose_label(first)} ({int(broken.sum())} pose(s)) "
                    "although its input was finite: the weights are broken; load them again or re-download them."
                )
            codes[broken] = _BROKEN
            out[broken] = np.nan
        if camera is not None:  # camera frame: translation solved by poselift.camera
            from .camera import place_rows

            place_rows(out, flat, missing, conf, camera, codes == 0)
            unplaced = (codes == 0) & ~np.isfinite(out).all(axis=(-1, -2))
            if unplaced.any() and on_unliftable == "raise":
                first, _ = first_index(unplaced, batch_shape)
                raise CameraError(
                    f"{pose_label(first)} ({int(unplaced.sum())} pose(s)) cannot be placed with "
                    f"camera {camera.to_dict()}: {Unliftable.CAMERA.description}. Check that the focal length is in "
                    "pixels and the keypoints are in the same image's pixels."
                )
            codes[unplaced] = _CAMERA
        if missing is None:
            return Lifted(out, codes, None, None)
        return Lifted(out, codes, missing & (codes == 0)[:, None], missing)

    def lift_sequence(
        self,
        keypoints: Any,
        confidence: Any = None,
        *,
        fps: float,
        causal: bool = False,
        height: float | None = None,
        on_unliftable: Literal["raise", "nan"] = "raise",
        batch_size: int | None = None,
        **params: Any,
    ) -> Any:
        """Lift a clip, using the whole clip: each frame as :meth:`lift` does, then the clip refined.

        The per-frame 3D is refined by :func:`poselift.sequence.refine_sequence` (numpy, no
        training, no torch): it re-projects onto the confidence-weighted 2D, moves smoothly,
        stays close to the network's per-frame output and keeps one length per bone.

        Args:
            keypoints: ``(*batch, frames, N, 2)`` pixels, frames in order at ``fps`` (or an
                :class:`~poselift.adapt.Adapted` result); each clip of the batch is refined
                on its own.
            confidence: optional ``(*batch, frames, N)``; weights the 2D, and joints below
                the threshold are missing (filled by the model, as in :meth:`lift`).
            fps: frames per second of the clip (the smoothing is set in Hz).
            causal: refine each frame from past frames and at most ``params["latency"]``
                future frames (default 5: 100 ms at 50 fps), as a live system can; default
                offline (the whole clip, centred).
            height: body height in metres; each clip is scaled so that its median chain
                height (:func:`poselift.geometry.chain_height`) is this (default the model's).
            on_unliftable: as in :meth:`lift`; frames that cannot be lifted are NaN with
                ``"nan"`` (gaps the refinement bridges) and raise with ``"raise"``.
            batch_size: poses per network call of the per-frame lift (default as in :meth:`lift`).
            **params: override :data:`poselift.sequence.SEQUENCE_DEFAULTS`.

        Returns:
            ``(*batch, frames, N, 3)`` root-relative metres in the camera axes, in the
            container of ``keypoints``; a :class:`LiftResult` with ``on_unliftable="nan"``.
        """
        from .sequence import refine_sequence

        keypoints, confidence = _unpack_adapted(keypoints, confidence)
        target = self._check_arguments(height, batch_size, on_unliftable, "m")
        x, container, conf, tolerance = self._take_input(keypoints, confidence, sequence=True)
        done = self._lift_flat(x, conf, None, batch_size, on_unliftable, None, tolerance)
        n = self.skeleton.num_joints
        frames = x.shape[-3]
        Xn = done.poses.astype(np.float64).reshape(-1, frames, n, 3)
        kp = x.reshape(-1, frames, n, 2).astype(np.float64)
        if conf is None:
            weights = np.ones(kp.shape[:-1])
        else:
            with np.errstate(invalid="ignore"):
                c = conf.astype(np.float64).reshape(kp.shape[:-1])
                weights = np.where(c >= self.config.confidence_threshold, np.clip(c, 0.0, 1.0), 0.0)
        weights = np.where(done.filled.reshape(kp.shape[:-1]), 0.0, weights)
        out = np.stack([
            refine_sequence(Xn[b], kp[b], weights[b], self.skeleton, c=float(self.config.c), fps=fps, height=target,
                            causal=causal, **params)
            for b in range(kp.shape[0])
        ]).reshape(*x.shape[:-1], 3)  # fmt: skip
        poses = container.restore(out)
        return done.result(poses, container, x.shape[:-1]) if on_unliftable == "nan" else poses

    # ------------------------------------------------------------------ helpers
    def _run(self, work: np.ndarray, missing: np.ndarray | None, height: float | None, batch_size: int | None) -> np.ndarray:
        """Lift the working-size poses ``work`` ``(B, N, 2)`` in chunks of ``batch_size`` (default
        the runner's), each in one runner call; a chunk with ``missing`` joints (``(B, N)`` or
        ``None``) passes ``visible``, so the runner fills them before it lifts."""
        size = batch_size or getattr(self.runner, "batch_size", CPU_BATCH)
        if work.shape[0] <= size:  # one chunk: no output buffer, no copy
            return self._run_chunk(work, missing, height)
        out = np.empty((work.shape[0], work.shape[1], 3), dtype=np.float32)
        for start in range(0, work.shape[0], size):
            rows = slice(start, start + size)
            out[rows] = self._run_chunk(work[rows], None if missing is None else missing[rows], height)
        return out

    def _run_chunk(self, work: np.ndarray, missing: np.ndarray | None, height: float | None) -> np.ndarray:
        if missing is None or not missing.any():  # a runner for complete poses needs no `visible`
            return self.runner.lift(work, height)
        return self.runner.lift(work, height, ~missing)

    def _take_input(self, keypoints: Any, confidence: Any, *, sequence: bool = False) -> tuple[np.ndarray, Container, Any, float]:
        """The checked input of :meth:`lift` (``sequence``: :meth:`lift_sequence`): numpy keypoints, their
        container, the flat ``(B, N)`` confidence or ``None``, the degenerate-pose tolerance."""
        x = to_numpy(keypoints)
        if sequence and x.ndim < 3:
            raise ShapeError(
                f"keypoints of a sequence must have shape (frames, {self.skeleton.num_joints}, 2); got {tuple(x.shape)}. "
                "For single poses call lift()."
            )
        container = Container.of(keypoints, x)
        check_keypoints(x, self.skeleton)
        conf = None if confidence is None else self._flat_confidence(confidence, x.shape[:-2])
        return x, container, conf, _tolerance(container, x)

    def _flat_confidence(self, confidence: Any, batch_shape: tuple[int, ...]) -> np.ndarray:
        """``confidence`` as a flat ``(B, N)`` numpy array, checked against the keypoints' batch shape."""
        n = self.skeleton.num_joints
        conf = to_numpy(confidence, "confidence")
        if tuple(conf.shape) != (*batch_shape, n):
            raise ShapeError(f"confidence must have shape {(*batch_shape, n)} to match keypoints; got {tuple(conf.shape)}.")
        return conf.reshape(-1, n)

    def _check_arguments(self, height: Any, batch_size: Any, on_unliftable: Any, units: Any) -> float | None:
        """Validate the scalar arguments of :meth:`lift`; returns the body height to scale to
        (``None`` for normalised units)."""
        if on_unliftable not in ("raise", "nan"):
            raise InvalidArgumentError(f"on_unliftable must be 'raise' or 'nan'; got {on_unliftable!r}.")
        if units not in ("m", "normalized"):
            raise InvalidArgumentError(f"units must be 'm' (metres) or 'normalized' (the network's units); got {units!r}.")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise InvalidArgumentError(
                f"batch_size must be a whole number >= 1 (poses per network call) or None (the backend's best); got {batch_size!r}."
            )
        value = float(self.config.height) if height is None else check_height(height)
        return None if units == "normalized" else value


def _tolerance(container: Container, x: np.ndarray) -> float:
    """Relative spread below which a pose of this input is all rounding noise (the tensor's dtype for tensors)."""
    t = container.tensor
    if t is not None and t.dtype.is_floating_point:
        return 4 * float(sys.modules["torch"].finfo(t.dtype).eps)
    return tolerance_of(x.dtype)


def lifter_card(config: LifterConfig) -> str:
    """The model card (``README.md``) of a lifter, from its config and metadata."""
    name = config.metadata.get("name", "path/to/this/folder")
    return model_card(
        title="poselift lifter",
        summary=(
            f"A poselift 2D-to-3D lifter for the `{config.skeleton}` joint layout "
            f"(residual MLP, width {config.width}, {config.blocks} blocks).\n\n"
            f"Supervision: {config.metadata.get('supervision', 'trained without 3D labels')}."
        ),
        usage="\n".join([
            "from poselift import Lifter",
            f"lifter = Lifter.from_pretrained({name!r})",
            "pose3d = lifter.lift(keypoints)  # (..., %d, 2) pixels -> (..., %d, 3) metres" % (config.num_joints, config.num_joints),
        ]),
        metadata=config.metadata,
        joint_names=config.joint_names,
    )
