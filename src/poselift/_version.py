"""The installed version of poselift, from the package metadata (one version source)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("poselift")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
