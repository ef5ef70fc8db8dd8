"""Residual MLPs: the lifter, the completion network, the learned 2D correction and the
discriminators."""

from __future__ import annotations

from . import geometry
from .config import CorrectionConfig, LifterConfig
from .errors import require
from .skeleton import get_skeleton

torch = require("torch", "torch")
nn = torch.nn

__all__ = ["ResidualMLP", "LifterNet", "KinematicLifterNet", "build_lifter_net", "CompletionNet"]


class _Layer(nn.Sequential):
    """Linear - (BatchNorm) - LeakyReLU(0.2) - (dropout)."""

    def __init__(self, in_features: int, out_features: int, *, batchnorm: bool, dropout: float):
        layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(out_features))
        layers.append(nn.LeakyReLU(0.2))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class _Block(nn.Module):
    """Two layers with a skip connection; optionally sees the network input too."""

    def __init__(self, width: int, extra: int, **layer_kw):
        super().__init__()
        self.l1 = _Layer(width + extra, width, **layer_kw)
        self.l2 = _Layer(width, width, **layer_kw)

    def forward(self, h: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        inp = h if x is None else torch.cat([h, x], dim=-1)
        return h + self.l2(self.l1(inp))


class ResidualMLP(nn.Module):
    """``in -> width``, ``blocks`` residual blocks, ``width -> out`` (Martinez et al. style)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 1024,
        blocks: int = 4,
        *,
        batchnorm: bool = True,
        dropout: float = 0.0,
        input_skip: bool = False,
    ):
        super().__init__()
        kw = dict(batchnorm=batchnorm, dropout=dropout)
        self.input_skip = input_skip
        self.inp = _Layer(in_features, width, **kw)
        extra = in_features if input_skip else 0
        self.blocks = nn.ModuleList(_Block(width, extra, **kw) for _ in range(blocks))
        self.out = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        skip = x if self.input_skip else None
        for block in self.blocks:
            h = block(h, skip)
        return self.out(h)


def _lifter_mlp(config: LifterConfig, out_features: int) -> ResidualMLP:
    """The residual MLP of a lifter: the flattened 2D pose in, ``out_features`` out."""
    return ResidualMLP(
        2 * config.num_joints,
        out_features,
        config.width,
        config.blocks,
        batchnorm=config.batchnorm,
        dropout=config.dropout,
        input_skip=config.input_skip,
    )


class LifterNet(nn.Module):
    """Normalised 2D pose ``(B, N, 2)`` to depth offsets ``(B, N)``.

    Offsets are bounded to ``|d| < c - 1`` (a smooth tanh) so every depth stays positive,
    and a single root joint is pinned to offset 0.
    """

    def __init__(self, config: LifterConfig):
        super().__init__()
        n = config.num_joints
        self.c = float(config.c)
        self.mlp = _lifter_mlp(config, n)
        skeleton = get_skeleton(config.skeleton)
        mask = torch.ones(n)
        if skeleton.root_is_joint:
            mask[skeleton.root[0]] = 0.0
        self.register_buffer("root_mask", mask, persistent=False)

    def forward(self, x_n: torch.Tensor) -> torch.Tensor:
        raw = self.mlp(x_n.flatten(-2))
        bound = self.c - 1.0
        return bound * torch.tanh(raw / bound) * self.root_mask


class KinematicLifterNet(nn.Module):
    """Normalised 2D pose ``(B, N, 2)`` to a bone direction per joint ``(B, N, 3)`` and a log size ``(B,)``.

    The pose is assembled by :func:`poselift.geometry.forward_kinematics` with bone lengths
    from ``config.bone_ratios`` (default :data:`poselift.skeleton.BONE_RATIOS`) times the size (Kundu et al. 2020), so left
    and right limbs always have equal lengths. ``lengths`` (a buffer) is the ratio table
    scaled so a standing person has a 3D RMS size of about 1, the normalised unit.
    """

    #: body height, in normalised units, of the ratio table at log size 0 (a standing person's
    #: joints then lie about 1 from the root, as the depth head's poses do)
    UNIT_HEIGHT = 3.3

    def __init__(self, config: LifterConfig):
        super().__init__()
        from .skeleton import BONE_RATIOS

        n = config.num_joints
        skeleton = get_skeleton(config.skeleton)
        self.mlp = _lifter_mlp(config, 3 * n + 1)
        ratios = config.bone_ratios if config.bone_ratios is not None else BONE_RATIOS[skeleton.name]
        lengths = torch.tensor([ratios.get(j, 0.0) for j in skeleton.joints]) * self.UNIT_HEIGHT
        self.register_buffer("lengths", lengths, persistent=False)

    def forward(self, x_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.mlp(x_n.flatten(-2))
        n = x_n.shape[-2]
        directions = raw[:, : 3 * n].reshape(-1, n, 3)
        return directions, raw[:, 3 * n].clamp(-2.0, 2.0)


def build_lifter_net(config: LifterConfig) -> nn.Module:
    """The lifter network a config describes (depth head or kinematic head)."""
    return KinematicLifterNet(config) if config.head == "kinematic" else LifterNet(config)


class CompletionNet(nn.Module):
    """Fill missing joints of 2D poses from the visible ones.

    ``forward(x, visible)``: ``x`` ``(B, N, 2)`` at any offset and scale, ``visible``
    ``(B, N)`` bool. Poses are normalised by their visible joints (mean and RMS spread), the
    network sees the visible coordinates (missing ones zeroed) and the mask, and predicts
    every joint; visible joints are returned unchanged. Trained without 3D, by hiding joints
    of complete 2D poses (trained by :mod:`poselift.training.completion`).
    """

    def __init__(self, num_joints: int, width: int = 512, blocks: int = 2):
        super().__init__()
        self.mlp = ResidualMLP(3 * num_joints, 2 * num_joints, width, blocks, batchnorm=True)

    def forward(self, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        x_n, centre, spread = geometry.normalize_visible(x, visible)
        v = visible.to(x.dtype)[..., None]
        pred = self.mlp(torch.cat([x_n.flatten(1), v.flatten(1)], dim=-1)).reshape(x.shape)
        return torch.where(v > 0, x, pred * spread + centre)


class CorrectionNet(nn.Module):
    """Learned 2D domain correction (Chen et al. 2019, section 3.6): ``x_sc = x_s + C(x_s)``.

    ``forward(xy)``: ``(B, M, 2)`` pixels of complete poses in the target layout ->
    corrected pixels. ``C`` acts on the per-pose normalised pose (so it is independent of
    image size) and its output is scaled back by the pose's size.
    """

    def __init__(self, config: CorrectionConfig):
        super().__init__()
        self.c = float(config.c)
        self.scale_mode = config.scale_mode
        self.skeleton = get_skeleton(config.target)
        n = self.skeleton.num_joints
        self.mlp = ResidualMLP(2 * n, 2 * n, config.width, config.blocks, batchnorm=True)

    def delta(self, x_n: torch.Tensor) -> torch.Tensor:
        """Correction in normalised units for normalised poses ``(B, M, 2)``."""
        return self.mlp(x_n.flatten(1) * self.c).reshape(x_n.shape) / self.c

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        x_n, _, sigma = geometry.normalize_2d(xy, self.skeleton, self.c, self.scale_mode)
        return xy + self.delta(x_n) * sigma[:, None, None]
