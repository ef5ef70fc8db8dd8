"""``Lifter``: load weights, lift 2D keypoints to 3D, save and publish weights.

A ``Lifter`` checks inputs and converts containers; the networks run in its runner
(:mod:`poselift.runners`): torch modules, or onnxruntime sessions when torch is not
installed (or ``backend="onnx"``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np

from ._arrays import Container, is_tensor, to_numpy
from .adapt import Adapted
from .config import LifterConfig
from .errors import (
    CameraError,
    DegeneratePoseError,
    EmptyInputError,
    InvalidArgumentError,
    MissingDependencyError,
    MissingJointsError,
    NonFiniteError,
    PoseliftError,
    ShapeError,
    WeightsError,
    install_hint,
)
from .runners import Backend, LiftRunner, TorchLiftRunner, load_lift_runner, torch_available
from .skeleton import Skeleton, get_skeleton, guess_layouts
from .weights import (
    COMPLETION_ONNX_NAME,
    CONFIG_NAME,
    DEFAULT_MODEL,
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

__all__ = ["Lifter", "LiftResult", "UNLIFTABLE_REASONS", "check_keypoints", "lifter_card"]

logger = logging.getLogger(__name__)

Array = TypeVar("Array")  # np.ndarray or torch.Tensor: results come back in the caller's container

_ADAPT_HINT = {
    "openpose_body25": "looks like OpenPose BODY_25: call adapt_openpose(keypoints, layout='body25') first",
    "openpose_coco18": "looks like OpenPose COCO-18: call adapt_openpose(keypoints, layout='coco18') first",
    "coco17": "looks like COCO-17: call adapt_coco17(keypoints) first",
    "mpii16": "looks like MPII-16: call adapt_mpii16(keypoints) first",
    "h36m17": "looks like Human3.6M-17: load a 17-joint model, e.g. Lifter.from_pretrained('poselift/h36m-17')",
    "lsp14": "looks like the 14-joint LSP layout: load a 14-joint model, e.g. Lifter.from_pretrained('poselift/h36m-14')",
}


def _layout_hint(num_joints: int) -> str:
    hints = [_ADAPT_HINT[name] for name in guess_layouts(num_joints) if name in _ADAPT_HINT]
    return (" " + hints[0] + ".") if hints else ""


def check_keypoints(x: np.ndarray, skeleton: Skeleton, name: str = "keypoints") -> None:
    """Raise a specific error if ``x`` is not a non-empty ``(*batch, N, 2)`` array for ``skeleton``."""
    n = skeleton.num_joints
    expected = f"(..., {n}, 2)"
    shape = tuple(x.shape)
    if x.ndim < 2:
        raise ShapeError(f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.")
    if shape[-1] != 2:
        hint = ""
        if shape[-1] == 3:
            hint = f" A last dimension of 3 looks like (x, y, confidence): pass {name}[..., :2] and confidence={name}[..., 2]."
        raise ShapeError(f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.{hint}")
    if shape[-2] != n:
        raise ShapeError(
            f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.{_layout_hint(shape[-2])}"
        )
    if x.size == 0:
        raise EmptyInputError(f"{name} hold no poses (shape {shape}); pass at least one pose of shape ({n}, 2).")


def _pose(index: tuple[int, ...]) -> str:
    """``"pose (4, 2)"`` for an index into the batch, ``"the pose"`` for a single pose."""
    return f"pose {index}" if index else "the pose"


def _unpack_adapted(keypoints: Any, confidence: Any) -> tuple[Any, Any]:
    """``(keypoints, confidence)`` of an :class:`~poselift.adapt.Adapted` result, or the arguments as given."""
    if isinstance(keypoints, Adapted):
        if confidence is not None:
            raise InvalidArgumentError(
                "an adapter result already carries its confidence: call lifter.lift(adapted) without confidence=."
            )
        return keypoints.keypoints, keypoints.confidence
    return keypoints, confidence


def _first_index(mask: np.ndarray, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
    flat = int(np.flatnonzero(np.asarray(mask).reshape(-1))[0])
    return tuple(int(i) for i in np.unravel_index(flat, batch_shape)) if batch_shape else ()


#: Why ``lift(..., on_unliftable="nan")`` did not lift a pose (:attr:`LiftResult.reason`).
UNLIFTABLE_REASONS: dict[str, str] = {
    "missing_joints": "joints below the confidence threshold that the model cannot fill "
    "(no completion network, or fewer visible joints than it needs)",
    "nonfinite": "NaN or infinite coordinates in a joint that is not marked missing",
    "degenerate": "all visible joints at one point (within the precision of the input)",
    "nonfinite_output": "the network returned NaN or infinite values (broken weights)",
    "camera": "no place in the camera frame re-projects the pose onto its keypoints (closer than 0.1 m, "
    "or behind the camera): the intrinsics do not fit the keypoints",
}
_CODES = ("", "missing_joints", "nonfinite", "degenerate", "nonfinite_output", "camera")
#: Body heights ``lift`` accepts, in metres (beyond them the output leaves float32's useful range).
HEIGHT_RANGE_M = (0.1, 10.0)
#: Root-mean-square size, in pixels, that every pose is brought to before the network sees it.
_WORKING_SIZE = 100.0


class LiftResult(NamedTuple):
    """What ``lift(..., on_unliftable="nan")`` returns: every pose, lifted or not, with masks.

    ``poses`` ``(*batch, N, 3)`` (NaN for poses that were not lifted), ``lifted``
    ``(*batch,)`` bool and ``filled`` ``(*batch, N)`` bool (joints filled by the completion
    network) in the container of the input; ``reason`` ``(*batch,)`` numpy strings, ``""``
    for lifted poses, else a key of :data:`UNLIFTABLE_REASONS`.
    """

    poses: Any
    lifted: Any
    filled: Any
    reason: np.ndarray


#: Poses screened at a time: the float64 temporaries of :func:`_screen` stay a few MB for any input.
_SCREEN_ROWS = 4096


def _screen(
    x: np.ndarray, missing: np.ndarray | None, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_screen_rows` over chunks of :data:`_SCREEN_ROWS` poses, so memory stays bounded by
    the float32 working copy (F32: whole-input float64 copies took 8 GB for 5e6 poses)."""
    B = x.shape[0]
    nonfinite, degenerate = np.empty(B, dtype=bool), np.empty(B, dtype=bool)
    x_work = np.empty(x.shape, dtype=np.float32)
    for s in range(0, B, _SCREEN_ROWS):
        rows = slice(s, s + _SCREEN_ROWS)
        nonfinite[rows], degenerate[rows], x_work[rows] = _screen_rows(x[rows], None if missing is None else missing[rows], tol)
    return nonfinite, degenerate, x_work


