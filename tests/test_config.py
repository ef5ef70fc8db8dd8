"""``config.json``: validated, versioned, round-trips exactly, and fails with clear errors."""

from __future__ import annotations

import json
import re

import pytest

from poselift import ConfigError, LifterConfig, PoseliftError
from poselift.config import FORMAT_VERSION, CompletionConfig


def test_defaults_fill_joint_names_from_the_skeleton():
    cfg = LifterConfig()
    assert cfg.format_version == FORMAT_VERSION == 1
    assert cfg.skeleton == "h36m17"
    assert cfg.num_joints == 17 and cfg.joint_names[0] == "pelvis" and cfg.joint_names[10] == "head_top"
    assert LifterConfig(skeleton="lsp14").num_joints == 14


def test_json_round_trip_is_exact():
    cfg = LifterConfig(width=64, blocks=2, input_skip=False, head="kinematic", height=1.62, flip_test=True,
                       completion=CompletionConfig(width=16, blocks=1, min_visible=10),
                       metadata={"name": "x/y", "results": {"P-MPJPE": 51.2}})
    text = cfg.to_json()
    again = LifterConfig.from_dict(json.loads(text))
    assert again == cfg
    assert again.to_json() == text


def test_from_file_round_trip(tmp_path):
    cfg = LifterConfig(skeleton="lsp14", width=16, blocks=0)
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json(), encoding="utf-8")
    assert LifterConfig.from_file(path) == cfg


def test_unknown_future_format_version_says_upgrade():
    data = json.loads(LifterConfig().to_json())
    data["format_version"] = 2
    with pytest.raises(ConfigError, match=r"format_version 2 is not supported \(this poselift reads version 1\).*pip install -U poselift"):
        LifterConfig.from_dict(data)


def test_old_or_odd_format_version_says_re_export():
    data = json.loads(LifterConfig().to_json())
    data["format_version"] = "1"
    with pytest.raises(ConfigError, match=r"format_version '1' is not supported.*re-export"):
        LifterConfig.from_dict(data)


def test_missing_format_version():
    data = json.loads(LifterConfig().to_json())
    del data["format_version"]
    with pytest.raises(ConfigError, match=r"no 'format_version'; this is not a poselift lifter config"):
        LifterConfig.from_dict(data, source="some/config.json")
    with pytest.raises(ConfigError, match=r"^some/config.json: "):
        LifterConfig.from_dict(data, source="some/config.json")


def test_not_an_object():
    with pytest.raises(ConfigError, match="expected a JSON object, got list"):
        LifterConfig.from_dict([1, 2])


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"widht": 64}, r"widht"),  # extra keys are forbidden, typos do not pass silently
        ({"skeleton": "body_99"}, r"unknown skeleton 'body_99'"),
        ({"width": 4}, r"width"),
        ({"dropout": 1.0}, r"dropout"),
        ({"c": 1.0}, r"\bc\b"),
        ({"activation": "tanh"}, r"activation"),
        ({"activation": "gelu"}, r"activation 'gelu' was removed from poselift .*use activation 'leaky_relu'"),
        ({"scale_mode": "head"}, r"scale_mode 'head' was removed from poselift .*use scale_mode 'rms'"),
        ({"joint_names": ["a", "b"]}, r"joint_names do not match skeleton 'h36m17'"),
        ({"completion": {"width": 32, "depth": 2}}, r"depth"),
    ],
)
def test_invalid_fields_raise_config_error(change, pattern):
    data = json.loads(LifterConfig().to_json())
    data.update(change)
    with pytest.raises(ConfigError, match=r"invalid lifter config") as info:
        LifterConfig.from_dict(data)
    assert isinstance(info.value, PoseliftError) and isinstance(info.value, ValueError)
    assert re.search(pattern, str(info.value)), str(info.value)


def test_malformed_json_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"format_version": 1, "width": ', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.json: not valid JSON .*corrupt"):
        LifterConfig.from_file(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        LifterConfig.from_file(tmp_path / "config.json")


def test_kinematic_head_needs_a_bone_ratio_table():
    from poselift import ConfigError, LifterConfig

    assert LifterConfig(skeleton="h36m17", head="kinematic").head == "kinematic"
    with pytest.raises(ConfigError, match="bone-ratio table"):
        LifterConfig.from_dict({"format_version": 1, "skeleton": "lsp14", "head": "kinematic"})
