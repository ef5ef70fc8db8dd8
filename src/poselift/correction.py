"""Learned 2D domain correction (Chen et al. 2019, section 3.6): ``x_sc = x_s + C(x_s)``.

After the geometric mapping of :mod:`poselift.adapt`, keypoints of another convention (a
detector's joints, an annotator's hips) still differ systematically from the ones a lifter
was trained on. ``C`` is a small residual MLP, one per (source layout, target layout),
trained without correspondences (:mod:`poselift.training.correction`): a domain
discriminator tells corrected source poses from target poses, and ``lambda |C(x)|^2`` keeps
the corrections small. It acts on per-pose normalised poses, so it is independent of image
size; poses with missing joints are passed through unchanged.

A correction is stored like a lifter: ``model.safetensors`` + ``config.json``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import geometry
from .errors import ConfigError, PoseliftError
from .nets import ResidualMLP
from .skeleton import get_skeleton

__all__ = ["CorrectionConfig", "LearnedCorrection", "BUNDLED_CORRECTIONS", "load_correction"]

#: (source layout, target layout) -> folder under ``poselift/weights`` of the shipped correction.
BUNDLED_CORRECTIONS: dict[tuple[str, str], str] = {
    ("mpii16", "h36m17"): "corrections/mpii16-h36m17",
}

_FORMAT_VERSION = 1


class CorrectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = _FORMAT_VERSION
    kind: str = "correction"
    source: str
    target: str
    width: int = Field(256, ge=8)
    blocks: int = Field(2, ge=0)
    c: float = Field(10.0, gt=1.0)
    scale_mode: str = "rms"
    metadata: dict[str, Any] = Field(default_factory=dict)


class LearnedCorrection(torch.nn.Module):
    """``forward(xy (B, M, 2) pixels, conf (B, M)) -> corrected xy``, usable as ``correction=``."""

    def __init__(self, config: CorrectionConfig):
        super().__init__()
        self.config = config
        self.skeleton = get_skeleton(config.target)
        n = self.skeleton.num_joints
        self.mlp = ResidualMLP(2 * n, 2 * n, config.width, config.blocks, batchnorm=True)

    def delta(self, x_n: torch.Tensor) -> torch.Tensor:
        """Correction in normalised units for normalised poses ``(B, M, 2)``."""
        return self.mlp(x_n.flatten(1) * self.config.c).reshape(x_n.shape) / self.config.c

    def forward(self, xy: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        complete = (conf > 0).all(dim=-1) & torch.isfinite(xy).all(dim=(-1, -2))
        if not bool(complete.any()):
            return xy
        x = xy.to(torch.float32)
        x_n, _, sigma = geometry.normalize_2d(x[complete], self.skeleton, self.config.c, self.config.scale_mode)
        with torch.no_grad():
            corrected = x[complete] + self.delta(x_n) * sigma[:, None, None]
        out = x.clone()
        out[complete] = corrected
        return out.to(xy.dtype)

    def correct_complete(self, keypoints: np.ndarray) -> np.ndarray:
        """Correct ``(B, M, 2)`` pixel keypoints whose joints are all present (e.g. a detector's output)."""
        kp = torch.from_numpy(np.ascontiguousarray(keypoints))
        return self(kp, torch.ones(kp.shape[:-1])).numpy()

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(self.config.model_dump(mode="json"), indent=2) + "\n")
        return folder

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> "LearnedCorrection":
        from .lifter import load_weights

        folder = Path(folder)
        try:
            data = json.loads((folder / "config.json").read_text())
        except FileNotFoundError:
            raise PoseliftError(f"{folder} has no config.json; not a poselift correction folder") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{folder / 'config.json'}: not valid JSON ({e})") from None
        if data.get("format_version") != _FORMAT_VERSION or data.get("kind") != "correction":
            raise ConfigError(
                f"{folder / 'config.json'}: not a correction config of format version {_FORMAT_VERSION} "
                f"(kind={data.get('kind')!r}, format_version={data.get('format_version')!r})"
            )
        try:
            config = CorrectionConfig.model_validate(data)
        except ValidationError as e:
            raise ConfigError(f"{folder / 'config.json'}: invalid correction config:\n{e}") from None
        module = cls(config)
        load_weights(module, folder / "model.safetensors")
        return module.eval()


def load_correction(source: str, target: str) -> LearnedCorrection | None:
    """The correction shipped for ``source -> target``, or ``None`` if poselift ships none."""
    folder = BUNDLED_CORRECTIONS.get((source, target))
    if folder is None:
        return None
    return LearnedCorrection.from_folder(Path(str(resources.files("poselift") / "weights" / folder)))