def _screen_rows(
    x: np.ndarray, missing: np.ndarray | None, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check ``(B, N, 2)`` poses and bring them to one working size, in float64.

    Returns ``(nonfinite, degenerate, x_work)``: ``(B,)`` masks of poses with a non-finite
    visible joint and of poses whose visible joints lie within ``tol`` (relative) of one
    point, and the poses centred on their visible joints and scaled to RMS size
    :data:`_WORKING_SIZE` (missing joints 0), float32. Lifting is translation and scale
    equivariant, so this changes nothing but the rounding; it keeps poses of any offset
    and scale (1e-30 to 1e300 px) inside the float32 range of the network.
    """
    xd = np.asarray(x, dtype=np.float64)
    visible = np.ones(xd.shape[:2], dtype=bool) if missing is None else ~missing
    finite = np.isfinite(xd).all(axis=-1)
    nonfinite = (visible & ~finite).any(axis=-1)
    use = visible & finite
    count = np.maximum(use.sum(axis=-1), 1)[:, None, None]
    with np.errstate(all="ignore"):
        xv = np.where(use[..., None], xd, 0.0)
        magnitude = np.abs(xv).max(axis=(-1, -2), initial=0.0)
        u = xv / np.where(magnitude > 0, magnitude, 1.0)[:, None, None]  # within [-1, 1]: no overflow below
        centre = u.sum(axis=-2, keepdims=True) / count
        dev = np.where(use[..., None], u - centre, 0.0)
        spread = np.sqrt(np.square(dev).sum(axis=(-1, -2)) / count[:, 0, 0])  # relative to the magnitude
        degenerate = ~nonfinite & (spread <= tol * np.maximum(1.0, 1.0 / magnitude))
        x_work = dev * (_WORKING_SIZE / np.where(spread > 0, spread, 1.0))[:, None, None]
    return nonfinite, degenerate, x_work.astype(np.float32)


def _tolerance(keypoints: Any, x: np.ndarray) -> float:
    """Relative spread below which a pose of this input dtype is all rounding noise."""
    if is_tensor(keypoints) and keypoints.dtype.is_floating_point:
        return 4 * float(sys.modules["torch"].finfo(keypoints.dtype).eps)
    if x.dtype.kind == "f":
        return 4 * float(np.finfo(x.dtype).eps)
    return 4 * float(np.finfo(np.float64).eps)  # integers convert exactly


def _warn_if_normalised(x: np.ndarray) -> None:
    """Warn when every coordinate lies within [-1, 1]: keypoints normalised to the image size.

    The lift is invariant to a pose's position and overall scale, but not to different
    scales of x and y, which normalising by the image width and height introduces.
    """
    if x.size == 0:
        return
    biggest = 0.0
    for s in range(0, x.shape[0], _SCREEN_ROWS):  # in chunks: no whole-input temporaries
        chunk = x[s : s + _SCREEN_ROWS]
        with np.errstate(invalid="ignore"):
            if np.isfinite(chunk).any():
                biggest = max(biggest, float(np.nanmax(np.abs(chunk))))
    if 0.0 < biggest <= 1.0:
        logger.warning(
            "all keypoint coordinates lie within [-1, 1]: they look normalised to the image size (e.g. OpenPose "
            "with --keypoint_scale, or the Kinetics skeletons, normalised to 340x256). Multiply x by the image width "
            "and y by the image height first: unequal scales of x and y distort the lifted pose."
        )


class Lifter:
    """A trained 2D-to-3D lifter.

    >>> lifter = Lifter.from_pretrained("path/to/folder")      # doctest: +SKIP
    >>> pose3d = lifter.lift(keypoints)                        # (*batch, N, 2) px -> (*batch, N, 3) m

    ``Lifter(config)`` builds fresh torch networks (for training); ``Lifter(config, net,
    completion=...)`` wraps trained ones; ``Lifter(config, runner=...)`` takes any runner.
    """

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
            raise ValueError("pass either runner= or the torch networks (net, completion, device), not both")
        self.runner = runner

    @property
    def backend(self) -> Backend:
        """``"torch"`` or ``"onnx"``: what runs the networks."""
        return self.runner.backend

    def _torch(self) -> TorchLiftRunner:
        if not isinstance(self.runner, TorchLiftRunner):
            if not torch_available():
                raise MissingDependencyError(
                    f"this lifter runs on the {self.backend} backend because torch is not installed; training, "
                    f"saving, moving or exporting it needs torch. Install it with: {install_hint('torch')}, "
                    "then load it again."
                )
            raise PoseliftError(
                f"this lifter runs on the {self.backend} backend and holds no torch modules; "
                "load it with backend='torch' to train, save or move it."
            )
        return self.runner

    @property
    def net(self) -> Any:
        """The lifter network (:class:`~poselift.nets.LifterNet`; torch backend)."""
        return self._torch().net

    @property
    def pipeline(self) -> Any:
        """The whole lift as one module (:class:`~poselift.pipeline.LiftPipeline`; torch backend)."""
        return self._torch().pipeline

    @property
    def completion(self) -> Any:
        """The completion network (:class:`~poselift.nets.CompletionNet`) or ``None`` (torch backend)."""
        return self._torch().completion

    @property
    def device(self) -> Any:
        """The torch device of the networks (torch backend)."""
        return self._torch().device

    def modules(self) -> dict[str, Any]:
        """The networks of this lifter by their key prefix in ``model.safetensors`` (torch backend)."""
        return self._torch().modules()

    def __repr__(self) -> str:
        c = self.config
        return f"Lifter(skeleton={c.skeleton!r}, width={c.width}, blocks={c.blocks}, backend={self.backend!r}, {self.runner.describe()})"

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        backend: Backend | None = None,
        **runner_options: Any,
    ) -> "Lifter":
        """Load a lifter from a folder, the bundled weights or the hub (see :mod:`poselift.weights`).

        ``backend``: ``"torch"`` or ``"onnx"``; default torch when it is installed, else
        onnxruntime. ``runner_options`` go to :meth:`from_folder` (``device`` for torch;
        ``providers``, ``intra_op_threads``, ``session_options``, ``onnx_cache_dir`` for ONNX).
        """
        folder = resolve_model(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        return cls.from_folder(folder, backend=backend, **runner_options)

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike,
        *,
        backend: Backend | None = None,
        device: Any = None,
        providers: Any = None,
        intra_op_threads: int | None = None,
        session_options: Any = None,
        onnx_cache_dir: str | os.PathLike | None = None,
        opset: int = 17,
    ) -> "Lifter":
        """Load ``config.json`` and the weights of a model folder onto a backend.

        The ONNX backend uses the folder's ``model.onnx`` (and ``completion.onnx``) when they
        were exported from its weights; otherwise, with torch installed, it exports them once
        into ``onnx_cache_dir`` (default ``~/.cache/poselift/onnx``); without torch it raises
        :class:`~poselift.errors.MissingDependencyError`.

        Args:
            backend: ``"torch"``, ``"onnx"`` or ``None`` (torch when installed).
            device: torch device (torch backend; the ONNX backend takes ``providers``).
            providers: onnxruntime execution providers in priority order (names or
                ``(name, options)`` tuples); default ``["CPUExecutionProvider"]``.
            intra_op_threads: onnxruntime threads per operator (``None``/0: its default).
            session_options: an ``onnxruntime.SessionOptions`` used as it is.
            onnx_cache_dir: where exported graphs are cached.
            opset: ONNX opset of an export.
        """
        folder = Path(folder)
        source = str(folder / CONFIG_NAME)
        data = read_config(folder)
        digest = pop_digest(data, source)
        config = LifterConfig.from_dict(data, source=source)
        n = config.num_joints
        size = mlp_parameters_at_least(2 * n, config.width, config.blocks)
        if config.completion is not None:
            size += mlp_parameters_at_least(3 * n, config.completion.width, config.completion.blocks)
        check_stored_size(folder, size, "lifter")  # before any network is built
        runner, found = load_lift_runner(
            folder, config, backend=backend, device=device, providers=providers, intra_op_threads=intra_op_threads,
            session_options=session_options, cache_dir=onnx_cache_dir, opset=opset,
        )
        verify_weights(folder, digest, found)  # after the loader's more specific checks (keys, shapes, NaN)
        logger.info("loaded %s lifter from %s (%s backend)", config.skeleton, folder, runner.backend)
        return cls(config, runner=runner)

    def save_pretrained(self, folder: str | os.PathLike, *, dtype: Any = None, onnx: bool = False) -> Path:
        """Write ``model.safetensors``, ``config.json`` and a model card ``README.md`` (torch backend).

        ``dtype=torch.float16`` stores floating-point weights at half size (they are
        loaded back into float32). ``onnx=True`` also writes the ONNX graphs
        (``model.onnx``, and ``completion.onnx`` if there is a completion network), so the
        folder serves without torch.
        """
        folder = save_folder(
            folder, self.modules(), self.config.to_json(), lifter_card(self.config), dtype=dtype,
            metadata={"poselift_format_version": str(self.config.format_version)},
        )
        if onnx:
            loaded = Lifter.from_folder(folder, backend="torch")  # the weights as stored (dtype)
            from .runners import export_completion, export_lift

            weights = folder / WEIGHTS_NAME  # the graphs read their weights from it: stored once
            export_lift(loaded.runner, self.config, folder / ONNX_NAME, weights_file=weights)
            if self.config.completion is not None:
                export_completion(loaded.runner, self.config, folder / COMPLETION_ONNX_NAME, weights_file=weights)
        return folder

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str = "Upload poselift lifter") -> str:
        """Upload the ``save_pretrained(folder, onnx=True)`` folder to a hub repository; returns the commit URL."""
        return push_folder(lambda f: self.save_pretrained(f, onnx=True), repo_id, private=private, token=token, commit_message=commit_message)

    def export_onnx(self, path: str | os.PathLike, *, opset: int = 17) -> Path:
        """Export the whole lift pipeline to one ONNX file with a dynamic batch (needs ``poselift[onnx]``)."""
        from .runners import export_lift

        return export_lift(self._torch(), self.config, path, opset=opset)

    def to(self, device: Any) -> "Lifter":
        """Move the torch networks to ``device`` (the ONNX backend chooses with ``providers``)."""
        if self.backend != "torch":
            if str(device).split(":")[0] == "cpu":
                return self  # onnxruntime's CPU provider: already there
            raise ValueError(
                "an ONNX-backed lifter runs where its onnxruntime providers put it; "
                "load it with providers=[...] instead of calling .to()."
            )
        self._torch().to(device)
        return self

    # ------------------------------------------------------------------ inference
    def lift(
        self,
        keypoints: Array | Adapted,
        confidence: Array | None = None,
        *,
        height: float | None = None,
        normalized: bool = False,
        batch_size: int = 4096,
        return_filled: bool = False,
        on_unliftable: Literal["raise", "nan"] = "raise",
        camera: Any = None,
    ) -> Array | tuple[Array, Array] | LiftResult:
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
            normalized: return the network's normalised units instead of metres (the
                2D pose scaled to RMS size ``1/c`` at depth ``c``; 3D RMS size about 1).
            batch_size: poses per forward pass (>= 1); bounds memory for huge inputs
                (the default's speed is measured in ``benchmarks/RESULTS.md``).
            return_filled: also return the ``(*batch, N)`` bool mask of filled joints.
            on_unliftable: what to do with a pose that cannot be lifted (a missing joint the
                model cannot fill, a NaN in a visible joint, all joints at one point; see
                :data:`UNLIFTABLE_REASONS`): ``"raise"`` (default) raises the
                :class:`~poselift.errors.KeypointValueError` that says which pose and why;
                ``"nan"`` lifts the others and returns a :class:`LiftResult` with NaN for
                the poses it could not lift, the ``lifted`` mask and each pose's reason.
            camera: place the poses in the camera frame instead of root-relative: a
                :class:`poselift.camera.Camera`, a dict of intrinsics, or the image size
                ``(width, height)`` (focal length ``max(width, height)``, principal point at
                the centre). The root translation is solved from the 2D keypoints by
                confidence-weighted least squares; its depth scales with ``height``.

        Returns:
            ``(*batch, N, 3)``, same container as ``keypoints`` (and same device and dtype
            for floating-point tensors; float64 numpy input gives float64). Root-relative,
            OpenCV camera axes: x right, y down, z away from the camera. With
            ``return_filled``, the tuple ``(poses, filled)``; with ``on_unliftable="nan"``,
            a :class:`LiftResult`. Finite input never gives NaN for a lifted pose.
        """
        keypoints, confidence = _unpack_adapted(keypoints, confidence)
        target = self._check_arguments(height, batch_size, on_unliftable)
        if camera is not None:
            from .camera import as_camera

            camera = as_camera(camera)  # implausible intrinsics fail before any work
        x = to_numpy(keypoints)
        container = Container.of(keypoints, x)
        check_keypoints(x, self.skeleton)
        batch_shape = tuple(x.shape[:-2])
        n = self.skeleton.num_joints
        host = x.reshape(-1, n, 2)
        missing, too_few = self._missing(confidence, batch_shape, host)
        nonfinite, degenerate, work = _screen(host, missing, _tolerance(keypoints, x))
        _warn_if_normalised(host)
        codes = np.zeros(host.shape[0], dtype=np.int8)
        for code, mask in ((3, degenerate), (2, nonfinite), (1, too_few)):  # the first reason wins
            codes[mask] = code
        if on_unliftable == "raise" and codes.any():
            self._raise_unliftable(codes, host, missing, batch_shape)
        ok = codes == 0
        h = 0.0 if normalized else target
        if ok.all():
            out = self._lift_rows(work, missing, h, batch_size)
        else:
            out = np.full((host.shape[0], n, 3), np.nan, dtype=np.float32)
            if ok.any():
                rows = np.flatnonzero(ok)
                out[rows] = self._lift_rows(work[rows], None if missing is None else missing[rows], h, batch_size)
        broken = ok & ~np.isfinite(out).all(axis=(-1, -2))
        if broken.any():
            if on_unliftable == "raise":
                first = _first_index(broken, batch_shape)
                raise WeightsError(
                    f"the network returned NaN or infinite values for {_pose(first)} ({int(broken.sum())} pose(s)) "
                    "although its input was finite: the weights are broken; load them again or re-download them."
                )
            codes[broken] = 4
            out[broken] = np.nan
        out = out.reshape(*batch_shape, n, 3).astype(np.float64 if container.float64 else np.float32, copy=False)
        filled_np = np.zeros((host.shape[0], n), dtype=bool) if missing is None else missing & (codes == 0)[:, None]
        filled_np = filled_np.reshape(*batch_shape, n)
        if camera is not None:  # camera frame: translation solved by poselift.camera
            out = self._place_in_camera(out, host, missing, confidence, camera, normalized, codes == 0)
            unplaced = (codes == 0) & ~np.isfinite(out.reshape(-1, n, 3)).all(axis=(-1, -2))
            if unplaced.any() and on_unliftable == "raise":
                raise CameraError(
                    f"{_pose(_first_index(unplaced, batch_shape))} ({int(unplaced.sum())} pose(s)) cannot be placed with "
                    f"camera {camera.to_dict()}: {UNLIFTABLE_REASONS['camera']}. Check that the focal length is in "
                    "pixels and the keypoints are in the same image's pixels."
                )
            codes[unplaced] = 5
            filled_np = filled_np & (codes == 0).reshape(*batch_shape, 1)
        poses = container.restore(out)
        filled = container.restore(filled_np, floating=False)
        if on_unliftable == "nan":
            lifted_np = (codes == 0).reshape(batch_shape)
            reason = np.array(_CODES, dtype=str)[codes].reshape(batch_shape)
            return LiftResult(poses, container.restore(lifted_np, floating=False), filled, reason)
        if not return_filled:
            return poses
        return poses, filled

    def lift_sequence(
        self,
        keypoints: Array | Adapted,
        confidence: Array | None = None,
        *,
        fps: float,
        causal: bool = False,
        height: float | None = None,
        on_unliftable: Literal["raise", "nan"] = "raise",
        batch_size: int = 4096,
        **params: Any,
    ) -> Array | LiftResult:
        """Lift a clip, using the whole clip: each frame with :meth:`lift`, then the clip refined.

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
            batch_size: poses per forward pass of the per-frame lift.
            **params: override :data:`poselift.sequence.SEQUENCE_DEFAULTS`.

        Returns:
            ``(*batch, frames, N, 3)`` root-relative metres in the camera axes, in the
            container of ``keypoints``; a :class:`LiftResult` with ``on_unliftable="nan"``.
        """
        from .sequence import refine_sequence

        keypoints, confidence = _unpack_adapted(keypoints, confidence)
        target = self._check_arguments(height, batch_size, on_unliftable)
        x = to_numpy(keypoints)
        if x.ndim < 3:
            raise ShapeError(
                f"keypoints of a sequence must have shape (frames, {self.skeleton.num_joints}, 2); got {tuple(x.shape)}. "
                "For single poses call lift()."
            )
        container = Container.of(keypoints, x)
        if on_unliftable == "raise":  # the errors of lift(), for the first frame that cannot be lifted
            poses, filled = self.lift(keypoints, confidence, normalized=True, batch_size=batch_size, return_filled=True)
            result = LiftResult(poses, np.ones(x.shape[:-2], dtype=bool), filled, np.full(x.shape[:-2], "", dtype=str))
        else:
            result = self.lift(keypoints, confidence, normalized=True, batch_size=batch_size, on_unliftable="nan")
        n = self.skeleton.num_joints
        Xn = to_numpy(result.poses).reshape(-1, *x.shape[-3:-1], 3)
        filled = result.filled.detach().cpu().numpy() if is_tensor(result.filled) else np.asarray(result.filled)
        filled = filled.reshape(-1, *x.shape[-3:-1])
        kp = x.reshape(-1, *x.shape[-3:]).astype(np.float64)
        if confidence is None:
            weights = np.ones(kp.shape[:-1])
        else:
            conf = to_numpy(confidence, "confidence").astype(np.float64).reshape(kp.shape[:-1])
            with np.errstate(invalid="ignore"):
                weights = np.where(conf >= self.config.confidence_threshold, np.clip(conf, 0.0, 1.0), 0.0)
        weights = np.where(filled, 0.0, weights)
        out = np.stack([
            refine_sequence(Xn[b], kp[b], weights[b], self.skeleton, c=float(self.config.c), fps=fps, height=target,
                            causal=causal, **params)
            for b in range(kp.shape[0])
        ]).reshape(*x.shape[:-2], n, 3)  # fmt: skip
        poses = container.restore(out)
        if on_unliftable == "nan":
            return result._replace(poses=poses)
        return poses

    def _place_in_camera(
        self,
        out: np.ndarray,
        host: np.ndarray,
        missing: np.ndarray | None,
        confidence: Any,
        camera: Any,
        normalized: bool,
        ok: np.ndarray,
    ) -> np.ndarray:
        """Move the lifted poses (``ok``) into the camera frame with :func:`poselift.camera.place_in_camera`,
        in place, :data:`_SCREEN_ROWS` poses at a time (the solve's temporaries stay small)."""
        from .camera import place_in_camera

        n = self.skeleton.num_joints
        conf_all = None if confidence is None else to_numpy(confidence, "confidence").reshape(-1, n)
        flat = out.reshape(-1, n, 3)
        rows = np.flatnonzero(ok)
        for s in range(0, rows.size, _SCREEN_ROWS):
            r = rows[s : s + _SCREEN_ROWS]
            kp = host[r] if missing is None else np.where(missing[r, :, None], 0.0, host[r])  # missing: weight 0 below
            conf = None
            if conf_all is not None:
                conf = conf_all[r].astype(np.float64)
                conf = np.where(missing[r], 0.0, conf) if missing is not None else conf
            flat[r] = place_in_camera(flat[r], kp, camera, conf, normalized=normalized)
        return flat.reshape(out.shape)

    def _check_arguments(self, height: Any, batch_size: Any, on_unliftable: Any) -> float:
        """Validate the scalar arguments of :meth:`lift`; returns the body height to use."""
        if on_unliftable not in ("raise", "nan"):
            raise InvalidArgumentError(f"on_unliftable must be 'raise' or 'nan'; got {on_unliftable!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a whole number >= 1 (poses per forward pass); got {batch_size!r}.")
        if height is None:
            return float(self.config.height)
        if isinstance(height, (bool, np.bool_, str, bytes)):
            raise InvalidArgumentError(f"height must be a number of metres, e.g. 1.70; got {height!r}.")
        try:
            value = float(height)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"height must be a number of metres, e.g. 1.70; got {height!r}.") from None
        lo, hi = HEIGHT_RANGE_M
        if not (math.isfinite(value) and lo <= value <= hi):
            hint = f" {value:g} looks like centimetres: pass {value / 100:.2f}." if 30 <= value <= 300 else ""
            raise InvalidArgumentError(
                f"height must be a body height in metres between {lo:g} and {hi:g}, e.g. 1.70; got {height!r}.{hint} "
                "For the network's normalised units pass normalized=True instead."
            )
        return value

    def _lift_rows(self, work: np.ndarray, missing: np.ndarray | None, height: float, batch_size: int) -> np.ndarray:
        """Lift the working-size poses ``work`` ``(B, N, 2)`` in chunks: fill missing joints, then lift."""
        if missing is not None and not missing.any():
            missing = None
        if work.shape[0] <= batch_size:  # one chunk: no output buffer, no copy
            return self.runner.lift(work if missing is None else self.runner.complete(work, ~missing), height)
        out = np.empty((work.shape[0], work.shape[1], 3), dtype=np.float32)
        for start in range(0, work.shape[0], batch_size):
            chunk = work[start : start + batch_size]
            if missing is not None:
                chunk = self.runner.complete(chunk, ~missing[start : start + batch_size])
            out[start : start + batch_size] = self.runner.lift(chunk, height)
        return out

    def _missing(
        self, confidence: Any, batch_shape: tuple[int, ...], host: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """``(B, N)`` mask of missing joints (``None``: none) and the ``(B,)`` mask of poses
        with missing joints this model cannot fill.

        With a confidence, a joint is missing when its confidence is below the threshold
        (or NaN) or its coordinates are not finite, as in the adapters and readers. Without
        one, no joint is missing: non-finite coordinates are refused later, since ``lift``
        cannot tell a missing joint from a broken one (e.g. an adapter result whose
        confidence was dropped)."""
        n = self.skeleton.num_joints
        rows = int(np.prod(batch_shape, dtype=np.int64))
        none = np.zeros(rows, dtype=bool)
        if confidence is None:
            return None, none
        conf = to_numpy(confidence, "confidence")
        if tuple(conf.shape) != (*batch_shape, n):
            raise ShapeError(f"confidence must have shape {(*batch_shape, n)} to match keypoints; got {tuple(conf.shape)}.")
        view = conf.reshape(rows, n)
        with np.errstate(invalid="ignore"):
            missing = ~(view >= self.config.confidence_threshold)  # NaN confidence counts as missing
        missing |= ~np.isfinite(host).all(axis=-1)
        if not missing.any():
            return None, none
        if self.config.completion is None:
            return missing, missing.any(axis=-1)
        visible = n - missing.sum(axis=-1)
        return missing, missing.any(axis=-1) & (visible < self.config.completion.min_visible)

    def _raise_unliftable(
        self, codes: np.ndarray, host: np.ndarray, missing: np.ndarray | None, batch_shape: tuple[int, ...]
    ) -> None:
        """Raise the error that explains the first unliftable pose (missing joints first)."""
        n = self.skeleton.num_joints
        threshold = self.config.confidence_threshold
        if (codes == 1).any():
            first = _first_index(codes == 1, batch_shape)
            row = int(np.ravel_multi_index(first, batch_shape)) if batch_shape else 0
            if self.config.completion is None:
                raise MissingJointsError(
                    f"{_pose(first)} has joints below confidence {threshold}: "
                    f"{self._names(missing, row)}. This model cannot fill missing joints (it has no "
                    "completion network): load one that has (e.g. the released poselift/h36m-17) or drop those poses, "
                    'or pass on_unliftable="nan" to get NaN for them.'
                )
            raise MissingJointsError(
                f"{_pose(first)} has only {n - int(missing[row].sum())} of {n} joints above confidence {threshold}; "
                f"at least {self.config.completion.min_visible} are needed to fill the rest "
                f"({int((codes == 1).sum())} such pose(s)). Drop those poses, or pass on_unliftable=\"nan\" to get NaN for them."
            )
        if (codes == 2).any():
            bad_joints = ~np.isfinite(host).all(axis=-1)
            if missing is not None:
                bad_joints &= ~missing
            first = _first_index(codes == 2, batch_shape)
            row = int(np.ravel_multi_index(first, batch_shape)) if batch_shape else 0
            raise NonFiniteError(
                f"keypoints contain NaN or infinite values in {int((codes == 2).sum())} pose(s)"
                + (f", first at index {first}" if first else "")
                + " "
                f"(joints {self._names(bad_joints, row)}). "
                "Mark undetected joints with confidence 0 (confidence=...) instead of NaN; an adapter result "
                "has NaN at its missing joints: pass it whole, lifter.lift(adapted), or with its confidence."
            )
        first = _first_index(codes == 3, batch_shape)
        raise DegeneratePoseError(
            f"{_pose(first)} is degenerate: all its joints lie at one point, so it has no shape to lift. "
            f"Check the detector output ({int((codes == 3).sum())} such pose(s))."
        )

    def _names(self, mask: np.ndarray, row: int) -> list[str]:
        return [self.skeleton.joints[j] for j in np.flatnonzero(mask[row])]


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
