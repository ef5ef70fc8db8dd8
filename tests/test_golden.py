"""Golden outputs of every released (bundled) lifter, for the torch and the ONNX backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poselift import Lifter
from poselift.weights import BUNDLED, BUNDLED_CORRECTIONS, COMPLETION_ONNX_NAME, ONNX_NAME, resolve_model

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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an export would go to a fresh cache
    golden = _load(name)
    lifter = Lifter.from_pretrained(name, backend="onnx")
    assert lifter.runner.onnx_path == resolve_model(name) / ONNX_NAME  # the shipped graph, not an export
    assert not (tmp_path / "poselift").exists()
    out = lifter.lift(np.asarray(golden["keypoints"], dtype=np.float32))
    np.testing.assert_allclose(out, np.asarray(golden["pose3d"]), atol=1e-4)


def test_every_bundled_name_has_weights_graphs_and_card_in_the_package():
    for name in [*BUNDLED, *BUNDLED_CORRECTIONS]:
        folder = resolve_model(name)
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert (folder / ONNX_NAME).is_file(), f"{name} ships without its ONNX graph"
        assert (folder / "README.md").is_file(), f"{name} ships without a model card"
    for name in BUNDLED:
        assert (resolve_model(name) / COMPLETION_ONNX_NAME).is_file(), f"{name} ships without its completion graph"


@pytest.mark.parametrize("name", _cases())
def test_completion_backends_agree_on_released_weights(name):
    """Missing joints are filled by the shipped completion graph exactly as by torch."""
    pytest.importorskip("onnxruntime")
    golden = _load(name)
    kp = np.asarray(golden["keypoints"], dtype=np.float32)
    conf = np.ones(kp.shape[:-1], dtype=np.float32)
    conf[1, [3, 6]] = 0.0  # two ankles missing
    conf[4, [13]] = 0.0
    kp[conf == 0] = np.nan
    result = Lifter.from_pretrained(name, backend="torch").lift(kp, conf, on_unliftable="nan")
    torch_out, filled = result.poses, result.filled
    result = Lifter.from_pretrained(name, backend="onnx").lift(kp, conf, on_unliftable="nan")
    onnx_out, onnx_filled = result.poses, result.filled
    np.testing.assert_array_equal(onnx_filled, filled)
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
    np.testing.assert_allclose(torch_out[0], np.asarray(golden["pose3d"])[0], atol=1e-5)  # complete poses unchanged


def test_bundled_correction_backends_agree():
    pytest.importorskip("onnxruntime")
    from poselift.correction import LearnedCorrection

    name = "poselift/mpii16-h36m17"
    torch_c = LearnedCorrection.from_pretrained(name, backend="torch")
    onnx_c = LearnedCorrection.from_pretrained(name, backend="onnx")
    assert onnx_c.runner.onnx_path == resolve_model(name) / ONNX_NAME
    kp = np.asarray(_load("poselift/h36m-17")["keypoints"], dtype=np.float32)
    corrected = torch_c.correct_complete(kp)
    assert np.abs(corrected - kp).max() > 0.1  # it does move joints (pixels)
    np.testing.assert_allclose(onnx_c.correct_complete(kp), corrected, atol=1e-3)
