"""``Lifter``: load weights, lift 2D keypoints to 3D, save and publish weights."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from . import geometry
from ._arrays import as_tensor
from .config import LifterConfig
from .errors import (
    DegeneratePoseError,
    EmptyInputError,
    MissingJointsError,
    NonFiniteError,
    ShapeError,
    WeightsError,
)
from .hub import CARD_NAME, CONFIG_NAME, DEFAULT_MODEL, WEIGHTS_NAME, resolve_model
from .nets import CompletionNet, LifterNet
from .skeleton import Skeleton, get_skeleton, guess_layouts

__all__ = ["Lifter", "LiftPipeline", "check_keypoints"]

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


def _first_index(mask: torch.Tensor, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
    flat = int(torch.nonzero(mask.reshape(-1))[0])
    return tuple(int(i) for i in np.unravel_index(flat, batch_shape)) if batch_shape else ()


def _numpy_view(t: torch.Tensor) -> np.ndarray | None:
    """A zero-copy numpy view of a CPU tensor, or ``None`` (other devices, dtypes numpy lacks)."""
    if t.device.type != "cpu":
        return None
    try:
        return t.detach().numpy()
    except (TypeError, RuntimeError):
        return None


def _plainly_valid(x: np.ndarray) -> bool:
    """True when every ``(B, N, 2)`` pose is finite and far from degenerate, in a few numpy calls.

    A screen for the common case in front of :meth:`Lifter._check_values`, whose torch
    checks cost more in dispatch than in work on a few poses: ``False`` only means "run
    the exact checks". The margin (2e-6 against their 1e-6) keeps float rounding from
    passing a pose that they would refuse.
    """
    magnitude = np.abs(x).max(axis=(-1, -2))  # NaN and inf propagate, so this also checks finiteness
    if not np.isfinite(magnitude).all():
        return False
    dev = x - x.sum(axis=-2, keepdims=True) * np.float32(1.0 / x.shape[-2])
    spread = np.sqrt(np.einsum("bnk,bnk->b", dev, dev))
    return bool((spread > 2e-6 * np.maximum(magnitude, 1.0)).all())


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
        keypoints: Array,
        confidence: Array | None = None,
        *,
        height: float | None = None,
        normalized: bool = False,
        batch_size: int = 4096,
        return_filled: bool = False,
        camera: Any = None,
    ) -> Array | tuple[Array, Array]:
        """Lift 2D keypoints to root-relative 3D in the camera frame.

        Args:
            keypoints: ``(*batch, N, 2)`` pixel coordinates (any offset and scale) in the
                model's joint layout (``self.skeleton``); ``np.ndarray`` or ``torch.Tensor``.
            confidence: optional ``(*batch, N)`` per-joint confidence. Joints below
                ``config.confidence_threshold`` are missing (their coordinates are ignored,
                NaN allowed) and are filled by the model's completion network before lifting;
                a model without one, or a pose with fewer than ``completion.min_visible``
                visible joints, raises :class:`~poselift.errors.MissingJointsError`.
            height: body height in metres used to scale the output (default
                ``config.height``, 1.70 m); measured along the skeleton from the head to
                the feet (:func:`poselift.geometry.chain_height`).
            normalized: return the network's normalised units instead of metres (the
                2D pose scaled to RMS size ``1/c`` at depth ``c``; 3D RMS size about 1).
            batch_size: poses per forward pass; bounds memory for huge inputs. On the
                benchmark CPU, 65,536 poses lifted 3x faster in chunks of 4,096 (the default)
                than in one pass (``benchmarks/RESULTS.md``).
            return_filled: also return the ``(*batch, N)`` bool mask of filled joints.
            camera: place the poses in the camera frame instead of root-relative: a
                :class:`poselift.camera.Camera`, a dict of intrinsics, or the image size
                ``(width, height)`` (focal length ``max(width, height)``, principal point at
                the centre). The root translation is solved from the 2D keypoints by
                confidence-weighted least squares; its depth scales with ``height``.

        Returns:
            ``(*batch, N, 3)``, same container as ``keypoints`` (and same device and dtype
            for floating-point tensors; float64 numpy input gives float64). Root-relative,
            OpenCV camera axes: x right, y down, z away from the camera. With
            ``return_filled``, the tuple ``(poses, filled)``.
        """
        is_tensor = torch.is_tensor(keypoints)
        x = as_tensor(keypoints)
        check_keypoints(x, self.skeleton)
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        batch_shape = tuple(x.shape[:-2])
        n = self.skeleton.num_joints
        flat = x.reshape(-1, n, 2).to(device=self.device, dtype=torch.float32)
        missing = self._missing(confidence, batch_shape, flat.device)
        self._check_values(flat, missing, batch_shape)

        if flat.shape[0] <= batch_size:  # one chunk: no output buffer, no copy
            out = self._lift_flat(flat if missing is None else self.completion(flat, ~missing), height, normalized)
        else:
            out = torch.empty(flat.shape[0], n, 3, dtype=torch.float32, device=self.device)
            for start in range(0, flat.shape[0], batch_size):
                chunk = flat[start : start + batch_size]
                if missing is not None:
                    chunk = self.completion(chunk, ~missing[start : start + batch_size])
                out[start : start + batch_size] = self._lift_flat(chunk, height, normalized)
        out = out.reshape(*batch_shape, n, 3)
        if is_tensor:
            out = out.to(device=keypoints.device, dtype=out_dtype)
        else:
            out = out.cpu().numpy().astype(np.float64 if out_dtype == torch.float64 else np.float32, copy=False)
        if camera is not None:  # camera frame: translation solved by poselift.camera
            from .camera import place_in_camera

            out = place_in_camera(out, keypoints, camera, confidence, normalized=normalized)
        if not return_filled:
            return out
        filled = (missing if missing is not None else torch.zeros(flat.shape[:2], dtype=torch.bool)).reshape(*batch_shape, n)
        return out, (filled.to(keypoints.device) if is_tensor else filled.cpu().numpy())

    def _missing(self, confidence: Any, batch_shape: tuple[int, ...], device: torch.device) -> torch.Tensor | None:
        """``(B, N)`` bool mask of joints below the confidence threshold, or ``None``."""
        if confidence is None:
            return None
        n = self.skeleton.num_joints
        conf = as_tensor(confidence)
        if tuple(conf.shape) != (*batch_shape, n):
            raise ShapeError(f"confidence must have shape {(*batch_shape, n)} to match keypoints; got {tuple(conf.shape)}.")
        view = _numpy_view(conf)
        if view is not None and bool((view >= self.config.confidence_threshold).all()):
            return None  # every joint visible (the common case), decided without torch dispatches
        conf = conf.reshape(-1, n).to(device)
        missing = ~(conf >= self.config.confidence_threshold)  # NaN confidence counts as missing
        if not bool(missing.any()):
            return None
        visible = (~missing).sum(dim=-1)
        if self.completion is None:
            first = _first_index(missing.any(dim=-1), batch_shape)
            raise MissingJointsError(
                f"pose {first} has joints below confidence {self.config.confidence_threshold}: "
                f"{self._names(missing, first, batch_shape)}. This model cannot fill missing joints (it has no "
                "completion network): load one that has (e.g. the released poselift/h36m-17) or drop those poses."
            )
        too_few = visible < self.config.completion.min_visible
        if bool(too_few.any()):
            first = _first_index(too_few, batch_shape)
            raise MissingJointsError(
                f"pose {first} has only {int(visible[int(np.ravel_multi_index(first, batch_shape)) if batch_shape else 0])} "
                f"of {n} joints above confidence {self.config.confidence_threshold}; at least "
                f"{self.config.completion.min_visible} are needed to fill the rest "
                f"({int(too_few.sum())} such pose(s)). Drop those poses."
            )
        return missing

    def _names(self, mask: torch.Tensor, index: tuple[int, ...], batch_shape: tuple[int, ...]) -> list[str]:
        row = int(np.ravel_multi_index(index, batch_shape)) if batch_shape else 0
        return [self.skeleton.joints[j] for j in torch.nonzero(mask[row]).flatten().tolist()]

    def _check_values(self, flat: torch.Tensor, missing: torch.Tensor | None, batch_shape: tuple[int, ...]) -> None:
        if missing is None:
            view = _numpy_view(flat)
            if view is not None and _plainly_valid(view):
                return  # the checks below would pass; they run, and explain, only otherwise
        finite = torch.isfinite(flat).all(dim=-1)
        bad = ~finite if missing is None else ~finite & ~missing
        if bool(bad.any()):
            first = _first_index(bad.any(dim=-1), batch_shape)
            count = int(bad.any(dim=-1).sum())
            raise NonFiniteError(
                f"keypoints contain NaN or infinite values in {count} pose(s), first at index {first} "
                f"(joints {self._names(bad, first, batch_shape)}). "
                "Mark undetected joints with confidence 0 (confidence=...) instead of NaN."
            )
        if missing is not None:
            flat = torch.where(missing[..., None], torch.zeros_like(flat), flat)
            centre = flat.sum(dim=-2, keepdim=True) / (~missing).sum(dim=-1)[:, None, None]
            spread = ((flat - centre) * (~missing)[..., None]).square().sum(dim=(-1, -2)).sqrt()
        else:
            spread = (flat - flat.mean(dim=-2, keepdim=True)).square().sum(dim=(-1, -2)).sqrt()
        magnitude = flat.abs().amax(dim=(-1, -2)).clamp_min(1.0)
        degenerate = spread <= 1e-6 * magnitude
        if bool(degenerate.any()):
            first = _first_index(degenerate, batch_shape)
            raise DegeneratePoseError(
                f"pose {first} is degenerate: all its joints lie at one point, so it has no shape to lift. "
                f"Check the detector output ({int(degenerate.sum())} such pose(s))."
            )

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
