"""One error hierarchy for everything poselift raises on purpose.

Every error message says what was expected, what arrived, and what to do next.
"""

from __future__ import annotations

__all__ = [
    "PoseliftError",
    "ShapeError",
    "EmptyInputError",
    "KeypointTypeError",
    "KeypointValueError",
    "NonFiniteError",
    "DegeneratePoseError",
    "MissingJointsError",
    "InvalidArgumentError",
    "ConfigError",
    "WeightsError",
    "ModelNotFoundError",
    "MissingDependencyError",
    "CameraError",
    "VideoInputError",
    "ExportError",
    "OutputExistsError",
    "OutputConflictError",
    "DataError",
    "NetworkConfigError",
    "TorchModulesError",
    "ProviderError",
    "FolderBusyError",
    "UnknownLayoutError",
    "SkeletonError",
    "LayoutMappingError",
    "InputFileError",
    "CommandLineError",
    "OutputPathError",
    "GraphExportError",
]


class PoseliftError(Exception):
    """Base class of every error poselift raises deliberately."""


class ShapeError(PoseliftError, ValueError):
    """An array has the wrong shape (joint count, coordinate count, ...)."""


class EmptyInputError(ShapeError):
    """An array holds no poses at all."""


class KeypointTypeError(PoseliftError, TypeError):
    """Keypoints or confidence that are not real numbers (None, strings, bool, complex, ragged lists)."""


class KeypointValueError(PoseliftError, ValueError):
    """Keypoint values that cannot be lifted."""


class NonFiniteError(KeypointValueError):
    """NaN or infinite coordinates."""


class DegeneratePoseError(KeypointValueError):
    """A pose whose joints all lie at (nearly) one point."""


class MissingJointsError(KeypointValueError):
    """Joints marked missing (confidence below the threshold) that cannot be filled."""


class InvalidArgumentError(PoseliftError, ValueError):
    """A function argument with an impossible value (a body height of 0, a batch size of -1, ...)."""


class ConfigError(PoseliftError, ValueError):
    """A config.json that is malformed or of an unknown format version."""


class NetworkConfigError(ConfigError):
    """Networks and a config that do not fit together (a completion network without
    ``config.completion``, an option this poselift no longer has)."""


class SkeletonError(PoseliftError, ValueError):
    """A :class:`~poselift.skeleton.Skeleton` whose parents, pairs or root do not fit its joints,
    or a joint name it does not have."""


class UnknownLayoutError(PoseliftError, ValueError):
    """A joint-layout name that is not a built-in layout (nor an alias of one)."""


class LayoutMappingError(PoseliftError, ValueError):
    """A layout mapping table whose weights do not sum to 1 (an edited :data:`poselift.layouts.MAPPINGS`)."""


class TorchModulesError(PoseliftError):
    """Torch modules asked of a model that runs on the ONNX backend and was loaded with
    ``backend="onnx"`` (load it with ``backend="torch"``)."""


class ProviderError(PoseliftError, ValueError):
    """An onnxruntime execution provider that this installation does not offer."""


class WeightsError(PoseliftError):
    """A weights file that is corrupt or does not match its config."""


class ModelNotFoundError(PoseliftError, FileNotFoundError):
    """A model name or path that resolves to nothing."""


class MissingDependencyError(PoseliftError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class CameraError(PoseliftError, ValueError):
    """Camera intrinsics that are missing, malformed or of an unknown model."""


class VideoInputError(PoseliftError, ValueError):
    """A video, image or folder that cannot be read as frames."""


class DataError(PoseliftError, ValueError):
    """An evaluation or training data set that is missing, malformed or asked for wrongly."""


class ExportError(PoseliftError):
    """A pose sequence that cannot be exported, or an export file that cannot be written."""


class GraphExportError(ExportError):
    """A network that cannot be exported to ONNX, or an exported graph that does not match it."""


class InputFileError(PoseliftError, ValueError):
    """A keypoint or data file that cannot be read (wrong format, unreadable, empty)."""


class CommandLineError(PoseliftError, ValueError):
    """Command-line options that contradict each other or name something that does not exist."""


class OutputPathError(PoseliftError, ValueError):
    """An output path that cannot be written as asked (it is an input, a folder, the wrong suffix)."""


class OutputExistsError(PoseliftError, FileExistsError):
    """Outputs that exist and may not be replaced; the message names the option that replaces them."""

    def __init__(self, what: str, *, option: str = "--overwrite"):
        super().__init__(f"{what}: pass {option} to replace them, or choose another output folder.")
        self.what = what

    def with_option(self, option: str) -> "OutputExistsError":
        """The same error naming another spelling of the option (``--overwrite`` for the command line)."""
        return OutputExistsError(self.what, option=option)


class OutputConflictError(PoseliftError, FileExistsError):
    """An output that ``--overwrite`` may not replace either: an input inside an output path,
    files poselift did not write, something of another kind in an output's place, or another
    run writing the same folder."""


class FolderBusyError(PoseliftError, FileExistsError):
    """A folder locked by another process writing it (:func:`poselift._files.folder_lock`)."""


def install_hint(extra: str) -> str:
    """How to install an extra: poselift is installed from its checkout, not from a package index."""
    return f'pip install ".[{extra}]" (in the poselift checkout)'


def torch_available() -> bool:
    """Whether torch can be imported here (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        return False


def require(module: str, extra: str, package: str | None = None):
    """Import an optional dependency or raise naming the extra that provides it (and the
    ``package`` to install, where its name differs from the module's: ``PIL`` is Pillow)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        what = f"{module!r} (the {package} package)" if package else repr(module)
        raise MissingDependencyError(f"{what} is needed here but is not installed. Install it with: {install_hint(extra)}") from e
