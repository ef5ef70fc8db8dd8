"""Outputs: lifted poses as JSON or npz (:mod:`~poselift.export.poses`) and BVH motion
(:mod:`~poselift.export.bvh`). A new output format is one module here plus one line below."""

from .bvh import BvhSkeleton, build_bvh_skeleton, fixed_bone_poses, write_bvh
from .poses import POSES_FORMAT, write_poses
from ..errors import ExportError

__all__ = ["BvhSkeleton", "build_bvh_skeleton", "fixed_bone_poses", "write_bvh", "write_poses", "POSES_FORMAT", "ExportError"]
