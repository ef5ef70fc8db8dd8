"""Model resolution: local folders, bundled names, and hub ids through the real huggingface_hub code.

No test here reaches the network: hub ids are resolved against a cache laid out by hand
in ``tmp_path`` (as huggingface_hub itself writes it), with ``local_files_only=True`` or
offline mode (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from conftest import tiny_lifter
from poselift import Lifter, ModelNotFoundError
from poselift import weights as hub
from poselift.weights import parse_hub_id, resolve_model

COMMIT_A = "0123456789abcdef0123456789abcdef01234567"
COMMIT_B = "fedcba9876543210fedcba9876543210fedcba98"
COMMIT_ABSENT = "1111111111111111111111111111111111111111"


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    """A second lifter, different weights, to tell two revisions apart."""
    return tiny_lifter(seed=7).save_pretrained(tmp_path_factory.mktemp("other"))


@pytest.fixture
def cache(make_hub_cache, model_dir, other_model_dir):
    """``ns/name``: main -> COMMIT_A (the session lifter), tag v2 -> COMMIT_B (another lifter)."""
    return make_hub_cache(
        "ns/name",
        {COMMIT_A: model_dir, COMMIT_B: other_model_dir},
        refs={"main": COMMIT_A, "v2": COMMIT_B},
    )


def _snapshot(cache_dir, commit):
    return cache_dir / "models--ns--name" / "snapshots" / commit


# ----------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text, expected",
    [
        ("poselift/h36m-17", ("poselift/h36m-17", None)),
        ("ns/name@main", ("ns/name", "main")),
        (f"ns/name@{COMMIT_A}", ("ns/name", COMMIT_A)),
        ("user.name/model_v1.2@refs/pr/3", ("user.name/model_v1.2", "refs/pr/3")),
        ("name-only", None),
        ("a/b/c", None),
        ("/abs/path", None),
        ("./rel/path", None),
        ("../up", None),
        ("ns/", None),
        ("ns/name@", None),
    ],
)
def test_parse_hub_id(text, expected):
    assert parse_hub_id(text) == expected


# ----------------------------------------------------------------------------- hub cache
def test_hub_id_from_a_prefilled_cache_with_local_files_only(cache, lifter, poses):
    folder = resolve_model("ns/name", cache_dir=cache, local_files_only=True)
    assert folder == _snapshot(cache, COMMIT_A)  # refs/main was followed
    loaded = Lifter.from_pretrained("ns/name", cache_dir=cache, local_files_only=True)
    np.testing.assert_allclose(loaded.lift(poses), lifter.lift(poses), rtol=0, atol=1e-6)
    t = torch.from_numpy(poses).reshape(2, 4, 17, 2)
    torch.testing.assert_close(loaded.lift(t), lifter.lift(t), rtol=0, atol=1e-6)


def test_hub_id_offline_mode_from_the_environment(cache, lifter, poses, hf_offline):
    loaded = Lifter.from_pretrained("ns/name", cache_dir=cache)
    np.testing.assert_allclose(loaded.lift(poses), lifter.lift(poses), rtol=0, atol=1e-6)


@pytest.mark.parametrize("how", ["in_name", "keyword", "both_same", "tag"])
def test_revision_selects_the_snapshot(cache, other_model_dir, poses, how):
    name, kw = {
        "in_name": (f"ns/name@{COMMIT_B}", {}),
        "keyword": ("ns/name", {"revision": COMMIT_B}),
        "both_same": (f"ns/name@{COMMIT_B}", {"revision": COMMIT_B}),
        "tag": ("ns/name@v2", {}),
    }[how]
    assert resolve_model(name, cache_dir=cache, local_files_only=True, **kw) == _snapshot(cache, COMMIT_B)
    loaded = Lifter.from_pretrained(name, cache_dir=cache, local_files_only=True, **kw)
    expected = Lifter.from_pretrained(other_model_dir)
    np.testing.assert_allclose(loaded.lift(poses), expected.lift(poses), rtol=0, atol=1e-6)


def test_revision_in_offline_mode(cache, hf_offline):
    assert resolve_model(f"ns/name@{COMMIT_B}", cache_dir=cache) == _snapshot(cache, COMMIT_B)
    assert resolve_model("ns/name", revision="v2", cache_dir=cache) == _snapshot(cache, COMMIT_B)


def test_two_different_revisions_are_refused(cache):
    with pytest.raises(ValueError, match=r"two revisions given: 'v2' in the name and revision='main'"):
        Lifter.from_pretrained("ns/name@v2", revision="main", cache_dir=cache, local_files_only=True)


def test_name_not_in_the_cache(cache):
    with pytest.raises(ModelNotFoundError) as info:
        Lifter.from_pretrained("ns/missing", cache_dir=cache, local_files_only=True)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "'ns/missing'" in msg and "not in the local hub cache" in msg and "offline" in msg
    assert "pass a local folder" in msg


def test_revision_not_in_the_cache_offline(cache, hf_offline):
    with pytest.raises(ModelNotFoundError) as info:
        Lifter.from_pretrained(f"ns/name@{COMMIT_ABSENT}", cache_dir=cache)
    msg = str(info.value)
    assert f"'ns/name@{COMMIT_ABSENT}'" in msg and "offline" in msg


def test_snapshot_without_weights_is_not_found(make_hub_cache, model_dir, tmp_path):
    cache_dir = make_hub_cache("ns/half", {COMMIT_A: model_dir}, refs={"main": COMMIT_A})
    (cache_dir / "models--ns--half" / "snapshots" / COMMIT_A / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="'ns/half'"):
        Lifter.from_pretrained("ns/half", cache_dir=cache_dir, local_files_only=True)


# ----------------------------------------------------------------------------- local and bundled
def test_an_existing_folder_wins_over_a_hub_id(cache, model_dir, tmp_path, monkeypatch):
    local = tmp_path / "work" / "ns" / "name"
    local.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        (local / f).write_bytes((model_dir / f).read_bytes())
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_model("ns/name", cache_dir=cache, local_files_only=True) == local.relative_to(tmp_path / "work")


def test_bundled_name_loads_from_the_package_unless_a_revision_is_given(monkeypatch, tmp_path):
    monkeypatch.setitem(hub.BUNDLED, "poselift/h36m-17", "h36m-17")
    folder = resolve_model("poselift/h36m-17")
    assert folder.parts[-3:] == ("poselift", "weights", "h36m-17")
    # a revision always means the hub
    with pytest.raises(ModelNotFoundError, match=r"'poselift/h36m-17@v0\.1'.*Bundled names .*'poselift/h36m-17'"):
        resolve_model("poselift/h36m-17@v0.1", cache_dir=tmp_path, local_files_only=True)


def test_default_model_name():
    assert hub.DEFAULT_MODEL == "poselift/h36m-17"
    assert inspect.signature(Lifter.from_pretrained).parameters["name_or_path"].default == hub.DEFAULT_MODEL


def test_end_to_end_folder_and_hub_give_the_same_lifter(tmp_path, make_hub_cache):
    fresh = tiny_lifter(seed=11)
    folder = fresh.save_pretrained(tmp_path / "saved")
    cache_dir = make_hub_cache("someone/tiny", {COMMIT_A: folder}, refs={"main": COMMIT_A})
    by_path = Lifter.from_pretrained(folder)
    by_hub = Lifter.from_pretrained("someone/tiny", cache_dir=cache_dir, local_files_only=True)
    x = np.random.default_rng(2).normal(300.0, 50.0, size=(3, 2, 17, 2)).astype(np.float32)
    for loaded in (by_path, by_hub):
        out = loaded.lift(x)
        assert out.shape == (3, 2, 17, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out, fresh.lift(x), rtol=0, atol=1e-6)
        out_t = loaded.lift(torch.from_numpy(x).double())
        assert out_t.shape == (3, 2, 17, 3) and out_t.dtype == torch.float64
