"""Outputs: lifted poses as JSON or npz (:mod:`~poselift.export.poses`), BVH motion
(:mod:`~poselift.export.bvh`) and 2D keypoints as OpenPose JSON (:mod:`~poselift.export.openpose`).
A new output format is one module here plus one line below. Every picture and animation
(``poselift video``'s, and the plots of :mod:`poselift.viz`) is drawn by
:mod:`~poselift.export.render`; ``poselift video``'s output folder is written by
:mod:`~poselift.export.outputs` (both imported from there, not here)."""

from .bvh import BvhSkeleton, build_bvh_skeleton, fixed_bone_poses, write_bvh
from .openpose import write_keypoints
from .poses import POSES_FORMAT, write_poses
from ..errors import ExportError

__all__ = [
    "BvhSkeleton", "build_bvh_skeleton", "fixed_bone_poses", "write_bvh", "write_poses", "write_keypoints", "POSES_FORMAT",
    "ExportError",
]  # fmt: skip
