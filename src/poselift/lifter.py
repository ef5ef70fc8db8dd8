"""``Lifter``: load weights, lift 2D keypoints to 3D, save and publish weights."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import torch

from . import geometry
from ._arrays import as_tensor
from .adapt import Adapted
from .config import LifterConfig
from .errors import (
    DegeneratePoseError,
    EmptyInputError,
    InvalidArgumentError,
    MissingJointsError,
    NonFiniteError,
    ShapeError,
    WeightsError,
)
from .hub import CARD_NAME, CONFIG_NAME, DEFAULT_MODEL, WEIGHTS_NAME, resolve_model
from .nets import CompletionNet, LifterNet
from .skeleton import Skeleton, get_skeleton, guess_layouts

__all__ = ["Lifter", "LiftPipeline", "LiftResult", "UNLIFTABLE_REASONS", "check_keypoints"]

logger = logging.getLogger(__name__)

Array = TypeVar("Array", np.ndarray, torch.Tensor)

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


def check_keypoints(x: torch.Tensor, skeleton: Skeleton, name: str = "keypoints") -> None:
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
    if x.numel() == 0:
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


def _first_index(mask: torch.Tensor | np.ndarray, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
    flat = int(np.flatnonzero(np.asarray(mask).reshape(-1))[0])
    return tuple(int(i) for i in np.unravel_index(flat, batch_shape)) if batch_shape else ()


#: Why ``lift(..., on_unliftable="nan")`` did not lift a pose (:attr:`LiftResult.reason`).
UNLIFTABLE_REASONS: dict[str, str] = {
    "missing_joints": "joints below the confidence threshold that the model cannot fill "
    "(no completion network, or fewer visible joints than it needs)",
    "nonfinite": "NaN or infinite coordinates in a joint that is not marked missing",
    "degenerate": "all visible joints at one point (within the precision of the input)",
    "nonfinite_output": "the network returned NaN or infinite values (broken weights)",
}
_CODES = ("", "missing_joints", "nonfinite", "degenerate", "nonfinite_output")
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


def _host_array(x: torch.Tensor) -> np.ndarray:
    """A numpy array of ``x`` (a zero-copy view of CPU tensors; float32 for dtypes numpy lacks)."""
    x = x.detach()
    if x.dtype == torch.bfloat16:
        x = x.float()
    return x.cpu().numpy()


def _screen(
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


def _tolerance(dtype: torch.dtype) -> float:
    """Relative spread below which a pose of this input dtype is all rounding noise."""
    if dtype.is_floating_point:
        return 4 * float(torch.finfo(dtype).eps)
    return 4 * float(np.finfo(np.float64).eps)  # integers convert exactly


class Lifter:
    """A trained 2D-to-3D lifter.

    >>> lifter = Lifter.from_pretrained("path/to/folder")      # doctest: +SKIP
    >>> pose3d = lifter.lift(keypoints)                        # (*batch, N, 2) px -> (*batch, N, 3) m
    """

    def __init__(
        self,
        config: LifterConfig,
        net: LifterNet | None = None,
        *,
        completion: CompletionNet | None = None,
        device: str | torch.device | None = None,
    ):
        self.config = config
        self.skeleton = get_skeleton(config.skeleton)
        self.net = (net if net is not None else LifterNet(config)).eval()
        if completion is None and config.completion is not None:
            completion = CompletionNet(config.num_joints, config.completion.width, config.completion.blocks)
        if completion is not None and config.completion is None:
            raise ValueError("a completion network needs config.completion (its width, blocks, min_visible)")
        self.completion = completion.eval() if completion is not None else None
        self.pipeline = LiftPipeline(self.net, config).eval()
        self.device = torch.device(device) if device is not None else next(self.net.parameters()).device
        self.to(self.device)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks of this lifter by their key prefix in ``model.safetensors``."""
        mods: dict[str, torch.nn.Module] = {"": self.net}
        if self.completion is not None:
            mods["completion."] = self.completion
        return mods

    def __repr__(self) -> str:
        c = self.config
        return f"Lifter(skeleton={c.skeleton!r}, width={c.width}, blocks={c.blocks}, device={str(self.device)!r})"

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
        device: str | torch.device | None = None,
        backend: Literal["torch", "onnx"] = "torch",
        providers: list[str] | None = None,
    ) -> "Lifter":
        """Load a lifter from a folder, the bundled weights or the hub (see :mod:`poselift.hub`).

        ``backend="onnx"`` runs the same pipeline through onnxruntime (``pip install
        "poselift[onnx]"``) with the given execution ``providers`` (default: CPU).
        """
        folder = resolve_model(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        if backend == "onnx":
            from .onnx import OnnxLifter

            return OnnxLifter.from_folder(folder, providers=providers, device=device)
        if backend != "torch":
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        return cls.from_folder(folder, device=device)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, device: str | torch.device | None = None) -> "Lifter":
        folder = Path(folder)
        config = LifterConfig.from_file(folder / CONFIG_NAME)
        lifter = cls(config, device="cpu")
        load_weights(lifter.modules(), folder / WEIGHTS_NAME)
        logger.info("loaded %s lifter from %s", config.skeleton, folder)
        return lifter.to(device or "cpu")

    def save_pretrained(self, folder: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        """Write ``model.safetensors``, ``config.json`` and a model card ``README.md``.

        ``dtype=torch.float16`` stores floating-point weights at half size (they are
        loaded back into float32).
        """
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            prefix + k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
            for prefix, module in self.modules().items()
            for k, v in module.state_dict().items()
        }
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "poselift_format_version": str(self.config.format_version)})
        (folder / CONFIG_NAME).write_text(self.config.to_json(), encoding="utf-8")
        (folder / CARD_NAME).write_text(model_card(self.config), encoding="utf-8")
        return folder

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str = "Upload poselift lifter") -> str:
        """Upload the ``save_pretrained`` folder to a hub repository; returns the commit URL."""
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
        return str(info)

    def export_onnx(self, path: str | os.PathLike, *, opset: int = 17) -> Path:
        """Export the whole lift pipeline to ONNX with a dynamic batch (needs ``poselift[onnx]``)."""
        from .onnx import export_onnx

        return export_onnx(self, path, opset=opset)

    def to(self, device: str | torch.device) -> "Lifter":
        self.device = torch.device(device)
        for module in self.modules().values():
            module.to(self.device)
        return self

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
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
                ``config.confidence_threshold`` are missing (their coordinates are ignored,
                NaN allowed) and are filled by the model's completion network before lifting.
                Every other joint needs finite coordinates.
            height: body height in metres used to scale the output (default
                ``config.height``, 1.70 m); measured along the skeleton from the head to
                the feet (:func:`poselift.geometry.chain_height`). Must be finite and > 0.
            normalized: return the network's normalised units instead of metres (the
                2D pose scaled to RMS size ``1/c`` at depth ``c``; 3D RMS size about 1).
            batch_size: poses per forward pass (>= 1); bounds memory for huge inputs. On the
                benchmark CPU, 65,536 poses lifted 3x faster in chunks of 4,096 (the default)
                than in one pass (``benchmarks/RESULTS.md``).
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
        is_tensor = torch.is_tensor(keypoints)
        x = as_tensor(keypoints)
        check_keypoints(x, self.skeleton)
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        batch_shape = tuple(x.shape[:-2])
        n = self.skeleton.num_joints
        host = _host_array(x).reshape(-1, n, 2)
        missing, too_few = self._missing(confidence, batch_shape, host)
        nonfinite, degenerate, work = _screen(host, missing, _tolerance(x.dtype))
        codes = np.zeros(host.shape[0], dtype=np.int8)
        for code, mask in ((3, degenerate), (2, nonfinite), (1, too_few)):  # the first reason wins
            codes[mask] = code
        if on_unliftable == "raise" and codes.any():
            self._raise_unliftable(codes, host, missing, batch_shape)
        ok = codes == 0
        if ok.all():
            out = lifted = self._lift_rows(work, missing, None, 0.0 if normalized else target, batch_size)
        else:
            out = torch.full((host.shape[0], n, 3), float("nan"), dtype=torch.float32, device=self.device)
        if ok.any() and not ok.all():
            rows = torch.from_numpy(np.flatnonzero(ok)).to(self.device)
            lifted = self._lift_rows(work, missing, rows, 0.0 if normalized else target, batch_size)
            out[rows] = lifted
        if ok.any():
            broken = np.zeros_like(ok)
            broken[ok] = ~_host_array(torch.isfinite(lifted).all(dim=-1).all(dim=-1)).reshape(-1)
            if broken.any():
                if on_unliftable == "raise":
                    first = _first_index(broken, batch_shape)
                    raise WeightsError(
                        f"the network returned NaN or infinite values for {_pose(first)} ({int(broken.sum())} pose(s)) "
                        "although its input was finite: the weights are broken; load them again or re-download them."
                    )
                codes[broken] = 4
                out[torch.from_numpy(broken).to(self.device)] = float("nan")
        out = out.reshape(*batch_shape, n, 3)
        filled_np = np.zeros((host.shape[0], n), dtype=bool) if missing is None else missing & (codes == 0)[:, None]
        filled_np = filled_np.reshape(*batch_shape, n)
        if is_tensor:
            out = out.to(device=keypoints.device, dtype=out_dtype)
            filled: Any = torch.from_numpy(filled_np).to(keypoints.device)
        else:
            out = out.cpu().numpy().astype(np.float64 if out_dtype == torch.float64 else np.float32, copy=False)
            filled = filled_np
        if camera is not None:  # camera frame: translation solved by poselift.camera
            out = self._place_in_camera(out, host, missing, confidence, camera, normalized, codes == 0)
        if on_unliftable == "nan":
            lifted_np = (codes == 0).reshape(batch_shape)
            reason = np.array(_CODES, dtype=str)[codes].reshape(batch_shape)
            lifted_mask = torch.from_numpy(lifted_np).to(keypoints.device) if is_tensor else lifted_np
            return LiftResult(out, lifted_mask, filled, reason)
        if not return_filled:
            return out
        return out, filled

    def _place_in_camera(
        self,
        out: Any,
        host: np.ndarray,
        missing: np.ndarray | None,
        confidence: Any,
        camera: Any,
        normalized: bool,
        ok: np.ndarray,
    ) -> Any:
        """Move the lifted poses (``ok``) into the camera frame with :func:`poselift.camera.place_in_camera`."""
        from .camera import place_in_camera

        n = self.skeleton.num_joints
        kp = host if missing is None else np.where(missing[..., None], 0.0, host)  # missing joints: weight 0 below
        conf = None
        if confidence is not None:
            conf = _host_array(as_tensor(confidence, "confidence")).reshape(-1, n).astype(np.float64)
            conf = np.where(missing, 0.0, conf) if missing is not None else conf
        if ok.all():
            return place_in_camera(out, kp.reshape(*out.shape[:-1], 2), camera, None if conf is None else conf.reshape(out.shape[:-1]), normalized=normalized)
        rows = np.flatnonzero(ok)
        flat = out.reshape(-1, n, 3)
        if rows.size:
            placed = place_in_camera(flat[rows], kp[rows], camera, None if conf is None else conf[rows], normalized=normalized)
            flat[torch.from_numpy(rows).to(flat.device) if torch.is_tensor(flat) else rows] = placed
        return flat.reshape(out.shape)

    def _check_arguments(self, height: Any, batch_size: Any, on_unliftable: Any) -> float:
        """Validate the scalar arguments of :meth:`lift`; returns the body height to use."""
        if on_unliftable not in ("raise", "nan"):
            raise InvalidArgumentError(f"on_unliftable must be 'raise' or 'nan'; got {on_unliftable!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a whole number >= 1 (poses per forward pass); got {batch_size!r}.")
        if height is None:
            return float(self.config.height)
        try:
            value = float(height)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"height must be a number of metres, e.g. 1.70; got {height!r}.") from None
        if not (math.isfinite(value) and value > 0):
            raise InvalidArgumentError(
                f"height must be a finite body height in metres greater than 0, e.g. 1.70; got {height!r}. "
                "For the network's normalised units pass normalized=True instead."
            )
        return value

    def _lift_rows(
        self, work: np.ndarray, missing: np.ndarray | None, rows: torch.Tensor | None, height: float, batch_size: int
    ) -> torch.Tensor:
        """Lift the working-size poses ``work[rows]`` (all when ``rows`` is ``None``) in chunks."""
        x = torch.from_numpy(work).to(self.device)
        miss = torch.from_numpy(missing).to(self.device) if missing is not None else None
        if rows is not None:
            x = x[rows]
            miss = miss[rows] if miss is not None else None
        if miss is not None and not bool(miss.any()):
            miss = None
        normalized = height <= 0
        if x.shape[0] <= batch_size:  # one chunk: no output buffer, no copy
            return self._lift_flat(x if miss is None else self.completion(x, ~miss), height, normalized)
        out = torch.empty(x.shape[0], x.shape[1], 3, dtype=torch.float32, device=self.device)
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size]
            if miss is not None:
                chunk = self.completion(chunk, ~miss[start : start + batch_size])
            out[start : start + batch_size] = self._lift_flat(chunk, height, normalized)
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
        conf = as_tensor(confidence, "confidence")
        if tuple(conf.shape) != (*batch_shape, n):
            raise ShapeError(f"confidence must have shape {(*batch_shape, n)} to match keypoints; got {tuple(conf.shape)}.")
        view = _host_array(conf).reshape(rows, n)
        with np.errstate(invalid="ignore"):
            missing = ~(view >= self.config.confidence_threshold)  # NaN confidence counts as missing
        missing |= ~np.isfinite(host).all(axis=-1)
        if not missing.any():
            return None, none
        if self.completion is None:
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
            if self.completion is None:
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

    def _lift_flat(self, x: torch.Tensor, height: float | None, normalized: bool) -> torch.Tensor:
        """``(B, N, 2)`` float32 pixels on ``self.device`` -> ``(B, N, 3)``; backends override this."""
        target = self.config.height if height is None else float(height)
        return self.pipeline(x, torch.tensor(0.0 if normalized else target, device=x.device))


