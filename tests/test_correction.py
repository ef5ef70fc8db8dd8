"""The learned correction is saved, carded, published and loaded like a lifter, on either backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import write_hub_snapshot
from poselift.config import CorrectionConfig
from poselift.correction import LearnedCorrection
from poselift.weights import ONNX_NAME

COMMIT = "c0ffee" + "0" * 34


def _correction(seed: int = 0) -> LearnedCorrection:
    """A small random correction whose output visibly moves joints."""
    torch.manual_seed(seed)
    correction = LearnedCorrection(CorrectionConfig(source="mpii16", target="h36m17", width=32, blocks=1,
                                                    metadata={"name": "ns/corr", "license": "other"}))
    with torch.no_grad():
        correction.net.mlp.out.weight.mul_(20.0)
    return correction


def _poses(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.uniform(200, 600, (n, 1, 2)) + rng.normal(0, 60, (n, 17, 2))).astype(np.float32)


def test_save_card_and_both_backends(tmp_path):
    pytest.importorskip("onnxruntime")
    correction = _correction()
    folder = correction.save_pretrained(tmp_path / "corr", onnx=True)
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: poselift") and "# ns/corr" in card and "mpii16" in card
    x = _poses()
    expected = correction.correct_complete(x)
    assert np.abs(expected - x).max() > 0.1  # it moves joints (pixels)
    torch_c = LearnedCorrection.from_folder(folder, backend="torch")
    onnx_c = LearnedCorrection.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "cache")
    assert onnx_c.runner.onnx_path == folder / ONNX_NAME and not (tmp_path / "cache").exists()
    np.testing.assert_allclose(torch_c.correct_complete(x), expected, atol=1e-5)
    np.testing.assert_allclose(onnx_c.correct_complete(x), expected, atol=1e-3)


def test_a_half_precision_save_serves_its_own_graph(tmp_path):
    """``save_pretrained(dtype=float16, onnx=True)`` exports the graph from the weights as
    stored, so the folder's graph matches its weights and is served as it is (it was exported
    from the float32 network, refused on load and exported again into the cache)."""
    pytest.importorskip("onnxruntime")
    folder = _correction().save_pretrained(tmp_path / "corr16", dtype=torch.float16, onnx=True)
    onnx_c = LearnedCorrection.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "cache")
    assert onnx_c.runner.onnx_path == folder / ONNX_NAME and not (tmp_path / "cache").exists()


def test_incomplete_poses_pass_through_and_containers_are_kept(tmp_path):
    correction = _correction()
    x = _poses(4)
    conf = np.ones(x.shape[:-1], dtype=np.float32)
    conf[1, 5] = 0.0
    out = correction(x, conf)
    np.testing.assert_array_equal(out[1], x[1])  # a pose with a missing joint is not corrected
    assert np.abs(out[0] - x[0]).max() > 0.1
    t = torch.from_numpy(x.astype(np.float64))
    out_t = correction(t, torch.from_numpy(conf))
    assert torch.is_tensor(out_t) and out_t.dtype == torch.float64
    np.testing.assert_allclose(out_t.numpy(), out, atol=1e-4)


@pytest.mark.parametrize("offset, scale", [(1e9, 1.0), (1e20, 1.0), (-3e5, 1e-3), (0.0, 1e15)])
def test_far_offsets_and_any_scale_are_corrected_alike(offset, scale):
    """F16: the learned correction ran in float32 without centring: 44 px off at 1e9 px
    offsets, inf/NaN at 1e20 (then "0 of 17 joints above confidence"). It is translation and
    scale equivariant, so a moved and scaled pose gets the moved and scaled correction."""
    correction = _correction()
    x = _poses().astype(np.float64)
    expected = correction.correct_complete(x)
    moved = correction.correct_complete(x * scale + offset)
    assert np.isfinite(moved).all()
    rounding = 8 * np.finfo(np.float64).eps * abs(offset) / scale  # of the float64 input itself
    np.testing.assert_allclose((moved - offset) / scale, expected, atol=1e-3 + rounding)


def test_loads_from_the_hub_cache_by_id(tmp_path, monkeypatch):
    folder = _correction(seed=1).save_pretrained(tmp_path / "corr")
    cache = tmp_path / "hub"
    write_hub_snapshot(cache, "ns/corr", COMMIT, folder)
    loaded = LearnedCorrection.from_pretrained("ns/corr", cache_dir=cache, local_files_only=True, backend="torch")
    assert loaded.config.source == "mpii16" and loaded.config.metadata["name"] == "ns/corr"
    x = _poses(3)
    np.testing.assert_allclose(loaded.correct_complete(x), LearnedCorrection.from_folder(folder, backend="torch").correct_complete(x), atol=1e-6)
