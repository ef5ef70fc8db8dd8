"""Training recipes: every impossible value ends in a ``ConfigError`` naming the key, before anything starts."""

from __future__ import annotations

import pytest
import torch

from poselift.errors import ConfigError
from poselift.training.config import MAX_PARAMETERS, TrainConfig, load_recipe


def _recipe(tmp_path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path, text: str = "", overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_recipe(_recipe(tmp_path, text), overrides or [])
    return str(info.value)


@pytest.mark.parametrize("betas", ["[1.5, 0.9]", "[0.5, -0.1]", "[0.5, 1.0]", "[.nan, 0.9]"])
def test_adam_betas_outside_0_1(tmp_path, betas):
    msg = _error(tmp_path, f"betas: {betas}\n")
    assert "betas" in msg and ("[0, 1)" in msg or "finite number" in msg)  # NaN: refused as any NaN setting


def test_unknown_device(tmp_path):
    msg = _error(tmp_path, "device: tpu9\n")
    assert "device" in msg and "unknown device 'tpu9'" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path):
    msg = _error(tmp_path, "device: cuda\n")
    assert "device" in msg and "no usable CUDA GPU" in msg
    assert "no usable CUDA GPU" in _error(tmp_path, "", ["device=cuda:1"])


def test_cpu_and_auto_devices_are_fine(tmp_path):
    assert load_recipe(_recipe(tmp_path, "device: cpu\n")).device == "cpu"
    assert load_recipe(_recipe(tmp_path, "device: auto\n")).device == "auto"


def test_broken_yaml_names_the_line(tmp_path):
    msg = _error(tmp_path, "steps: 100\nlifter: {width: 64\nbetas: [0.5, 0.9]\n")
    assert "r.yaml" in msg and "not valid YAML" in msg and "line" in msg


def test_python_tags_are_refused(tmp_path):
    msg = _error(tmp_path, "name: !!python/object/apply:os.system ['echo hacked']\n")
    assert "not valid YAML" in msg and "!!python" in msg
    msg = _error(tmp_path, "", ["name=!!python/name:os.system"])
    assert "--set" in msg and "!!python" in msg


def test_a_huge_network_is_refused_before_it_is_built(tmp_path):
    msg = _error(tmp_path, "lifter: {width: 200000, blocks: 4}\n")
    assert "lifter.width" in msg and "billion parameters" in msg
    msg = _error(tmp_path, "discriminator: {width: 100000}\n")
    assert "discriminator" in msg
    assert MAX_PARAMETERS >= 10 * 1.4e6  # room for ten times the released lifters


def test_a_folder_or_a_binary_file_as_recipe(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_recipe(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00steps")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_recipe(binary)


def test_a_fifo_or_huge_recipe_is_refused(tmp_path):
    """F05: a FIFO recipe hung ``poselift train`` forever; recipes are small regular files."""
    import os

    from conftest import outcome_within

    fifo = tmp_path / "r.yaml"
    os.mkfifo(fifo)
    error = outcome_within(10, load_recipe, fifo)
    if error == "hung":
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert isinstance(error, ConfigError) and "named pipe" in str(error), error
    huge = tmp_path / "huge.yaml"
    huge.write_text("steps: 10\n" + "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="larger than 1,048,576 bytes"):
        load_recipe(huge)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """F06: a 1 KB recipe with a YAML alias bomb passed validation only after minutes."""
    import time

    lines = ["lifter:", "  metadata:", "    a0: &a0 [x, x, x, x, x, x, x, x, x]"]  # free-form: validation passed it
    lines += [f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 1024
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases .* expanded the recipe holds more than 10,000 values"):
        load_recipe(bomb)
    assert time.perf_counter() - t0 < 2.0
    loop = tmp_path / "loop.yaml"
    loop.write_text("extra: &e [1, *e]\n")
    with pytest.raises(ConfigError, match="refers to the mapping or list that holds it"):
        load_recipe(loop)
    anchors = tmp_path / "anchors.yaml"  # ordinary anchors still work
    anchors.write_text("betas: &b [0.5, 0.9]\nlifter: {width: 32, blocks: 1}\n")
    assert load_recipe(anchors).betas == (0.5, 0.9)


@pytest.mark.parametrize("override", ["lr=.nan", "lr=.inf", "loss.adversarial=.nan", "flow_prior.lr=.inf",
                                      "data.min_confidence=.nan", "lr_decay=-.inf"])
def test_nan_and_inf_in_recipe_floats_are_refused(override):
    """F29: NaN and infinity were accepted in recipe floats (a NaN loss weight trains nothing)."""
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_recipe(None, [override, "data.source=h36m"])


def test_the_shipped_recipes_still_load():
    from conftest import REPO_ROOT

    recipes = sorted((REPO_ROOT / "training" / "recipes").glob("*.yaml"))
    assert recipes
    for recipe in recipes:
        assert isinstance(load_recipe(recipe), TrainConfig), recipe


@pytest.mark.parametrize("key, text", [
    ("grad_clip", "grad_clip: 5.0\n"),
    ("azimuth", "azimuth: 1.0\n"),
    ("elevation", "elevation: 0.3\n"),
    ("roll", "roll: 0.1\n"),
    ("discriminator.dropout", "discriminator: {width: 64, dropout: 0.25}\n"),
    ("scale_module.prior", "scale_module: {prior: [0.0, 0.1]}\n"),
])
def test_removed_settings_fail_naming_the_key(tmp_path, key, text):
    """Options no recipe used were removed (issue 18); a recipe that still sets one is refused, not ignored."""
    msg = _error(tmp_path, text)
    assert f"{key} is no longer a setting" in msg and "delete it from the recipe" in msg


def test_no_shipped_recipe_or_released_model_uses_a_removed_setting():
    import json
    from pathlib import Path

    import yaml

    from poselift.training.config import REMOVED_KEYS

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "training" / "recipes").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        keys = set(data) | {f"{section}.{k}" for section, v in data.items() if isinstance(v, dict) for k in v}
        assert not keys & set(REMOVED_KEYS), path.name
    for path in sorted((root / "src" / "poselift" / "weights").rglob("config.json")):
        text = json.dumps(json.loads(path.read_text()).get("metadata", {}))
        assert not any(k.split(".")[-1] + "=" in text for k in REMOVED_KEYS), path