class LiftPipeline(torch.nn.Module):
    """The whole lift as one module: normalise, network, unproject, root-relative, metric scale.

    ``forward(x, height)``: ``x`` ``(B, N, 2)`` pixels, ``height`` a scalar tensor in metres
    (``<= 0``: keep the normalised units). The ONNX export traces exactly this module.
    """

    def __init__(self, net: LifterNet, config: LifterConfig):
        super().__init__()
        self.net = net
        self.skeleton = get_skeleton(config.skeleton)
        self.c = float(config.c)
        self.scale_mode = config.scale_mode
        self.flip_test = config.flip_test
        self.flip = list(self.skeleton.flip_permutation)

    def depths(self, x_n: torch.Tensor) -> torch.Tensor:
        """Depth offsets; with ``flip_test``, averaged with those of the mirrored pose."""
        if not self.flip_test:
            return self.net(x_n)
        mirrored = x_n[:, self.flip] * torch.tensor([-1.0, 1.0], dtype=x_n.dtype, device=x_n.device)
        d, d_mirrored = self.net(torch.cat([x_n, mirrored])).chunk(2)
        return 0.5 * (d + d_mirrored[:, self.flip])

    def forward(self, x: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
        x_n, _, _ = geometry.normalize_2d(x, self.skeleton, self.c, self.scale_mode)
        X = geometry.unproject(x_n, self.depths(x_n), self.c)
        X = X - geometry.root_point(X, self.skeleton)
        scale = torch.where(height > 0, height / geometry.chain_height(X, self.skeleton).clamp_min(1e-8), torch.ones_like(X[:, 0, 0]))
        return X * scale[:, None, None]


def load_weights(modules: dict[str, torch.nn.Module] | torch.nn.Module, path: Path) -> None:
    """Load safetensors weights strictly into ``{key prefix: module}`` (or one module), with errors that say what is wrong."""
    if isinstance(modules, torch.nn.Module):
        modules = {"": modules}
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsError(f"{path} is missing: a model folder needs {WEIGHTS_NAME} next to {CONFIG_NAME}.")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise WeightsError(
            f"{path} cannot be read as safetensors ({e}); the file is corrupt or truncated: "
            "delete it and download or export it again."
        ) from None
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
    # longest prefix first, so "" (the lifter) takes only what no other module claims
    for prefix, module in sorted(modules.items(), key=lambda kv: -len(kv[0])):
        own = {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
        module.load_state_dict(own, strict=True)
        module.eval()


def model_card(config: LifterConfig) -> str:
    """A model card (``README.md``) from the config and its metadata."""
    meta = dict(config.metadata)
    lines = [
        "---",
        "library_name: poselift",
        f"license: {meta.get('license', 'other')}",
        "tags: [3d-human-pose, pose-lifting, poselift]",
        "---",
        "",
        f"# {meta.get('name', 'poselift lifter')}",
        "",
        f"A poselift 2D-to-3D lifter for the `{config.skeleton}` joint layout "
        f"(residual MLP, width {config.width}, {config.blocks} blocks), trained without 3D labels.",
        "",
        "```python",
        "from poselift import Lifter",
        f"lifter = Lifter.from_pretrained({meta.get('name', 'path/to/this/folder')!r})",
        "pose3d = lifter.lift(keypoints)  # (..., %d, 2) pixels -> (..., %d, 3) metres" % (config.num_joints, config.num_joints),
        "```",
        "",
    ]
    for key, title in (("training_data", "Training data"), ("data_terms", "Data terms"), ("recipe", "Recipe"), ("command", "Command")):
        if key in meta:
            lines += [f"## {title}", "", str(meta[key]), ""]
    results = meta.get("results")
    if isinstance(results, dict) and results:
        lines += ["## Measured accuracy", "", "| evaluation | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in results.items()]
        lines.append("")
    lines += ["## Joint order", "", ", ".join(f"{i} {n}" for i, n in enumerate(config.joint_names)), ""]
    return "\n".join(lines)
