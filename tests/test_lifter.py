"""``Lifter``: properties of ``lift``, saving and loading, and every error it raises on purpose."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import POSE_H36M17_PX, random_poses, tiny_config, tiny_lifter
from poselift import (
    ConfigError,
    DegeneratePoseError,
    EmptyInputError,
    KeypointValueError,
    Lifter,
    LifterConfig,
    MissingJointsError,
    ModelNotFoundError,
    NonFiniteError,
    PoseliftError,
    ShapeError,
    WeightsError,
)
from poselift import geometry as G


# ----------------------------------------------------------------------------- lift: properties
def test_output_shape_dtype_and_container(lifter, pose):
    out = lifter.lift(pose)
    assert isinstance(out, np.ndarray) and out.shape == (17, 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    out_t = lifter.lift(torch.from_numpy(pose))
    assert torch.is_tensor(out_t) and out_t.shape == (17, 3) and out_t.dtype == torch.float32


def test_the_network_output_depends_on_the_pose(lifter, poses):
    # guards the invariance tests below against a lifter whose output is constant
    out = lifter.lift(poses, units="normalized")
    assert out[..., 2].std(axis=-1).min() > 1e-3  # depths vary across joints
    assert np.abs(out[0] - out[1]).max() > 1e-3  # and across poses


def test_batch_equals_stacked_singles(lifter, poses):
    batch = lifter.lift(poses)
    singles = np.stack([lifter.lift(p) for p in poses])
    np.testing.assert_allclose(batch, singles, rtol=1e-5, atol=1e-6)


def test_batch_size_does_not_change_the_result(lifter, poses):
    np.testing.assert_allclose(lifter.lift(poses, batch_size=3), lifter.lift(poses), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_camera", [False, True])
def test_memory_of_a_large_lift_is_bounded(lifter, with_camera):
    """F32: one lift of 5e6 poses peaked at 8.3 GB (input 648 MB, output 973 MB): screening
    made whole-input float64 copies. Screened, normalised and placed chunk by chunk, the
    numpy memory peak stays under 2x (input + output) (tracemalloc sees numpy's buffers)."""
    import tracemalloc

    x = random_poses(100_000)
    conf = np.ones(x.shape[:-1], np.float32)
    conf[::7, 3] = 0.0  # some missing joints: the tiny lifter cannot fill them (those poses stay NaN)
    tracemalloc.start()
    try:
        result = lifter.lift(x, conf, camera=(640, 480) if with_camera else None, on_unliftable="nan")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.lifted.sum() == len(x) - len(x[::7])
    assert peak < 2 * (x.nbytes + conf.nbytes + result.poses.nbytes), f"peak {peak / 1e6:.0f} MB"
    np.testing.assert_allclose(result.poses[:50], lifter.lift(x[:50], conf[:50], camera=(640, 480) if with_camera else None,
                                                              on_unliftable="nan").poses, rtol=1e-5, atol=1e-5)


def test_numpy_and_torch_agree(lifter, poses):
    out_np = lifter.lift(poses)
    out_t = lifter.lift(torch.from_numpy(poses))
    np.testing.assert_allclose(out_t.numpy(), out_np, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("np_dtype, t_dtype", [(np.float32, torch.float32), (np.float64, torch.float64)])
def test_output_dtype_follows_input(lifter, poses, np_dtype, t_dtype):
    out = lifter.lift(poses.astype(np_dtype))
    assert out.dtype == np_dtype
    out_t = lifter.lift(torch.from_numpy(poses).to(t_dtype))
    assert out_t.dtype == t_dtype
    np.testing.assert_allclose(out, lifter.lift(poses), rtol=1e-5, atol=1e-6)


def test_integer_pixels_give_float32(lifter, pose):
    out = lifter.lift(np.round(pose).astype(np.int64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, lifter.lift(np.round(pose)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_shape", [(), (6,), (2, 3), (3, 1, 2)])
def test_leading_batch_dims_of_any_rank(lifter, batch_shape):
    n = int(np.prod(batch_shape, dtype=int))
    flat = random_poses(n, seed=3)
    x = flat.reshape(*batch_shape, 17, 2)
    out = lifter.lift(x)
    assert out.shape == (*batch_shape, 17, 3)
    np.testing.assert_allclose(out.reshape(n, 17, 3), lifter.lift(flat), rtol=1e-5, atol=1e-6)
    out_t = lifter.lift(torch.from_numpy(x))
    assert tuple(out_t.shape) == (*batch_shape, 17, 3)


@pytest.mark.parametrize("normalized", [True, False])
def test_translation_and_scale_of_the_2d_input_do_not_change_the_output(lifter, poses, normalized):
    ref = lifter.lift(poses, units="normalized" if normalized else "m")
    for scale, shift in [(3.0, (0.0, 0.0)), (1.0, (-900.0, 1234.5)), (0.2, (15.0, -40.0))]:
        moved = (poses.astype(np.float64) * scale + np.array(shift)).astype(np.float32)
        np.testing.assert_allclose(lifter.lift(moved, units="normalized" if normalized else "m"), ref, rtol=1e-4, atol=1e-4)


def test_output_is_root_relative(lifter, poses):
    for normalized in (True, False):
        out = lifter.lift(poses, units="normalized" if normalized else "m")
        np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)  # pelvis at the origin


def test_normalized_output_reprojects_onto_the_normalised_input(lifter, poses):
    # camera axes: with the root put back at depth c, the 3D pose projects onto the 2D input
    # (x right, y down, like the pixels), so the lifter only adds depth
    c = lifter.config.c
    out = torch.from_numpy(lifter.lift(poses, units="normalized")).double()
    x_n, _, _ = G.normalize_2d(torch.from_numpy(poses).double(), lifter.skeleton, c, lifter.config.scale_mode)
    reprojected = G.project(out + torch.tensor([0.0, 0.0, c], dtype=torch.float64))
    torch.testing.assert_close(reprojected, x_n, rtol=1e-4, atol=1e-5)
    assert torch.all(out[..., 2] + c >= 1.0 - 1e-5)  # every joint in front of the camera


def test_metric_output_is_the_normalised_pose_scaled_to_the_body_height(lifter, poses):
    norm = torch.from_numpy(lifter.lift(poses, units="normalized")).double()
    metric = torch.from_numpy(lifter.lift(poses)).double()
    heights = G.chain_height(metric, lifter.skeleton)
    torch.testing.assert_close(heights, torch.full_like(heights, lifter.config.height), rtol=1e-4, atol=1e-4)
    ratio = heights / G.chain_height(norm, lifter.skeleton)
    torch.testing.assert_close(metric, norm * ratio[:, None, None], rtol=1e-4, atol=1e-5)
    taller = torch.from_numpy(lifter.lift(poses, height=1.9)).double()
    torch.testing.assert_close(taller, metric * (1.9 / lifter.config.height), rtol=1e-4, atol=1e-5)


def test_confidence_above_threshold_changes_nothing(lifter, poses):
    conf = np.ones(poses.shape[:-1], dtype=np.float32)
    # same computation either way; a tolerance rather than bit equality (machines round differently)
    np.testing.assert_allclose(lifter.lift(poses, conf), lifter.lift(poses), rtol=0, atol=1e-6)
    np.testing.assert_allclose(lifter.lift(torch.from_numpy(poses), torch.from_numpy(conf)).numpy(), lifter.lift(poses), rtol=0, atol=1e-6)


def test_tensor_input_is_not_modified_and_gradients_are_not_tracked(lifter, poses):
    x = torch.from_numpy(poses.copy()).requires_grad_(True)
    out = lifter.lift(x)
    assert not out.requires_grad
    assert torch.equal(x.detach(), torch.from_numpy(poses))


def test_lsp14_lifter_lifts_14_joints():
    lsp = tiny_lifter(seed=5, skeleton="lsp14")
    x = np.random.default_rng(0).normal(300.0, 60.0, size=(2, 3, 14, 2)).astype(np.float32)
    out = lsp.lift(x)
    assert out.shape == (2, 3, 14, 3)
    mid_hip = out[..., [lsp.skeleton.index("left_hip"), lsp.skeleton.index("right_hip")], :].mean(axis=-2)
    np.testing.assert_allclose(mid_hip, 0.0, atol=1e-5)


# ----------------------------------------------------------------------------- lift: errors
def _err(exc_type, fn, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_25_joints_points_to_adapt_openpose(lifter):
    msg = _err(ShapeError, lifter.lift, np.zeros((32, 25, 2), dtype=np.float32))
    assert "must have shape (..., 17, 2)" in msg and "got (32, 25, 2)" in msg
    assert "OpenPose BODY_25" in msg and "adapt_openpose(" in msg


def test_three_coordinates_points_to_confidence(lifter, pose):
    x = np.concatenate([pose, np.ones((17, 1), dtype=np.float32)], axis=-1)
    msg = _err(ShapeError, lifter.lift, x)
    assert "got (17, 3)" in msg and "confidence" in msg


@pytest.mark.parametrize("shape", [(17,), (34,), (17, 2, 1)])
def test_other_bad_shapes(lifter, shape):
    msg = _err(ShapeError, lifter.lift, np.zeros(shape, dtype=np.float32))
    assert f"got {shape}" in msg and "(..., 17, 2)" in msg


def test_shape_error_is_a_value_error_and_a_poselift_error(lifter):
    with pytest.raises(ValueError):
        lifter.lift(np.zeros((4, 2)))
    with pytest.raises(PoseliftError):
        lifter.lift(np.zeros((4, 2)))


@pytest.mark.parametrize("shape", [(0, 17, 2), (3, 0, 17, 2)])
def test_empty_input(lifter, shape):
    msg = _err(EmptyInputError, lifter.lift, np.zeros(shape, dtype=np.float32))
    assert "no poses" in msg and f"shape {shape}" in msg
    with pytest.raises(ShapeError):
        lifter.lift(torch.zeros(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(lifter, poses, bad):
    x = poses.copy()
    x[5, 3, 1] = bad
    x[6, 0, 0] = bad
    msg = _err(NonFiniteError, lifter.lift, x)
    assert "NaN or infinite" in msg and "2 pose(s)" in msg and "first at index (5,)" in msg
    assert "confidence" in msg
    with pytest.raises(KeypointValueError):
        lifter.lift(torch.from_numpy(x))


def test_degenerate_pose_is_refused_with_its_index(lifter, poses):
    x = poses.reshape(2, 4, 17, 2).copy()
    x[1, 2] = [640.0, 360.0]  # every joint at one point
    msg = _err(DegeneratePoseError, lifter.lift, x)
    assert "pose (1, 2) is degenerate" in msg and "1 such pose(s)" in msg
    one = np.full((17, 2), 5.0, dtype=np.float32)
    assert "degenerate" in _err(DegeneratePoseError, lifter.lift, one)


def test_confidence_of_the_wrong_shape(lifter, poses):
    msg = _err(ShapeError, lifter.lift, poses, np.ones((8, 16)))
    assert "confidence must have shape (8, 17)" in msg and "got (8, 16)" in msg
    msg = _err(ShapeError, lifter.lift, poses, np.ones((8, 17, 1)))
    assert "got (8, 17, 1)" in msg


def test_missing_joints_are_named(lifter, poses):
    conf = np.ones((8, 17), dtype=np.float32)
    conf[4, 13] = 0.0  # left wrist undetected
    msg = _err(MissingJointsError, lifter.lift, poses, conf)
    assert "pose (4,)" in msg and "left_wrist" in msg and "cannot fill missing joints" in msg


# ----------------------------------------------------------------------------- save / load
def test_save_pretrained_writes_the_three_files(lifter, tmp_path):
    folder = lifter.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert LifterConfig.from_file(folder / "config.json") == lifter.config
    assert "h36m17" in (folder / "README.md").read_text()


@pytest.mark.parametrize("as_str", [False, True])
def test_save_then_load_gives_identical_outputs(lifter, model_dir, poses, as_str):
    loaded = Lifter.from_pretrained(str(model_dir) if as_str else model_dir)
    assert loaded.config == lifter.config
    assert not loaded.net.training
    for name, tensor in lifter.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[name], tensor), name  # stored values: bit-identical
    # outputs: the same weights and input, compared with a stated tolerance
    np.testing.assert_allclose(loaded.lift(poses), lifter.lift(poses), rtol=0, atol=1e-6)
    t = torch.from_numpy(poses)
    torch.testing.assert_close(loaded.lift(t), lifter.lift(t), rtol=0, atol=1e-6)
    torch.testing.assert_close(loaded.lift(t, units="normalized"), lifter.lift(t, units="normalized"), rtol=0, atol=1e-6)


def test_from_folder_is_what_a_folder_path_loads(model_dir, poses):
    a = Lifter.from_folder(model_dir)
    b = Lifter.from_pretrained(model_dir)
    np.testing.assert_allclose(a.lift(poses), b.lift(poses), rtol=0, atol=1e-6)


def test_relative_folder_path(model_dir, poses, monkeypatch):
    monkeypatch.chdir(model_dir.parent)
    loaded = Lifter.from_pretrained(model_dir.name)
    assert loaded.lift(poses).shape == (8, 17, 3)


def test_save_does_not_write_pickles(model_dir):
    head = (model_dir / "model.safetensors").read_bytes()[:8]
    header_len = int.from_bytes(head, "little")
    header = json.loads((model_dir / "model.safetensors").read_bytes()[8 : 8 + header_len])
    assert header["__metadata__"]["poselift_format_version"] == "1"


def test_path_that_does_not_exist_names_the_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given in ["./no_such_model", "no/such/model", str(tmp_path / "nothing"), "~/poselift-no-such-model"]:
        expected = str(Path(given).expanduser().resolve())
        with pytest.raises(FileNotFoundError) as info:
            Lifter.from_pretrained(given)
        assert isinstance(info.value, ModelNotFoundError)
        assert expected in str(info.value), (given, str(info.value))


def test_path_object_that_does_not_exist_is_never_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / "ns" / "name")):
        Lifter.from_pretrained(Path("ns/name"))


def test_a_file_instead_of_a_folder(model_dir):
    msg = _err(ModelNotFoundError, Lifter.from_pretrained, model_dir / "model.safetensors")
    assert "is a file" in msg and "config.json" in msg


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _edit_config(folder: Path, **changes) -> None:
    data = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    (folder / "config.json").write_text(json.dumps(data))


def test_config_with_unknown_format_version(model_dir, tmp_path):
    folder = _copy_model(model_dir, tmp_path / "m")
    _edit_config(folder, format_version=7)
    msg = _err(ConfigError, Lifter.from_pretrained, folder)
    assert str(folder / "config.json") in msg and "format_version 7 is not supported" in msg


def test_config_without_format_version(model_dir, tmp_path):
    folder = _copy_model(model_dir, tmp_path / "m")
    _edit_config(folder, format_version=None)
    assert "no 'format_version'" in _err(ConfigError, Lifter.from_pretrained, folder)


def test_malformed_config_json(model_dir, tmp_path):
    folder = _copy_model(model_dir, tmp_path / "m")
    (folder / "config.json").write_text('{"format_version": 1,,}')
    assert "not valid JSON" in _err(ConfigError, Lifter.from_pretrained, folder)


def test_folder_without_config_is_file_not_found(model_dir, tmp_path):
    folder = _copy_model(model_dir, tmp_path / "m")
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        Lifter.from_pretrained(folder)


def test_folder_without_weights(model_dir, tmp_path):
    folder = _copy_model(model_dir, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert "model.safetensors is missing" in msg


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights(model_dir, tmp_path, damage):
    folder = _copy_model(model_dir, tmp_path / "m")
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(512), "empty": b""}[damage])
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert str(path) in msg and "corrupt or truncated" in msg


def test_weights_that_do_not_match_the_config(model_dir, tmp_path):
    wide = tiny_lifter(seed=1, width=48)
    folder = _copy_model(model_dir, tmp_path / "m")
    wide.save_pretrained(tmp_path / "wide")
    (folder / "model.safetensors").write_bytes((tmp_path / "wide" / "model.safetensors").read_bytes())
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert "does not match its config.json" in msg and "shape mismatch" in msg
    # each mismatch names the tensor and both shapes
    assert re.search(r"mlp\.[\w.]+: config \(32,\) vs file \(48,\)", msg), msg


def test_weights_with_other_keys(model_dir, tmp_path):
    deeper = tiny_lifter(seed=1, blocks=2)
    deeper.save_pretrained(tmp_path / "deeper")
    folder = _copy_model(model_dir, tmp_path / "m")
    (folder / "model.safetensors").write_bytes((tmp_path / "deeper" / "model.safetensors").read_bytes())
    msg = _err(WeightsError, Lifter.from_pretrained, folder)
    assert "unexpected keys" in msg and "mlp.blocks.1." in msg
    # and the other way round: the config asks for a block the file does not have
    shallow = _copy_model(tmp_path / "deeper", tmp_path / "shallow-config")
    (shallow / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes())
    msg = _err(WeightsError, Lifter.from_pretrained, shallow)
    assert "missing keys" in msg and "mlp.blocks.1." in msg


def test_weights_holding_nan(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = _copy_model(model_dir, tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    state["mlp.out.bias"][0] = float("nan")
    save_file(state, str(folder / "model.safetensors"))
    assert "NaN or infinite" in _err(WeightsError, Lifter.from_pretrained, folder)


def test_weights_error_is_a_poselift_error():
    assert issubclass(WeightsError, PoseliftError) and issubclass(ConfigError, PoseliftError)


def test_never_falls_back_to_random_weights(model_dir, tmp_path, poses):
    # a second load of the same folder gives the same numbers: nothing was initialised at random
    torch.manual_seed(123)
    a = Lifter.from_pretrained(model_dir).lift(poses)
    torch.manual_seed(456)
    b = Lifter.from_pretrained(model_dir).lift(poses)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_constructor_and_repr():
    lifter = Lifter(tiny_config())
    assert repr(lifter) == "Lifter(skeleton='h36m17', width=32, blocks=1, backend='torch', device='cpu')"
    assert not lifter.net.training
    assert lifter.lift(POSE_H36M17_PX).shape == (17, 3)


@pytest.mark.parametrize("kind", ["reversed_view", "big_endian"])
def test_any_numpy_layout_is_accepted(lifter, poses, kind):
    if kind == "reversed_view":
        x, expected = poses[::-1], lifter.lift(poses)[::-1]
    else:
        x, expected = poses.astype(">f4"), lifter.lift(poses)
    np.testing.assert_allclose(lifter.lift(x), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- flip test
def _mirror_2d(x: np.ndarray, skeleton) -> np.ndarray:
    """Mirror pixel keypoints left-right about x = 640 and swap left/right joints."""
    m = x[..., list(skeleton.flip_permutation), :].copy()
    m[..., 0] = 1280.0 - m[..., 0]
    return m


def _mirror_3d(X: np.ndarray, skeleton) -> np.ndarray:
    M = X[..., list(skeleton.flip_permutation), :].copy()
    M[..., 0] = -M[..., 0]
    return M


def test_flip_test_makes_the_lift_mirror_equivariant(poses):
    plain = tiny_lifter(seed=2)
    flipped = tiny_lifter(seed=2, flip_test=True)
    skel = plain.skeleton
    for normalized in (True, False):
        out = flipped.lift(poses, units="normalized" if normalized else "m")
        np.testing.assert_allclose(flipped.lift(_mirror_2d(poses, skel), units="normalized" if normalized else "m"), _mirror_3d(out, skel), atol=1e-4)
    # a random network alone is not equivariant, so the property above is the flip test's doing
    gap = np.abs(plain.lift(_mirror_2d(poses, skel), units="normalized") - _mirror_3d(plain.lift(poses, units="normalized"), skel))
    assert gap.max() > 1e-3


# ----------------------------------------------------------------------------- missing joints
def _completing_lifter(seed: int = 3, min_visible: int = 8) -> Lifter:
    from poselift.config import CompletionConfig

    return tiny_lifter(seed=seed, completion=CompletionConfig(width=32, blocks=1, min_visible=min_visible))


def test_missing_joints_are_filled_by_the_completion_network(poses):
    lifter = _completing_lifter()
    conf = np.ones((8, 17), dtype=np.float32)
    conf[2, [13, 16]] = 0.0  # both wrists undetected
    conf[5, 3] = 0.01  # right ankle below the threshold
    x = poses.copy()
    x[2, [13, 16]] = np.nan  # coordinates of missing joints are ignored, NaN included
    result = lifter.lift(x, conf, on_unliftable="nan")
    out, filled = result.poses, result.filled
    assert filled.dtype == np.bool_ and filled.shape == (8, 17)
    np.testing.assert_array_equal(filled, conf < lifter.config.confidence_threshold)
    assert np.isfinite(out).all()
    # filling then lifting is what lift does: visible joints unchanged, missing ones predicted
    visible = torch.from_numpy(~filled)
    with torch.no_grad():
        completed = lifter.completion(torch.from_numpy(x), visible)
    assert torch.equal(completed[visible], torch.from_numpy(x)[visible])
    assert torch.isfinite(completed).all()
    np.testing.assert_allclose(out, lifter.lift(completed.numpy()), rtol=1e-5, atol=1e-6)
    # poses without missing joints are lifted as without confidence
    np.testing.assert_allclose(out[[0, 1, 3, 4, 6, 7]], lifter.lift(poses[[0, 1, 3, 4, 6, 7]]), rtol=1e-5, atol=1e-6)


def test_no_missing_joints_means_nothing_filled(poses):
    lifter = _completing_lifter()
    result = lifter.lift(torch.from_numpy(poses), torch.ones(8, 17), on_unliftable="nan")
    out, filled = result.poses, result.filled
    assert torch.is_tensor(filled) and not filled.any()
    torch.testing.assert_close(out, lifter.lift(torch.from_numpy(poses)), rtol=1e-5, atol=1e-6)


def test_too_few_visible_joints(poses):
    lifter = _completing_lifter(min_visible=8)
    conf = np.zeros((8, 17), dtype=np.float32)
    conf[:, :8] = 1.0
    conf[6, 5:8] = 0.0  # pose 6 keeps only 5 joints
    msg = _err(MissingJointsError, lifter.lift, poses, conf)
    assert "pose (6,) has only 5 of 17 joints" in msg and "at least 8" in msg


def test_completion_network_survives_save_and_load(poses, tmp_path):
    lifter = _completing_lifter()
    conf = np.ones((8, 17), dtype=np.float32)
    conf[:, 10] = 0.0  # every head top missing
    loaded = Lifter.from_pretrained(lifter.save_pretrained(tmp_path / "m"))
    assert loaded.completion is not None and loaded.config == lifter.config
    np.testing.assert_allclose(loaded.lift(poses, conf), lifter.lift(poses, conf), rtol=0, atol=1e-6)


def test_the_former_spellings_still_work_and_say_they_are_deprecated():
    """``normalized=True`` and ``return_filled=True`` (before ``units=`` and ``on_unliftable="nan"``)."""
    lifter = tiny_lifter()
    poses = random_poses(3)
    conf = np.ones(poses.shape[:-1], np.float32)
    with pytest.warns(DeprecationWarning, match="units="):
        old = lifter.lift(poses, normalized=True)
    np.testing.assert_allclose(old, lifter.lift(poses, units="normalized"), rtol=0, atol=1e-6)
    with pytest.warns(DeprecationWarning, match="on_unliftable"):
        out, filled = lifter.lift(poses, conf, return_filled=True)
    new = lifter.lift(poses, conf, on_unliftable="nan")
    np.testing.assert_allclose(out, new.poses, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(filled, new.filled)
