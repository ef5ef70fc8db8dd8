"""Geometric layout adapters: mapping tables, fallbacks, confidence, containers, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poselift import adapt
from poselift.adapt import (
    HEAD_FROM_EARS,
    HEAD_FROM_EYES,
    HEAD_FROM_NOSE,
    HIP_WIDEN,
    MAPPINGS,
    NECK_FRACTION,
    SPINE_FRACTION,
    THORAX_RAISE,
    adapt_coco17,
    adapt_layout,
    adapt_mpii16,
    adapt_openpose,
    canonical_layout,
    map_layout,
)
from poselift.errors import NonFiniteError, PoseliftError, ShapeError
from poselift.skeleton import SKELETONS, get_skeleton

H36M = get_skeleton("h36m17")
SOURCES = ("openpose_body25", "openpose_coco18", "coco17", "mpii16", "lsp14", "h36m17", "mediapipe33")


def _pose(layout: str, **points) -> np.ndarray:
    """A (N, 3) pose with all joints present at distinct positions, some set by name."""
    skel = get_skeleton(layout)
    out = np.zeros((skel.num_joints, 3))
    out[:, 0] = np.arange(skel.num_joints) * 3.0 + 100
    out[:, 1] = np.arange(skel.num_joints) * 2.0 + 50
    out[:, 2] = 1.0
    for name, xy in points.items():
        out[skel.index(name), :2] = xy
    return out


def _upright_coco17() -> np.ndarray:
    """A person standing upright, facing the camera (image y down)."""
    return _pose(
        "coco17",
        nose=(200, 100), left_eye=(206, 94), right_eye=(194, 94), left_ear=(214, 98), right_ear=(186, 98),
        left_shoulder=(230, 160), right_shoulder=(170, 160), left_elbow=(240, 220), right_elbow=(160, 220),
        left_wrist=(245, 280), right_wrist=(155, 280), left_hip=(220, 300), right_hip=(180, 300),
        left_knee=(222, 400), right_knee=(178, 400), left_ankle=(224, 500), right_ankle=(176, 500),
    )


def _j(kp: np.ndarray, name: str, skel=H36M) -> np.ndarray:
    return kp[..., skel.index(name), :]


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("target", ["h36m17", "lsp14"])
def test_every_table_is_complete_and_affine(source, target):
    table = MAPPINGS[(source, target)]
    src, dst = get_skeleton(source), get_skeleton(target)
    assert list(table) == list(dst.joints)
    for joint, alternatives in table.items():
        assert len(alternatives) >= 1
        for alt in alternatives:
            assert abs(sum(alt.values()) - 1.0) < 1e-9, (joint, alt)
            assert set(alt) <= set(src.joints), (joint, alt)


def test_aliases():
    assert canonical_layout("mediapipe") == "mediapipe33"
    assert canonical_layout("body25") == "openpose_body25"
    assert canonical_layout("coco18") == "openpose_coco18"
    assert canonical_layout("coco17") == "coco17"
    with pytest.raises(PoseliftError, match="unknown joint layout 'coco19'"):
        canonical_layout("coco19")


def test_identity_and_lsp14_selection():
    x = np.random.default_rng(0).uniform(0, 500, (4, 17, 2))
    kp, conf = adapt_layout(x, "h36m17")
    np.testing.assert_allclose(kp, x, rtol=1e-6, atol=1e-6)
    assert (conf == 1).all()
    lsp, _ = adapt_layout(x, "h36m17", target="lsp14")
    # lsp14 (Chen et al.) from Human3.6M: the thorax stands for the neck
    order = (3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10)
    np.testing.assert_allclose(lsp, x[:, order], rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- geometry
def test_coco17_hand_made_pose():
    p = _upright_coco17()
    kp, conf = adapt_coco17(p)
    assert kp.shape == (17, 2) and conf.shape == (17,)
    assert (conf == 1).all()
    lh, rh = np.array([220.0, 300]), np.array([180.0, 300])
    ls, rs = np.array([230.0, 160]), np.array([170.0, 160])
    pelvis, ms = (lh + rh) / 2, (ls + rs) / 2
    np.testing.assert_allclose(_j(kp, "pelvis"), pelvis, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "left_hip"), lh + HIP_WIDEN * (lh - rh), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "right_hip"), rh + HIP_WIDEN * (rh - lh), rtol=1e-6, atol=1e-6)
    thorax = ms + THORAX_RAISE * (ms - pelvis)
    np.testing.assert_allclose(_j(kp, "thorax"), thorax, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "spine"), pelvis + SPINE_FRACTION * (thorax - pelvis), rtol=1e-6, atol=1e-6)
    ears = np.array([200.0, 98])
    head = ears + HEAD_FROM_EARS * (ears - ms)
    np.testing.assert_allclose(_j(kp, "head_top"), head, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "neck"), thorax + NECK_FRACTION * (head - thorax), rtol=1e-6, atol=1e-6)
    for name in ("left_shoulder", "right_elbow", "left_wrist", "right_knee", "left_ankle"):
        np.testing.assert_allclose(_j(kp, name), p[get_skeleton("coco17").index(name), :2], rtol=1e-6, atol=1e-6)
    # upright: head top above the nose, which is above the thorax (image y grows down)
    assert _j(kp, "head_top")[1] < 100 < _j(kp, "thorax")[1]


def test_head_top_fallbacks_and_missing():
    p = _upright_coco17()
    coco = get_skeleton("coco17")
    ms = np.array([200.0, 160])

    def head(q):
        kp, conf = adapt_coco17(q)
        return _j(kp, "head_top"), conf[H36M.index("head_top")], conf

    q = p.copy()
    q[coco.index("left_ear"), 2] = 0  # one ear: eyes come next
    eyes = np.array([200.0, 94])
    np.testing.assert_allclose(head(q)[0], eyes + HEAD_FROM_EYES * (eyes - ms), rtol=1e-6, atol=1e-6)
    q[[coco.index("left_eye"), coco.index("right_eye")], 2] = 0  # then the remaining ear
    r_ear = np.array([186.0, 98])
    np.testing.assert_allclose(head(q)[0], r_ear + HEAD_FROM_EARS * (r_ear - ms), rtol=1e-6, atol=1e-6)
    q[coco.index("right_ear"), 2] = 0  # then the nose
    nose = np.array([200.0, 100])
    np.testing.assert_allclose(head(q)[0], nose + HEAD_FROM_NOSE * (nose - ms), rtol=1e-6, atol=1e-6)
    q[coco.index("nose"), 2] = 0  # no face at all: head top and neck missing, thorax still there
    xy, c, conf = head(q)
    assert c == 0 and np.isnan(xy).all()  # missing: NaN, so it cannot be lifted as a real point
    assert conf[H36M.index("neck")] == 0
    assert conf[H36M.index("thorax")] == 1 and conf[H36M.index("spine")] == 1


def test_confidence_is_min_of_sources():
    p = _upright_coco17()
    coco = get_skeleton("coco17")
    p[coco.index("left_ear"), 2] = 0.3
    p[coco.index("right_shoulder"), 2] = 0.6
    p[coco.index("left_hip"), 2] = 0.8
    p[coco.index("left_ankle"), 2] = 0.0
    _, conf = adapt_coco17(p)
    c = dict(zip(H36M.joints, conf.tolist()))
    assert c["head_top"] == pytest.approx(0.3)  # ears and both shoulders
    assert c["thorax"] == pytest.approx(0.6)  # shoulders and hips
    assert c["pelvis"] == pytest.approx(0.8)
    assert c["left_hip"] == pytest.approx(0.8) and c["right_hip"] == pytest.approx(0.8)
    assert c["neck"] == pytest.approx(0.3)
    assert c["left_ankle"] == 0.0 and c["left_knee"] == 1.0


def test_min_confidence_switches_to_the_next_alternative():
    p = _upright_coco17()
    coco = get_skeleton("coco17")
    p[coco.index("left_ear"), 2] = 0.1
    kp_low, conf_low = adapt_coco17(p)
    kp, conf = adapt_coco17(p, min_confidence=0.2)
    assert conf_low[H36M.index("head_top")] == pytest.approx(0.1)
    assert conf[H36M.index("head_top")] == 1.0  # from the eyes
    assert not np.allclose(_j(kp, "head_top"), _j(kp_low, "head_top"))


def test_openpose_neck_and_mid_hip_are_used():
    body = get_skeleton("openpose_body25")
    p = _pose("openpose_body25", neck=(200, 150), mid_hip=(200, 300), left_hip=(220, 300), right_hip=(180, 300))
    kp, _ = adapt_openpose(p)
    pelvis = np.array([200.0, 300])
    np.testing.assert_allclose(_j(kp, "thorax"), np.array([200.0, 150]) + THORAX_RAISE * np.array([0, -150.0]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "pelvis"), pelvis, rtol=1e-6, atol=1e-6)
    # a hip missing: the pelvis falls back to BODY_25's mid_hip, the other hip widens from it
    p[body.index("left_hip"), 2] = 0
    kp, conf = adapt_openpose(p)
    np.testing.assert_allclose(_j(kp, "pelvis"), pelvis, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_j(kp, "right_hip"), np.array([180.0, 300]) + 2 * HIP_WIDEN * np.array([-20.0, 0]), rtol=1e-6, atol=1e-6)
    assert conf[H36M.index("left_hip")] == 0


def test_openpose_layout_from_joint_count():
    body = _pose("openpose_body25")
    coco18 = _pose("openpose_coco18")
    assert adapt_openpose(body).keypoints.shape == (17, 2)
    np.testing.assert_allclose(adapt_openpose(coco18).keypoints, adapt_openpose(coco18, layout="coco18").keypoints, rtol=1e-6, atol=1e-6)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 25, 2\|3\) \(BODY_25\) or \(\.\.\., 18, 2\|3\) \(COCO-18\); got \(17, 3\)"):
        adapt_openpose(np.zeros((17, 3)))
    with pytest.raises(PoseliftError, match="takes layout 'body25' or 'coco18'; got 'coco17'"):
        adapt_openpose(np.zeros((17, 3)), layout="coco17")


def test_mpii16_matches_map_layout_and_dtype():
    x = np.random.default_rng(1).uniform(0, 1000, (6, 16, 2)).astype(np.float32)
    kp, conf = adapt_mpii16(x, correction=None)
    out = map_layout(x, "mpii16", "h36m17")
    assert out.dtype == np.float32 and out.shape == (6, 17, 2)
    np.testing.assert_allclose(out, kp, rtol=1e-6, atol=1e-6)
    mp = get_skeleton("mpii16")
    np.testing.assert_allclose(_j(kp, "head_top"), 0.5 * x[:, mp.index("upper_neck")] + 0.5 * x[:, mp.index("head_top")], rtol=1e-6)
    assert map_layout(x.astype(np.float64), "mpii16", "lsp14").dtype == np.float64


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_maps_to_both_targets(source):
    n = SKELETONS[source].num_joints
    x = np.random.default_rng(2).uniform(0, 500, (2, 3, n, 3))
    x[..., 2] = 1.0
    for target, m in (("h36m17", 17), ("lsp14", 14)):
        kp, conf = adapt_layout(x, source, target=target)
        assert kp.shape == (2, 3, m, 2) and conf.shape == (2, 3, m)
        assert (conf == 1).all() and np.isfinite(kp).all()


# --------------------------------------------------------------------------- inputs and containers
def test_three_channels_equal_separate_confidence():
    x = np.random.default_rng(3).uniform(0, 500, (5, 25, 3))
    x[..., 2] = np.random.default_rng(4).uniform(0, 1, (5, 25))
    x[1, 3, 2] = 0
    a = adapt_openpose(x)
    b = adapt_openpose(x[..., :2], confidence=x[..., 2])
    np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-6, atol=1e-6)


def test_batch_equals_singles_and_nan_is_missing():
    x = np.random.default_rng(5).uniform(0, 500, (4, 17, 3))
    x[..., 2] = 0.9
    x[2, 3, :2] = np.nan  # NaN coordinates count as missing
    batch = adapt_coco17(x)
    for i in range(4):
        single = adapt_coco17(x[i])
        np.testing.assert_allclose(batch.keypoints[i], single.keypoints, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(batch.confidence[i], single.confidence, rtol=1e-6, atol=1e-6)
    assert np.isfinite(batch.keypoints[batch.confidence > 0]).all()
    # coco17 joint 3 is the left ear: the head top comes from the eyes instead
    assert batch.confidence[2, H36M.index("head_top")] == pytest.approx(0.9)
    coco = get_skeleton("coco17")
    eyes = (x[2, coco.index("left_eye"), :2] + x[2, coco.index("right_eye"), :2]) / 2
    ms = (x[2, coco.index("left_shoulder"), :2] + x[2, coco.index("right_shoulder"), :2]) / 2
    np.testing.assert_allclose(batch.keypoints[2, H36M.index("head_top")], eyes + HEAD_FROM_EYES * (eyes - ms), rtol=1e-6, atol=1e-6)


def test_torch_matches_numpy_and_keeps_container_dtype():
    x = np.random.default_rng(6).uniform(0, 500, (3, 18, 3))
    x[..., 2] = 1.0
    ref = adapt_openpose(x)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = adapt_openpose(t)
    assert torch.is_tensor(out.keypoints) and out.keypoints.dtype == torch.float64
    np.testing.assert_allclose(out.keypoints.numpy(), ref.keypoints, rtol=0, atol=1e-9)
    f32 = adapt_openpose(torch.tensor(x, dtype=torch.float32))
    assert f32.keypoints.dtype == torch.float32 and f32.confidence.dtype == torch.float32


def test_result_feeds_the_lifter():
    from poselift import Lifter, LifterConfig

    lifter = Lifter(LifterConfig(width=16, blocks=1))
    kp, conf = adapt_coco17(np.stack([_upright_coco17()] * 2))
    out = lifter.lift(kp, confidence=conf)
    assert out.shape == (2, 17, 3) and np.isfinite(out).all()


def test_empty_batch():
    kp, conf = adapt_mpii16(np.zeros((0, 16, 2), np.float32))
    assert kp.shape == (0, 17, 2) and conf.shape == (0, 17)


# --------------------------------------------------------------------------- errors
def test_wrong_joint_count():
    with pytest.raises(ShapeError, match=r"shape \(\.\.\., 17, 2\) or \(\.\.\., 17, 3\) for the coco17 layout; got \(2, 25, 3\). 25 joints looks like openpose_body25"):
        adapt_coco17(np.zeros((2, 25, 3)))
    with pytest.raises(ShapeError, match=r"for the mpii16 layout; got \(16,\)"):
        adapt_mpii16(np.zeros(16))


def test_confidence_errors():
    x = np.zeros((2, 17, 2))
    with pytest.raises(ShapeError, match=r"confidence must have shape \(2, 17\) to match keypoints \(2, 17, 2\); got \(2, 16\)"):
        adapt_coco17(x, np.ones((2, 16)))
    with pytest.raises(ShapeError, match="already carry confidence"):
        adapt_coco17(np.zeros((2, 17, 3)), np.ones((2, 17)))
    with pytest.raises(NonFiniteError, match="confidence holds NaN"):
        adapt_coco17(x, np.full((2, 17), np.nan))


def test_bad_target_and_missing_mapping(monkeypatch):
    with pytest.raises(PoseliftError, match=r"target must be one of the lifter layouts \['h36m17', 'lsp14'\]; got 'coco17'"):
        adapt_mpii16(np.zeros((16, 2)), target="coco17")
    monkeypatch.delitem(MAPPINGS, ("mpii16", "lsp14"))
    with pytest.raises(PoseliftError, match="no mapping from 'mpii16' to 'lsp14'"):
        adapt_mpii16(np.zeros((16, 2)), target="lsp14")


def test_bad_weights_are_caught(monkeypatch):
    table = dict(MAPPINGS[("lsp14", "lsp14")])
    table["neck"] = ({"neck": 0.7},)
    monkeypatch.setitem(MAPPINGS, ("lsp14", "lsp14"), table)
    with pytest.raises(PoseliftError, match="sum to 0.7, not 1"):
        adapt_layout(np.zeros((14, 2)), "lsp14", target="lsp14")


# --------------------------------------------------------------------------- learned correction hook
def test_correction_hook():
    x = _upright_coco17()
    x[get_skeleton("coco17").index("left_ankle"), 2] = 0
    calls = []

    def shift(kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        calls.append((tuple(kp.shape), tuple(conf.shape)))
        return kp + 1.0

    base = adapt_coco17(x)
    out = adapt_coco17(x, correction=shift)
    assert calls == [((1, 17, 2), (1, 17))]
    present = base.confidence > 0
    np.testing.assert_allclose(out.keypoints[present], base.keypoints[present] + 1.0, rtol=1e-6, atol=1e-6)
    assert np.isnan(out.keypoints[H36M.index("left_ankle")]).all()  # missing stays missing
    with pytest.raises(ShapeError, match="correction returned shape"):
        adapt_coco17(x, correction=lambda kp, conf: kp[..., :1])



def test_shipped_mpii16_correction_is_the_default():
    from poselift.correction import LearnedCorrection, load_correction
    from poselift.weights import BUNDLED_CORRECTIONS

    assert "poselift/mpii16-h36m17" in BUNDLED_CORRECTIONS
    C = load_correction("mpii16", "h36m17")
    assert isinstance(C, LearnedCorrection) and C.backend == "onnx"  # the shipped graph serves by default
    assert not C.net.training and C.backend == "torch"  # asking for the module loads it from the folder
    assert load_correction("coco17", "h36m17") is None  # nothing shipped: geometric mapping only
    mp = get_skeleton("mpii16")
    rng = np.random.default_rng(7)
    # upright people: an MPII-like template, moved, scaled and jittered per pose
    template = np.array([[-20, 400], [-18, 300], [-15, 200], [15, 200], [18, 300], [20, 400], [0, 200], [0, 90],
                         [0, 70], [0, 20], [-60, 200], [-45, 150], [-30, 90], [30, 90], [45, 150], [60, 200]], float)
    x = (template[None] * rng.uniform(0.5, 2.0, (8, 1, 1)) + rng.uniform(100, 900, (8, 1, 2))
         + rng.normal(0, 3, (8, 16, 2))).astype(np.float32)
    assert mp.num_joints == len(template)
    default = adapt_mpii16(x)
    plain = adapt_mpii16(x, correction=None)
    explicit = adapt_mpii16(x, correction=C)
    # pixel coordinates near 1000: float32 batches of different sizes may round differently (AVX2 vs AVX-512)
    np.testing.assert_allclose(default.keypoints, explicit.keypoints, rtol=0, atol=1e-3)
    np.testing.assert_allclose(default.confidence, plain.confidence, rtol=0, atol=1e-6)
    moved = np.linalg.norm(default.keypoints - plain.keypoints, axis=-1)
    size = np.linalg.norm(plain.keypoints - plain.keypoints.mean(-2, keepdims=True), axis=-1).mean(-1, keepdims=True)
    assert 0.001 < float((moved / size).mean()) < 0.3  # a small, real correction relative to the pose size
    # a pose with a missing joint passes through uncorrected
    x[0, 0] = np.nan
    partial = adapt_mpii16(x)
    # a batch of 8 and a batch of 1 round differently (7.6e-6 px seen on AVX2): 1e-3 px is far below any correction
    np.testing.assert_allclose(partial.keypoints[0], adapt_mpii16(x[:1], correction=None).keypoints[0], rtol=0, atol=1e-3)

def test_module_exports_resolve():
    for name in adapt.__all__:
        assert hasattr(adapt, name), name


@pytest.mark.parametrize("target", ["h36m17", "lsp14"])
def test_mediapipe33_maps_like_the_same_coco17_pose(target):
    """MediaPipe's 33 landmarks share COCO's body joints; the extra face, hand and foot points are unused."""
    coco = _upright_coco17()
    mp = get_skeleton("mediapipe33")
    pose = np.zeros((mp.num_joints, 3))
    pose[:, :2] = np.random.default_rng(0).uniform(0, 600, (mp.num_joints, 2))  # the extra points: anywhere
    pose[:, 2] = 0.9
    for i, name in enumerate(get_skeleton("coco17").joints):
        pose[mp.index(name)] = coco[i]
    kp_mp, conf_mp = adapt_layout(pose, "mediapipe", target=target)
    kp_coco, conf_coco = adapt_layout(coco, "coco17", target=target)
    np.testing.assert_allclose(kp_mp, kp_coco, atol=1e-9)
    assert conf_mp.shape == conf_coco.shape and (conf_mp > 0).all()
    assert mp.num_joints == 33 and len(mp.pairs) == 16  # every left_/right_ joint has its twin


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_confidence": -1}, "min_confidence must be a confidence >= 0"),
        ({"min_confidence": "0.5"}, "min_confidence must be a confidence >= 0"),
        ({"min_confidence": float("nan")}, "min_confidence must be a confidence >= 0"),
        ({"correction": "bogus"}, "correction must be 'default', None or a callable"),
        ({"correction": 5}, "correction must be 'default', None or a callable"),
    ],
)
def test_adapter_arguments_are_checked_before_any_work(kwargs, message):
    """F28: min_confidence NaN passed (every joint then present), '0.5' gave a TypeError, and
    correction='bogus' failed only after the mapping (5: a TypeError from calling it)."""
    from poselift.errors import InvalidArgumentError

    kp = np.random.default_rng(0).uniform(0, 500, (2, 17, 2))
    with pytest.raises(InvalidArgumentError, match=message):
        adapt_coco17(kp, **kwargs)
