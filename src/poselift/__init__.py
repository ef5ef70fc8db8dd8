"""poselift: lift 2D human keypoints to 3D skeletons with networks trained without 3D labels."""

from .adapt import Adapted, adapt_coco17, adapt_layout, adapt_mpii16, adapt_openpose
from .config import CompletionConfig, LifterConfig
from .errors import (
    CameraError,
    ConfigError,
    DegeneratePoseError,
    EmptyInputError,
    ExportError,
    InvalidArgumentError,
    KeypointTypeError,
    KeypointValueError,
    MissingDependencyError,
    MissingJointsError,
    ModelNotFoundError,
    NonFiniteError,
    OutputConflictError,
    OutputExistsError,
    PoseliftError,
    ShapeError,
    VideoInputError,
    WeightsError,
)
from .io import KeypointData, read_keypoints, write_poses
from .lifter import Lifter, LiftResult
from .liftability import Unliftable
from ._version import __version__
from .skeleton import SKELETONS, Skeleton, get_skeleton

__all__ = [
    "Lifter",
    "LiftResult",
    "Unliftable",
    "LifterConfig",
    "CompletionConfig",
    "adapt_openpose",
    "adapt_coco17",
    "adapt_mpii16",
    "adapt_layout",
    "Adapted",
    "KeypointData",
    "read_keypoints",
    "write_poses",
    "Skeleton",
    "SKELETONS",
    "get_skeleton",
    "PoseliftError",
    "ShapeError",
    "EmptyInputError",
    "InvalidArgumentError",
    "KeypointTypeError",
    "KeypointValueError",
    "NonFiniteError",
    "DegeneratePoseError",
    "MissingJointsError",
    "ConfigError",
    "WeightsError",
    "ModelNotFoundError",
    "MissingDependencyError",
    "CameraError",
    "VideoInputError",
    "ExportError",
    "OutputExistsError",
    "OutputConflictError",
    "__version__",
]
