"""Property-based tests (hypothesis), bounded to a few seconds.

* ``lift``: for finite keypoints of any scale and offset, in any dtype, with any pattern of
  missing joints, it returns finite poses or raises a ``PoseliftError``; never another
  exception, never NaN for a pose it says it lifted.
* the readers: random bytes, random JSON and truncated valid files give a ``KeypointData`` or
  a ``PoseliftError``, never another exception.
* ``poselift lift``: the exit status is non-zero exactly when no output file is written.

``python -m pytest tests/test_properties.py --hypothesis-show-statistics`` prints how many
examples each property ran (150 each, 37 for the CLI, by default).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import POSE_H36M17_PX, tiny_lifter  # noqa: E402
from poselift import KeypointData, PoseliftError, read_keypoints  # noqa: E402
from poselift.cli import main  # noqa: E402
from poselift.config import CompletionConfig  # noqa: E402

# Examples per property; POSELIFT_PROPERTY_EXAMPLES=2000 for a deeper search than the default run.
_N = int(os.environ.get("POSELIFT_PROPERTY_EXAMPLES", "150"))
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FAST = settings(deadline=None, max_examples=_N, suppress_health_check=_QUIET)
SLOW = settings(deadline=None, max_examples=max(_N // 4, 10), suppress_health_check=_QUIET)

_PLAIN = tiny_lifter(seed=11)
_COMPLETING = tiny_lifter(seed=12, completion=CompletionConfig(width=16, blocks=1, min_visible=8))

# ----------------------------------------------------------------------------- lift
_exponent = st.floats(min_value=-30.0, max_value=30.0)
_offset = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False)


@st.composite
def _keypoints(draw, dtypes=(np.float32, np.float64, np.int64, np.float16)):
    """``(batch, 17, 2)`` finite keypoints: a jittered person at any scale and offset, or raw numbers."""
    batch = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["person", "person", "raw", "collapsed"]))
    scale = 10.0 ** draw(_exponent)
    offset = np.array([draw(_offset), draw(_offset)])
    if kind == "person":
        x = (POSE_H36M17_PX - POSE_H36M17_PX.mean(0)) * scale / 100.0 + offset + rng.normal(0, scale / 50, (batch, 17, 2))
    elif kind == "raw":
        x = rng.uniform(-1, 1, (batch, 17, 2)) * scale + offset
    else:  # every joint at (nearly) one point
        x = np.broadcast_to(offset, (batch, 17, 2)) + rng.normal(0, 1e-12 * scale, (batch, 17, 2))
    with np.errstate(all="ignore"):
        cast = np.asarray(x).astype(dtype)
    hypothesis.assume(np.isfinite(cast).all())
    return cast


@st.composite
def _confidence(draw, batch: int):
    """``None`` or ``(batch, 17)`` confidence with any pattern of missing joints."""
    if draw(st.booleans()):
        return None
    missing = draw(st.lists(st.lists(st.booleans(), min_size=17, max_size=17), min_size=batch, max_size=batch))
    conf = np.where(np.array(missing), 0.0, draw(st.floats(0.05, 1.0))).astype(np.float32)
    return conf


@FAST
@given(data=st.data())
def test_lift_returns_finite_poses_or_a_poselift_error(data):
    x = data.draw(_keypoints())
    conf = data.draw(_confidence(x.shape[0]))
    lifter = data.draw(st.sampled_from([_PLAIN, _COMPLETING]))
    normalized = data.draw(st.booleans())
    try:
        out = lifter.lift(x, conf, units="normalized" if normalized else "m")
    except PoseliftError:
        pass  # a clear refusal; any other exception fails the property
    else:
        assert out.shape == x.shape[:-1] + (3,) and np.isfinite(out).all()
    result = lifter.lift(x, conf, units="normalized" if normalized else "m", on_unliftable="nan")
    assert np.isfinite(result.poses[result.lifted]).all()
    assert np.isnan(result.poses[~result.lifted]).all()
    assert ((result.reason == "") == result.lifted).all()


@st.composite
def _camera(draw):
    """Intrinsics as a dict: any focal length, principal point, image size and confidence scale,
    plausible or not (F09/F10: a focal length in millimetres, 1e8 px, 1e6 px offsets)."""
    spec = {
        "fx": 10.0 ** draw(st.floats(-2.0, 9.0)),
        "cx": draw(st.floats(-2e6, 2e6)),
        "cy": draw(st.floats(-2e6, 2e6)),
    }
    spec["fy"] = spec["fx"] * draw(st.sampled_from([1.0, 1.0, 0.5, 20.0]))
    if draw(st.booleans()):
        spec["width"], spec["height"] = draw(st.integers(1, 20000)), draw(st.integers(1, 20000))
    return spec


@FAST
@given(data=st.data())
def test_lift_with_any_camera_places_finite_poses_or_refuses(data):
    """A camera is refused up front (``CameraError``), or every pose it says it lifted is
    finite and every pose it could not place is marked with the reason ``"camera"``."""
    from poselift.camera import CameraError

    x = data.draw(_keypoints(dtypes=(np.float32, np.float64)))
    spec = data.draw(_camera())
    conf = np.full(x.shape[:-1], 10.0 ** data.draw(st.floats(-3.0, 38.0)), np.float32)
    try:
        result = _PLAIN.lift(x, conf, camera=spec, on_unliftable="nan")
    except CameraError:
        return
    assert np.isfinite(result.poses[result.lifted]).all()
    assert np.isnan(result.poses[~result.lifted]).all()
    assert ((result.reason == "") == result.lifted).all()


@FAST
@given(data=st.data())
def test_lift_ignores_translation_and_scale_of_a_person(data):
    x = data.draw(_keypoints(dtypes=(np.float64,)))
    try:
        ref = _PLAIN.lift(x)
    except PoseliftError:
        return
    factor = 10.0 ** data.draw(st.floats(-6.0, 6.0))
    shift = np.array([data.draw(st.floats(-1e6, 1e6)), data.draw(st.floats(-1e6, 1e6))])
    moved = x * factor + shift
    hypothesis.assume(np.isfinite(moved).all())
    try:
        out = _PLAIN.lift(moved)
    except PoseliftError:  # moved into float64's rounding noise: refusing is allowed, NaN is not
        return
    spread = np.abs(x - x.mean(axis=-2, keepdims=True)).max()
    hypothesis.assume(spread > 1e-6 * max(np.abs(x).max(), np.abs(shift).max() / factor, 1.0))
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------- readers
def _read(path: Path) -> None:
    try:
        data = read_keypoints(path)
    except PoseliftError:
        return
    assert isinstance(data, KeypointData)
    assert np.isfinite(data.confidence).all()


def _valid_files(folder: Path) -> dict[str, bytes]:
    """One valid file of each format the readers take."""
    rng = np.random.default_rng(0)
    people = [{"pose_keypoints_2d": np.concatenate([rng.uniform(0, 500, (25, 2)), rng.uniform(0, 1, (25, 1))], 1).ravel().tolist()}]
    coco = [{"image_id": 1, "keypoints": np.concatenate([rng.uniform(0, 500, (17, 2)), np.ones((17, 1))], 1).ravel().tolist(), "score": 0.9}]
    files = {
        "openpose.json": json.dumps({"version": 1.3, "people": people}).encode(),
        "coco.json": json.dumps(coco).encode(),
    }
    np.save(folder / "a.npy", rng.uniform(0, 500, (4, 17, 3)).astype(np.float32))
    np.savez_compressed(folder / "a.npz", keypoints=rng.uniform(0, 500, (4, 16, 2)), confidence=np.ones((4, 16)))
    files["a.npy"] = (folder / "a.npy").read_bytes()
    files["a.npz"] = (folder / "a.npz").read_bytes()
    return files


_VALID: dict[str, bytes] = {}


@FAST
@given(name=st.sampled_from(["openpose.json", "coco.json", "a.npy", "a.npz"]), data=st.data())
def test_readers_on_truncated_and_corrupted_files(name, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not _VALID:
            _VALID.update(_valid_files(folder))
        raw = bytearray(_VALID[name])
        action = data.draw(st.sampled_from(["truncate", "flip", "both"]))
        if action in ("truncate", "both"):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        if action in ("flip", "both") and raw:
            for _ in range(data.draw(st.integers(1, 8))):
                raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        path = folder / name
        path.write_bytes(bytes(raw))
        _read(path)


@FAST
@given(suffix=st.sampled_from([".json", ".npy", ".npz"]), blob=st.binary(max_size=600))
def test_readers_on_random_bytes(suffix, blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(blob)
        _read(path)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(["people", "pose_keypoints_2d", "annotations", "images", "image_id", "keypoints", "score", "id", "x"]), inner, max_size=5),
    max_leaves=40,
)


@FAST
@given(obj=_json)
def test_readers_on_random_json(obj):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.json"
        path.write_text(json.dumps(obj), encoding="utf-8")  # NaN and Infinity as Python's json writes them
        _read(path)


# ----------------------------------------------------------------------------- output races
_BEFORE = st.sampled_from(["absent", "file", "folder", "link"])


@FAST
@given(before=_BEFORE, meanwhile=_BEFORE, overwrite=st.booleans(), suffix=st.sampled_from([".json", ".npz", ".bvh"]))
def test_an_output_is_written_whole_or_refused_never_clobbered(before, meanwhile, overwrite, suffix):
    """Whatever lies at the output path before the run and whatever another process puts
    there while it works (F04): without ``overwrite`` an existing output is never replaced
    (``OutputExistsError``, or a ``PoseliftError`` for a folder in the way); with it, a file
    is replaced whole; a failed write leaves the other's file as it was and no temporary."""
    from poselift.errors import OutputConflictError, OutputExistsError
    from poselift.export import write_bvh
    from poselift.io import write_poses

    poses = np.tile(POSE_H36M17_PX[:, [0, 1, 0]] / 200.0, (3, 1, 1))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"out{suffix}"

        def put(state: str) -> None:
            if path.exists() or path.is_symlink():
                return
            if state == "file":
                path.write_text("theirs")
            elif state == "folder":
                path.mkdir()
            elif state == "link":
                path.symlink_to(folder / "target")

        put(before)
        if path.exists() or path.is_symlink():
            if not overwrite:
                return  # the callers refuse up front (tested with each command); this is about the last step
        write = (lambda: write_bvh(path, poses, "h36m17", 30.0, overwrite=overwrite)) if suffix == ".bvh" else (
            lambda: write_poses(path, poses, skeleton="h36m17", overwrite=overwrite))
        import unittest.mock

        real_replace, real_link = os.replace, os.link

        def first_meanwhile(fn):
            def wrapped(*args, **kwargs):
                put(meanwhile)  # another process writes the output just before our final step
                return fn(*args, **kwargs)
            return wrapped

        theirs_before = path.read_text() if path.is_file() and not path.is_symlink() else None
        with unittest.mock.patch("os.replace", first_meanwhile(real_replace)), unittest.mock.patch("os.link", first_meanwhile(real_link)):
            try:
                write()
                wrote = True
            except PoseliftError as e:
                wrote = False
                assert not overwrite or path.is_dir(), e
                if not overwrite:
                    assert isinstance(e, OutputExistsError) or (isinstance(e, OutputConflictError) and path.is_dir()) or path.is_dir(), e
        leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
        assert not leftovers, leftovers
        if wrote:
            assert path.is_file() and path.read_bytes() != b"theirs"
        elif path.is_file() and not path.is_symlink():
            assert path.read_text() == (theirs_before or "theirs")


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> Path:
    return _PLAIN.save_pretrained(tmp_path_factory.mktemp("cli-model"))


