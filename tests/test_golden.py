"""Golden outputs of every released (bundled) lifter, for the torch and the ONNX backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poselift import Lifter
from poselift.hub import BUNDLED

GOLDEN = Path(__file__).parent / "golden"


def _cases():
    return [pytest.param(name, id=name) for name in sorted(BUNDLED)]


def _load(name: str) -> dict:
    path = GOLDEN / (name.replace("/", "__") + ".json")
    assert path.is_file(), f"no golden file for released weights {name}: run scripts/make_golden.py"
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", _cases())
def test_released_weights_reproduce_their_golden_outputs(name):
    golden = _load(name)
    lifter = Lifter.from_pretrained(name)
    out = lifter.lift(np.asarray(golden["keypoints"]))
    np.testing.assert_allclose(out, np.asarray(golden["pose3d"]), atol=1e-5)


@pytest.mark.parametrize("name", _cases())
def test_onnx_backend_matches_the_golden_outputs(name, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the exported graph goes to a fresh cache
    golden = _load(name)
    lifter = Lifter.from_pretrained(name, backend="onnx")
    out = lifter.lift(np.asarray(golden["keypoints"], dtype=np.float32))
    np.testing.assert_allclose(out, np.asarray(golden["pose3d"]), atol=1e-4)


def test_every_bundled_name_has_weights_in_the_package():
    from poselift.hub import resolve_model

    for name in BUNDLED:
        folder = resolve_model(name)
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert (folder / "README.md").is_file(), f"{name} ships without a model card"
