"""Loading weights: what is wrong with a model folder is found before anything is built or run.

Regression tests for the hardening issue (#11, items 4, 5, 6, 8 and 12).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_poses, tiny_lifter
from poselift import ConfigError, Lifter, ModelNotFoundError, WeightsError
from poselift.config import DIGEST_FIELD
from poselift.weights import BUNDLED, BUNDLED_CORRECTIONS, read_state, resolve_model, state_digest


@pytest.fixture
def folder(tmp_path) -> Path:
    return tiny_lifter(seed=2).save_pretrained(tmp_path / "m")


def _edit(folder: Path, **changes) -> None:
    data = json.loads((folder / "config.json").read_text())
    data.update(changes)
    (folder / "config.json").write_text(json.dumps(data))


def _err(exc, fn, *args, **kwargs) -> str:
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------- config values (item 4)
@pytest.mark.parametrize(
    "key, value, words",
    [
        ("height", float("inf"), "height"),
        ("c", float("inf"), "c"),
        ("height", float("nan"), "height"),
        ("width", "512", "width"),
        ("blocks", 1.0, "blocks"),
        ("flip_test", "yes", "flip_test"),
    ],
)
def test_impossible_config_values(folder, key, value, words):
    _edit(folder, **{key: value})
    msg = _err(ConfigError, Lifter.from_pretrained, folder)
    assert "invalid lifter config" in msg and words in msg


@pytest.mark.parametrize("version", [1.0, True, "1"])
def test_format_version_must_be_the_integer(folder, version):
    _edit(folder, format_version=version)
    assert "must be the integer 1" in _err(ConfigError, Lifter.from_pretrained, folder)


def test_negative_batchnorm_variance(folder):
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k in state if k.endswith("running_var"))
    state[key][0] = -1.0
    save_file(state, str(folder / "model.safetensors"))
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert key in msg and "negative variances" in msg


# ----------------------------------------------------------------------------- huge configs (item 5)
@pytest.mark.parametrize("changes", [{"width": 200_000}, {"blocks": 100_000}])
def test_a_huge_config_fails_before_building_the_network(folder, changes, monkeypatch):
    import poselift.runners

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(poselift.runners, "TorchLiftRunner", never)
    _edit(folder, **changes)
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert "describes a lifter of at least" in msg and "does not belong to these weights" in msg


# ----------------------------------------------------------------------------- digests (item 6)
def test_save_pretrained_writes_the_digest_and_load_checks_it(folder):
    data = json.loads((folder / "config.json").read_text())
    assert data[DIGEST_FIELD] == state_digest(read_state(folder))
    raw = bytearray((folder / "model.safetensors").read_bytes())
    raw[-3] ^= 0x40  # one flipped bit inside the last tensor's data
    (folder / "model.safetensors").write_bytes(bytes(raw))
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert DIGEST_FIELD in msg and "corrupt or was modified" in msg


def test_float16_weights_have_a_digest_that_matches(tmp_path):
    folder = tiny_lifter(seed=4).save_pretrained(tmp_path / "h", dtype=torch.float16)
    assert Lifter.from_pretrained(folder).lift(random_poses(2)).shape == (2, 17, 3)


def test_a_folder_without_a_digest_still_loads(folder):
    data = json.loads((folder / "config.json").read_text())
    del data[DIGEST_FIELD]
    (folder / "config.json").write_text(json.dumps(data))
    assert Lifter.from_pretrained(folder).lift(random_poses(1)).shape == (1, 17, 3)


def test_a_malformed_digest(folder):
    _edit(folder, **{DIGEST_FIELD: "abc"})
    assert "64 hexadecimal digits" in _err(ConfigError, Lifter.from_pretrained, folder)


@pytest.mark.parametrize("name", sorted(BUNDLED) + sorted(BUNDLED_CORRECTIONS))
def test_every_released_config_carries_the_digest_of_its_weights(name):
    folder = resolve_model(name)
    data = json.loads((folder / "config.json").read_text())
    assert data[DIGEST_FIELD] == state_digest(read_state(folder))


def test_flipped_bytes_in_released_weights_are_caught(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(resolve_model("poselift/h36m-14"), folder)
    raw = bytearray((folder / "model.safetensors").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (folder / "model.safetensors").write_bytes(bytes(raw))
    assert "corrupt or was modified" in _err(WeightsError, Lifter.from_pretrained, folder)


# ----------------------------------------------------------------------------- folders (item 8)
def test_config_json_that_is_a_folder(folder):
    (folder / "config.json").unlink()
    (folder / "config.json").mkdir()
    assert "is a folder" in _err(ConfigError, Lifter.from_pretrained, folder)


def test_folder_without_config_names_the_absolute_path(folder, monkeypatch):
    (folder / "config.json").unlink()
    monkeypatch.chdir(folder.parent)
    msg = _err(ModelNotFoundError, Lifter.from_pretrained, folder.name)
    assert str(folder.resolve() / "config.json") in msg


def test_deeply_nested_config(folder):
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "not valid JSON" in _err(ConfigError, Lifter.from_pretrained, folder)


@pytest.mark.parametrize("kind", ["fifo", "huge", "device"])
def test_config_json_must_be_a_small_regular_file(folder, kind):
    """F05: a FIFO config.json hung forever, /dev/zero as config.json exhausted memory and a
    100 MB config.json was accepted. Only regular files of at most 1 MB are read."""
    import os

    from conftest import outcome_within

    config = folder / "config.json"
    text = config.read_text()
    config.unlink()
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "huge":
        config.write_text(text[:-2] + " " * (2 << 20) + text[-2:])  # valid JSON, padded past 1 MB
    else:
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero here")
        config.symlink_to("/dev/zero")
    error = outcome_within(10, Lifter.from_pretrained, folder)
    if kind == "fifo" and error == "hung":  # let the blocked reader go before failing
        fd = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    assert isinstance(error, ConfigError), error
    expected = {"fifo": "named pipe", "huge": "larger than 1,048,576 bytes", "device": "a device, not a regular file"}[kind]
    assert expected in str(error) and "config.json" in str(error)


def test_config_json_with_an_integer_beyond_pythons_digit_limit(folder):
    """F22: an integer of more than 4,300 digits in config.json gave a ValueError traceback."""
    _edit(folder, width=0)
    (folder / "config.json").write_text((folder / "config.json").read_text().replace('"width": 0', '"width": ' + "9" * 5000))
    assert "not valid JSON" in _err(ConfigError, Lifter.from_pretrained, folder)


# ----------------------------------------------------------------------------- ONNX cache (item 12)
@pytest.mark.parametrize("damage", ["truncate", "tamper"])
def test_a_damaged_cached_onnx_export_is_exported_again(folder, tmp_path, caplog, damage):
    pytest.importorskip("onnxruntime")
    cache = tmp_path / "cache"
    x = random_poses(3)
    first = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=cache)
    expected = first.lift(x)
    path = first.runner.onnx_path
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else raw[:-64] + bytes(64))
    again = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=cache)
    assert again.runner.onnx_path == path and path.read_bytes() != b""
    np.testing.assert_allclose(again.lift(x), expected, rtol=1e-5, atol=1e-6)
    assert any("exporting it again" in r.getMessage() for r in caplog.records)


def test_a_shipped_graph_with_edited_weights_is_not_used(tmp_path, caplog):
    """F07: a folder's own model.onnx was trusted on its metadata: a graph with an edited
    initializer (metadata kept) ran, 0.34 m off torch, in a folder that passed the weights
    digest. config.json now records the graph's SHA-256; a graph that differs is exported anew."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    from poselift.weights import GRAPHS_FIELD

    lifter = tiny_lifter(seed=3)
    folder = lifter.save_pretrained(tmp_path / "m", onnx=True)
    assert set(json.loads((folder / "config.json").read_text())[GRAPHS_FIELD]) == {"model.onnx"}
    x = random_poses(4)
    expected = lifter.lift(x)
    assert Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "cache").runner.onnx_path == folder / "model.onnx"

    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).size >= 16)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, init.name))  # inside the graph now
    onnx.save(model, str(folder / "model.onnx"))
    with caplog.at_level("WARNING"):
        loaded = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "cache")
    assert loaded.runner.onnx_path != folder / "model.onnx"
    assert "not the graph config.json records" in caplog.text
    np.testing.assert_allclose(loaded.lift(x), expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUNDLED) + sorted(BUNDLED_CORRECTIONS))