@st.composite
def _npy_array(draw):
    frames = draw(st.integers(0, 3))
    channels = draw(st.sampled_from([2, 3]))
    joints = draw(st.sampled_from([17, 17, 16, 25, 5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.uniform(0, 640, (frames, joints, channels))
    if channels == 3:
        x[..., 2] = rng.uniform(0, 1, (frames, joints)) > draw(st.floats(0, 1))
    for _ in range(draw(st.integers(0, 3))):
        if x.size:
            x.reshape(-1)[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, 0.0, 1e30]))
    if draw(st.booleans()) and frames:
        x[draw(st.integers(0, frames - 1)), :, :2] = 7.0  # one collapsed pose
    return x.astype(draw(st.sampled_from([np.float32, np.float64])))


@SLOW
@given(array=_npy_array(), suffix=st.sampled_from([".json", ".npz"]))
def test_cli_exit_status_is_non_zero_exactly_when_nothing_is_written(cli_model, array, suffix, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kp.npy"
        np.save(src, array)
        out = Path(tmp) / f"out{suffix}"
        rc = main(["lift", str(src), "-o", str(out), "--model", str(cli_model)])
        capsys.readouterr()
        assert (rc == 0) == out.exists(), (rc, array.shape)
        assert not [p for p in os.listdir(tmp) if ".tmp" in p]  # no partial files left behind
