"""``import poselift`` is cheap: no optional or training dependencies, a small explicit API."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import poselift

# never imported by ``import poselift``
OPTIONAL = ["torch", "onnxruntime", "onnx", "matplotlib", "poselift.training"]
# training-only dependencies: ``import poselift`` adds none
TRAINING_ONLY = ["yaml", "tqdm"]


_PROBE = """
import json, sys
import numpy, pydantic, safetensors
core = set(sys.modules)
import poselift
with_poselift = set(sys.modules)
import matplotlib, onnxruntime, torch, poselift.training
print(json.dumps({"core": sorted(core), "poselift": sorted(with_poselift), "all": sorted(sys.modules)}))
"""


def test_import_pulls_in_no_optional_or_training_dependencies():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    seen = {k: set(v) for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}
    loaded = seen["poselift"]
    assert "poselift" in loaded and "poselift.lifter" in loaded
    # the probe can see these modules (they are installed), yet import poselift leaves them alone
    assert {"torch", "onnxruntime", "matplotlib", "poselift.training"} <= seen["all"]
    assert sorted(m for m in OPTIONAL if m in loaded) == []
    assert not any(m.startswith(("torch.", "onnxruntime.", "matplotlib.", "poselift.training.")) for m in loaded)
    added = loaded - seen["core"]
    assert sorted(m for m in TRAINING_ONLY if m in added) == []


def test_public_names():
    for name in poselift.__all__:
        assert hasattr(poselift, name), name
    assert {"Lifter", "LifterConfig", "Skeleton", "SKELETONS", "get_skeleton", "PoseliftError"} <= set(poselift.__all__)


def test_every_public_error_is_a_poselift_error():
    errors = [getattr(poselift, n) for n in poselift.__all__ if n.endswith("Error")]
    assert len(errors) >= 10
    for err in errors:
        assert issubclass(err, poselift.PoseliftError), err
    assert issubclass(poselift.ShapeError, ValueError)
    assert issubclass(poselift.ModelNotFoundError, FileNotFoundError)
    assert issubclass(poselift.MissingDependencyError, ImportError)


def test_version_comes_from_the_installed_metadata():
    assert poselift.__version__ == version("poselift")


def test_package_is_typed():
    assert (Path(poselift.__file__).parent / "py.typed").is_file()


def test_require_names_the_extra():
    from poselift.errors import MissingDependencyError, require

    assert require("json", "dev") is json
    try:
        require("poselift_no_such_module", "onnx")
    except MissingDependencyError as e:
        assert "'poselift_no_such_module'" in str(e) and 'pip install ".[onnx]" (in the poselift checkout)' in str(e)
    else:
        raise AssertionError("require() of a missing module did not raise")


def _package_data_files() -> set[str]:
    """Non-Python files in the source package, relative to ``src/poselift``."""
    from conftest import REPO_ROOT

    root = REPO_ROOT / "src" / "poselift"
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    }


def test_every_data_file_in_the_package_is_installed():
    """Files under src/poselift that are not Python must match a package-data pattern."""
    import tomllib

    from conftest import REPO_ROOT

    patterns = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["poselift"]
    root = REPO_ROOT / "src" / "poselift"
    shipped = {p.relative_to(root).as_posix() for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    files = _package_data_files()
    assert "py.typed" in files
    assert sorted(files - shipped) == []