def test_every_released_config_records_the_digests_of_its_graphs(name):
    from poselift._files import file_sha256
    from poselift.weights import GRAPHS_FIELD

    folder = resolve_model(name)
    recorded = json.loads((folder / "config.json").read_text())[GRAPHS_FIELD]
    assert recorded == {p.name: file_sha256(p) for p in folder.glob("*.onnx")} and recorded
    if name in BUNDLED:  # the config still reads on its own
        from poselift.config import LifterConfig

        assert LifterConfig.from_file(folder / "config.json").skeleton in ("h36m17", "lsp14")


# ----------------------------------------------------------------------------- names (friction)
@pytest.fixture
def hub_calls(monkeypatch):
    """Record every hf_hub_download call; each one fails as a cache miss would."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls = []

    def fake(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs.get("local_files_only")))
        raise LocalEntryNotFoundError("not here")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    return calls


def test_a_misspelt_released_name_suggests_the_nearest_without_the_network(hub_calls):
    msg = _err(ModelNotFoundError, resolve_model, "poselift/h36m17")
    assert "did you mean 'poselift/h36m-17'?" in msg
    assert hub_calls and all(local for _, _, local in hub_calls)  # only the local cache was asked


def test_an_unreachable_hub_fails_fast(hub_calls, monkeypatch):
    import poselift.weights

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(poselift.weights, "_offline", lambda: False)
    monkeypatch.setattr(poselift.weights, "_hub_unreachable", lambda timeout=3.0: "huggingface.co:443: unreachable")
    msg = _err(ModelNotFoundError, resolve_model, "someone/tiny")
    assert "the hub cannot be reached" in msg and "someone/tiny" in msg
    assert hub_calls and all(local for _, _, local in hub_calls)
