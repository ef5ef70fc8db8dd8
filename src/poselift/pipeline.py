"""``LiftPipeline``: the whole lift as one torch module, for inference, training and export.

normalise (per pose) -> network (with the flip test) -> unproject -> root-relative ->
metric scale. The torch backend runs it, the ONNX export traces exactly it, and training
evaluates through it, so a checkpoint behaves the same everywhere.
"""

from __future__ import annotations

from . import geometry
from .config import LifterConfig
from .errors import require
from .skeleton import get_skeleton

torch = require("torch", "torch")

__all__ = ["LiftPipeline"]


class LiftPipeline(torch.nn.Module):
    """The whole lift as one module: normalise, network, unproject, root-relative, metric scale.

    ``forward(x, height)``: ``x`` ``(B, N, 2)`` pixels, ``height`` a scalar tensor in metres
    (``<= 0``: keep the normalised units). The ONNX export traces exactly this module.
    """

    def __init__(self, net: torch.nn.Module, config: LifterConfig):
        super().__init__()
        self.net = net
        self.skeleton = get_skeleton(config.skeleton)
        self.c = float(config.c)
        self.scale_mode = config.scale_mode
        self.flip_test = config.flip_test
        self.kinematic = config.head == "kinematic"

    def depths(self, x_n: torch.Tensor) -> torch.Tensor:
        """Depth offsets; with ``flip_test``, averaged with those of the mirrored pose."""
        if not self.flip_test:
            return self.net(x_n)
        d, d_mirrored = self.net(torch.cat([x_n, geometry.mirror(x_n, self.skeleton)])).chunk(2)
        return 0.5 * (d + d_mirrored[:, list(self.skeleton.flip_permutation)])

    def kinematic_pose(self, x_n: torch.Tensor) -> torch.Tensor:
        """Root-relative 3D ``(B, N, 3)`` from a kinematic head; with ``flip_test``, the bone
        directions (mirrored back) and sizes of the pose and its mirror image are averaged."""
        if not self.flip_test:
            directions, log_size = self.net(x_n)
        else:
            d, s = self.net(torch.cat([x_n, geometry.mirror(x_n, self.skeleton)]))
            d_plain, d_mirrored = d.chunk(2)
            s_plain, s_mirrored = s.chunk(2)
            directions = d_plain + geometry.mirror(d_mirrored, self.skeleton)
            log_size = 0.5 * (s_plain + s_mirrored)
        lengths = self.net.lengths * log_size.exp()[:, None]
        return geometry.forward_kinematics(directions, lengths, self.skeleton)

    def lift_3d(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise, network, unproject: ``(B, N, 2)`` at any offset and scale -> (3D, normalised 2D).

        The 3D has its root at depth ``c`` and projects exactly onto the root-centred input,
        so a pose twice as large in 2D gives a 3D pose twice as large (training lifts
        re-projected poses of any size with this; inference lifts normalised poses).
        """
        x_n, root, sigma = geometry.normalize_2d(x, self.skeleton, self.c, self.scale_mode)
        return self._unproject(x_n, x - root, sigma), x_n

    def _unproject(self, x_n: torch.Tensor, x_rel: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """3D from the normalised pose ``x_n`` (the network's input) at the scale of ``x_rel = sigma * x_n``."""
        if self.kinematic:  # root on the optical axis at depth c, size in proportion to the 2D
            P = self.kinematic_pose(x_n) * torch.as_tensor(sigma, dtype=x_n.dtype, device=x_n.device)[..., None, None]
            return P + torch.tensor([0.0, 0.0, self.c], dtype=P.dtype, device=P.device)
        return geometry.unproject(x_rel, self.depths(x_n), self.c, sigma)

    def forward(self, x: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
        x_n, _, _ = geometry.normalize_2d(x, self.skeleton, self.c, self.scale_mode)
        X = self._unproject(x_n, x_n, 1.0)  # lift_3d of a pose that is already normalised
        X = X - geometry.root_point(X, self.skeleton)
        scale = torch.where(height > 0, height / geometry.chain_height(X, self.skeleton).clamp_min(1e-8), torch.ones_like(X[:, 0, 0]))
        return X * scale[:, None, None]
