"""Outputs: lifted poses as JSON or npz (:mod:`~poselift.export.poses`), BVH motion
(:mod:`~poselift.export.bvh`) and 2D keypoints as OpenPose JSON (:mod:`~poselift.export.openpose`).
A new output format is one module here plus one line below. ``poselift video``'s animation
and pictures are drawn by :mod:`~poselift.export.render` and its output folder is written by
:mod:`~poselift.export.outputs` (imported from there, not here)."""

from .bvh import BvhSkeleton, build_bvh_skeleton, fixed_bone_poses, write_bvh
from .openpose import write_keypoints
from .poses import POSES_FORMAT, write_poses
from ..errors import ExportError

__all__ = [
    "BvhSkeleton", "build_bvh_skeleton", "fixed_bone_poses", "write_bvh", "write_poses", "write_keypoints", "POSES_FORMAT",
    "ExportError",
]  # fmt: skip
