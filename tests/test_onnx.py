"""The ONNX graphs and the onnxruntime backend agree with the torch backend."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from poselift import Lifter, LifterConfig, NonFiniteError, PoseliftError, ShapeError  # noqa: E402
from poselift.errors import EmptyInputError, MissingJointsError  # noqa: E402
from poselift.onnx import ProviderError, default_session_options  # noqa: E402
from poselift.weights import COMPLETION_ONNX_NAME, ONNX_NAME  # noqa: E402

ATOL = 1e-4


def _random_lifter(skeleton: str, seed: int = 0, **config) -> Lifter:
    """A small randomly initialised lifter with non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    lifter = Lifter(LifterConfig(skeleton=skeleton, width=64, blocks=2, **config))
    with torch.no_grad():
        for m in lifter.net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0.0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)
    return lifter


def _poses(*batch: int, joints: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(200, 800, size=(*batch, 1, 2))
    return (centre + rng.normal(0, 60, size=(*batch, joints, 2))).astype(np.float32)


@pytest.fixture(scope="module", params=["h36m17", "lsp14"])
def pair(request, tmp_path_factory) -> tuple[Lifter, Lifter]:
    """(torch lifter, ONNX lifter) loaded from the same saved folder."""
    root = tmp_path_factory.mktemp(f"onnx-{request.param}")
    folder = _random_lifter(request.param).save_pretrained(root / "model")
    torch_lifter = Lifter.from_folder(folder)
    onnx_lifter = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=root / "cache", intra_op_threads=1)
    return torch_lifter, onnx_lifter


# ---------------------------------------------------------------------------- export
def test_export_onnx_file(tmp_path):
    lifter = _random_lifter("h36m17")
    path = lifter.export_onnx(tmp_path / "sub" / "lifter.onnx")
    assert path == tmp_path / "sub" / "lifter.onnx" and path.is_file()
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["keypoints", "height"]
    assert [o.name for o in model.graph.output] == ["pose3d"]
    kp_dims = inputs["keypoints"].type.tensor_type.shape.dim
    assert kp_dims[0].dim_param == "batch" and [d.dim_value for d in kp_dims[1:]] == [17, 2]
    assert len(inputs["height"].type.tensor_type.shape.dim) == 0
    meta = {p.key: p.value for p in model.metadata_props}
    assert LifterConfig.from_dict(__import__("json").loads(meta["poselift_config"])) == lifter.config
    assert len(meta["poselift_weights_sha256"]) == 64


def test_export_leaves_lifter_untouched(tmp_path):
    lifter = _random_lifter("h36m17")
    lifter.net.train()
    before = {k: v.clone() for k, v in lifter.net.state_dict().items()}
    lifter.export_onnx(tmp_path / "m.onnx")
    assert lifter.net.training
    for k, v in lifter.net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_import_poselift_does_not_import_onnxruntime():
    code = "import sys, poselift; sys.exit(int('onnxruntime' in sys.modules or 'onnx' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("batch", [1, 7, 1000])
@pytest.mark.parametrize("normalized", [False, True])
def test_matches_torch(pair, batch, normalized):
    torch_lifter, onnx_lifter = pair
    x = _poses(batch, joints=torch_lifter.skeleton.num_joints)
    expected = torch_lifter.lift(x, units="normalized" if normalized else "m")
    got = onnx_lifter.lift(x, units="normalized" if normalized else "m")
    assert got.shape == (batch, x.shape[1], 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def test_leading_batch_dims_and_height(pair):
    torch_lifter, onnx_lifter = pair
    x = _poses(2, 3, joints=torch_lifter.skeleton.num_joints)
    got = onnx_lifter.lift(x, height=1.5)
    assert got.shape == (2, 3, x.shape[-2], 3)
    np.testing.assert_allclose(got, torch_lifter.lift(x, height=1.5), atol=ATOL, rtol=0)
    np.testing.assert_allclose(got.reshape(6, -1, 3), onnx_lifter.lift(x.reshape(6, -1, 2), height=1.5), atol=1e-6)
    single = onnx_lifter.lift(x[1, 2], height=1.5)
    assert single.shape == (x.shape[-2], 3)
    np.testing.assert_allclose(single, got[1, 2], atol=1e-5)


def test_metric_scale_is_height(pair):
    torch_lifter, onnx_lifter = pair
    x = _poses(4, joints=torch_lifter.skeleton.num_joints)
    a = onnx_lifter.lift(x, height=1.0)
    b = onnx_lifter.lift(x, height=2.0)
    np.testing.assert_allclose(b, 2.0 * a, atol=1e-5)


def test_tensor_in_tensor_out(pair):
    torch_lifter, onnx_lifter = pair
    x = torch.from_numpy(_poses(5, joints=torch_lifter.skeleton.num_joints)).double()
    got = onnx_lifter.lift(x)
    assert torch.is_tensor(got) and got.dtype == torch.float64 and got.shape == (5, x.shape[1], 3)
    torch.testing.assert_close(got, torch_lifter.lift(x), atol=ATOL, rtol=0)


def test_chunked_batches(pair):
    torch_lifter, onnx_lifter = pair
    x = _poses(10, joints=torch_lifter.skeleton.num_joints)
    np.testing.assert_allclose(onnx_lifter.lift(x, batch_size=3), torch_lifter.lift(x), atol=ATOL, rtol=0)


def test_flip_test_and_completion(tmp_path):
    """Flip averaging is inside the exported graph; missing joints are filled by the completion graph."""
    from poselift.config import CompletionConfig

    lifter = _random_lifter("h36m17", flip_test=True, completion=CompletionConfig(width=32, blocks=1))
    folder = lifter.save_pretrained(tmp_path / "m")
    onnx_lifter = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    assert onnx_lifter.runner.completion_session is not None
    x = _poses(6, joints=17)
    conf = np.ones((6, 17), dtype=np.float32)
    conf[1, [3, 13]] = 0.0
    x[1, 3] = np.nan  # a missing joint's coordinates are ignored
    result = onnx_lifter.lift(x, conf, on_unliftable="nan")
    got, filled = result.poses, result.filled
    result = lifter.lift(x, conf, on_unliftable="nan")
    expected, expected_filled = result.poses, result.filled
    np.testing.assert_array_equal(filled, expected_filled)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert np.isfinite(got).all()


# ---------------------------------------------------------------------------- errors
def _error(lifter, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(PoseliftError) as info:
        lifter.lift(*args, **kwargs)
    return type(info.value), str(info.value)


def test_errors_identical_to_torch(pair):
    torch_lifter, onnx_lifter = pair
    n = torch_lifter.skeleton.num_joints
    wrong = _poses(3, joints=25)
    nan = _poses(4, joints=n)
    nan[2, 1, 0] = np.nan
    conf = np.ones((4, n), dtype=np.float32)
    conf[3, 0] = 0.0
    for args, kwargs, kind in [
        ((wrong,), {}, ShapeError),
        ((nan,), {}, NonFiniteError),
        ((_poses(4, joints=n),), {"confidence": conf}, MissingJointsError),
        ((np.zeros((0, n, 2), np.float32),), {}, EmptyInputError),
    ]:
        expected = _error(torch_lifter, *args, **kwargs)
        assert expected[0] is kind
        assert _error(onnx_lifter, *args, **kwargs) == expected
    assert "must have shape (..., %d, 2)" % n in _error(onnx_lifter, wrong)[1]
    assert "first at index (2,)" in _error(onnx_lifter, nan)[1]


# ---------------------------------------------------------------------------- providers and loading
def test_bad_provider_name(tmp_path):
    folder = _random_lifter("h36m17").save_pretrained(tmp_path / "m")
    with pytest.raises(ProviderError) as info:
        Lifter.from_folder(folder, backend="onnx", providers=["CPUExecutionProvidr"], onnx_cache_dir=tmp_path / "c")
    message = str(info.value)
    assert "'CPUExecutionProvidr'" in message and "available here" in message
    assert "Did you mean 'CPUExecutionProvider'?" in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(ProviderError, match="list of provider names"):
        Lifter.from_folder(folder, backend="onnx", providers="CPUExecutionProvider", onnx_cache_dir=tmp_path / "c")
    with pytest.raises(ProviderError, match="empty"):
        Lifter.from_folder(folder, backend="onnx", providers=[], onnx_cache_dir=tmp_path / "c")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ProviderError, match="onnxruntime-gpu"):
            Lifter.from_folder(folder, backend="onnx", providers=["CUDAExecutionProvider"], onnx_cache_dir=tmp_path / "c")


def test_from_pretrained_onnx_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    lifter = _random_lifter("h36m17")
    folder = lifter.save_pretrained(tmp_path / "m")
    loaded = Lifter.from_pretrained(folder, backend="onnx")
    assert loaded.backend == "onnx"
    assert loaded.runner.session.get_providers() == ["CPUExecutionProvider"]
    assert (tmp_path / "xdg" / "poselift" / "onnx") in loaded.runner.onnx_path.parents
    assert not (folder / ONNX_NAME).exists()  # the model folder is never written to
    x = _poses(3, joints=17)
    np.testing.assert_allclose(loaded.lift(x), lifter.lift(x), atol=ATOL, rtol=0)
    explicit = Lifter.from_pretrained(folder, backend="onnx", providers=["CPUExecutionProvider"])
    assert explicit.runner.onnx_path == loaded.runner.onnx_path  # the cached export is reused


def test_cache_is_reused_and_keyed_by_weights(tmp_path):
    cache = tmp_path / "cache"
    folder = _random_lifter("h36m17", seed=0).save_pretrained(tmp_path / "m")
    first = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=cache)
    mtime = first.runner.onnx_path.stat().st_mtime_ns
    again = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=cache)
    assert again.runner.onnx_path == first.runner.onnx_path and again.runner.onnx_path.stat().st_mtime_ns == mtime
    _random_lifter("h36m17", seed=1).save_pretrained(folder)  # retrained in place
    retrained = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=cache)
    assert retrained.runner.onnx_path != first.runner.onnx_path
    x = _poses(2, joints=17)
    np.testing.assert_allclose(retrained.lift(x), Lifter.from_folder(folder).lift(x), atol=ATOL, rtol=0)


def test_shipped_onnx_used_and_stale_one_ignored(tmp_path, caplog):
    from poselift.weights import record_graph_digest

    lifter = _random_lifter("h36m17", seed=0)
    folder = lifter.save_pretrained(tmp_path / "m", onnx=True)
    shipped = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    assert shipped.runner.onnx_path == folder / ONNX_NAME
    assert not (tmp_path / "c").exists()

    lifter.export_onnx(folder / ONNX_NAME)  # a graph put there by hand is not the one config.json records
    with caplog.at_level(logging.WARNING, logger="poselift.onnx"):
        assert Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c").runner.onnx_path != folder / ONNX_NAME
    assert "not the graph config.json records" in caplog.text
    caplog.clear()

    _random_lifter("h36m17", seed=1).save_pretrained(folder)  # model.onnx is now stale
    record_graph_digest(folder / ONNX_NAME)  # even recorded as the folder's graph, its weights differ
    with caplog.at_level(logging.WARNING, logger="poselift.onnx"):
        fresh = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    assert fresh.runner.onnx_path != folder / ONNX_NAME
    assert "exported from different weights" in caplog.text
    x = _poses(2, joints=17)
    np.testing.assert_allclose(fresh.lift(x), Lifter.from_folder(folder).lift(x), atol=ATOL, rtol=0)

    (folder / ONNX_NAME).write_bytes(b"not an onnx file")
    record_graph_digest(folder / ONNX_NAME)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="poselift.onnx"):
        Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    assert "onnxruntime cannot load it" in caplog.text


def test_session_options_and_device(tmp_path):
    folder = _random_lifter("h36m17").save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="intra_op_threads"):
        Lifter.from_folder(folder, backend="onnx", intra_op_threads=-1, onnx_cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="providers"):
        Lifter.from_folder(folder, backend="onnx", device="cuda", onnx_cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="not both"):
        Lifter.from_folder(folder, backend="onnx", intra_op_threads=1, session_options=ort.SessionOptions(), onnx_cache_dir=tmp_path / "c")
    options = default_session_options(1)
    assert options.intra_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    custom = ort.SessionOptions()
    custom.intra_op_num_threads = 1
    assert Lifter.from_folder(folder, backend="onnx", session_options=custom, onnx_cache_dir=tmp_path / "c").runner.session is not None
    lifter = Lifter.from_folder(folder, backend="onnx", intra_op_threads=1, onnx_cache_dir=tmp_path / "c")
    assert lifter.to("cpu") is lifter
    with pytest.raises(ValueError, match="providers"):
        lifter.to("cuda")
    assert "Lifter(skeleton='h36m17'" in repr(lifter) and "backend='onnx'" in repr(lifter) and "CPUExecutionProvider" in repr(lifter)


def test_missing_weights_raise(tmp_path):
    folder = _random_lifter("h36m17").save_pretrained(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(PoseliftError, match="model.safetensors"):
        Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")


def test_provider_that_fails_to_start_raises(tmp_path):
    """onnxruntime silently falls back to the CPU when e.g. CUDA libraries are missing."""
    from types import SimpleNamespace

    from poselift.onnx import _make_session

    fallback = SimpleNamespace(get_providers=lambda: ["CPUExecutionProvider"])
    fake_ort = SimpleNamespace(InferenceSession=lambda *args, **kwargs: fallback)
    with pytest.raises(ProviderError, match="could not start 'CUDAExecutionProvider'"):
        _make_session(tmp_path / "m.onnx", ["CUDAExecutionProvider", "CPUExecutionProvider"], None, fake_ort)
    assert _make_session(tmp_path / "m.onnx", ["CPUExecutionProvider"], None, fake_ort) is fallback


def test_kinematic_head_exports_and_keeps_limbs_symmetric(tmp_path):
    """Kundu et al.'s head: bone directions + forward kinematics; left and right limbs equal, in torch and ONNX."""
    from poselift.skeleton import get_skeleton

    lifter = _random_lifter("h36m17", head="kinematic", flip_test=True)
    folder = lifter.save_pretrained(tmp_path / "m")
    onnx_lifter = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    x = _poses(5, joints=17)
    got = onnx_lifter.lift(x, height=1.7)
    expected = Lifter.from_folder(folder).lift(x, height=1.7)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    sk = get_skeleton("h36m17")
    length = lambda P, j: np.linalg.norm(P[:, j] - P[:, sk.parents[j]], axis=-1)  # noqa: E731
    for left, right in sk.pairs:
        np.testing.assert_allclose(length(got, left), length(got, right), rtol=1e-4)


@pytest.mark.parametrize("dtype, head", [(None, "depth"), (torch.float16, "depth"), (torch.float16, "kinematic")])
def test_saved_folder_serves_from_its_own_graphs_without_a_second_copy_of_the_weights(tmp_path, dtype, head):
    """save_pretrained(onnx=True): the graphs read model.safetensors (float32 or float16) themselves."""
    from poselift.config import CompletionConfig

    lifter = _random_lifter("h36m17", flip_test=True, head=head, completion=CompletionConfig(width=32, blocks=1))
    folder = lifter.save_pretrained(tmp_path / "m", dtype=dtype, onnx=True)
    for name in (ONNX_NAME, COMPLETION_ONNX_NAME):  # structure only: the weights stay in one file
        graph = onnx.load(str(folder / name), load_external_data=False).graph
        inline = [i.name for i in graph.initializer if i.data_location != onnx.TensorProto.EXTERNAL and np.prod(i.dims) >= 16]
        assert inline == [], (name, inline)
        assert {e.value for i in graph.initializer for e in i.external_data if e.key == "location"} == {"model.safetensors"}
    loaded = Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=tmp_path / "c")
    assert loaded.runner.onnx_path == folder / ONNX_NAME and loaded.runner.completion_path == folder / COMPLETION_ONNX_NAME
    assert not (tmp_path / "c").exists()  # nothing exported on load
    reference = Lifter.from_folder(folder, backend="torch")
    x = _poses(9, joints=17)
    conf = np.ones((9, 17), dtype=np.float32)
    conf[2, [5, 6]] = 0.0
    np.testing.assert_allclose(loaded.lift(x, conf), reference.lift(x, conf), atol=ATOL, rtol=0)


def test_concurrent_exports_from_threads(tmp_path):
    """F08: concurrent ONNX exports crashed in the TorchScript exporter (global state)."""
    from concurrent.futures import ThreadPoolExecutor

    lifter = _random_lifter("h36m17", seed=4)
    x = _poses(3, joints=17)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda i: lifter.export_onnx(tmp_path / f"m{i}.onnx"), range(4)))
    outs = [ort.InferenceSession(str(p)).run(None, {"keypoints": x, "height": np.asarray(1.7, np.float32)})[0] for p in paths]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize(
    "providers, batch",
    [
        (["CPUExecutionProvider"], 512),
        (["AzureExecutionProvider", "CPUExecutionProvider"], 512),  # what get_available_providers() lists on a CPU
        (["CUDAExecutionProvider", "CPUExecutionProvider"], 8192),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], 8192),
    ],
)
def test_the_onnx_runners_batch_follows_its_providers(providers, batch):
    """A session on the CPU (whatever else onnxruntime lists) lifts 512 poses a call by
    default, one on an accelerator 8192."""
    from poselift.runners import OnnxLiftRunner

    class Session:
        def get_providers(self):
            return providers

    assert OnnxLiftRunner(Session(), None).batch_size == batch
