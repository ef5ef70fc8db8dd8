"""The held-out CMU evaluation: BVH reading, joint mapping, seeded virtual cameras, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poselift.cli import main
from poselift.errors import DataError
from poselift.evaluation import cmu
from poselift.evaluation.cmu import cmu_h36m17, forward_kinematics, load_cmu, read_bvh

# A cgspeed-style CMU skeleton (centimetres, Y up, facing +Z), only the joints the mapping reads.
_CHAIN = [  # name, parent, offset
    ("hip", None, (0, 0, 0)),
    ("abdomen", "hip", (0, 20, 0)), ("chest", "abdomen", (0, 12, 0)), ("neck", "chest", (0, 22, 0)),
    ("head", "neck", (0, 7, 0)),
    ("lShldr", "chest", (18, 18, 0)), ("lForeArm", "lShldr", (28, 0, 0)), ("lHand", "lForeArm", (24, 0, 0)),
    ("rShldr", "chest", (-18, 18, 0)), ("rForeArm", "rShldr", (-28, 0, 0)), ("rHand", "rForeArm", (-24, 0, 0)),
    ("lThigh", "hip", (9, -2, 0)), ("lShin", "lThigh", (0, -42, 0)), ("lFoot", "lShin", (0, -40, 0)),
    ("rThigh", "hip", (-9, -2, 0)), ("rShin", "rThigh", (0, -42, 0)), ("rFoot", "rShin", (0, -40, 0)),
]  # fmt: skip


def write_bvh(path, frames: int = 9, knee_bend: float = 0.0) -> None:
    """A tiny BVH clip: the root walks along +Z and turns; the left knee bends by ``knee_bend`` degrees."""
    children = {name: [c for c, p, _ in _CHAIN if p == name] for name, _, _ in _CHAIN}
    offsets = {name: off for name, _, off in _CHAIN}
    lines = ["HIERARCHY"]

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(str(float(v)) for v in offsets[name])}")
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if depth == 0 else "3 ") + "Zrotation Xrotation Yrotation")
        for child in children[name]:
            emit(child, depth + 1)
        if not children[name]:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 1 0", pad + "  }"])
        lines.append(pad + "}")

    emit("hip", 0)
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.00833333"]
    order = []

    def walk(name: str) -> None:
        order.append(name)
        for child in children[name]:
            walk(child)

    walk("hip")
    for t in range(frames):
        row = []
        for name in order:
            if name == "hip":
                row += [0.0, 92.0, 5.0 * t, 0.0, 0.0, 10.0 * t]
            elif name == "lShin":
                row += [0.0, knee_bend, 0.0]
            else:
                row += [0.0, 0.0, 0.0]
        lines.append(" ".join(f"{v:.4f}" for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def clip_dir(tmp_path):
    folder = tmp_path / "cmu"
    folder.mkdir()
    write_bvh(folder / "99_01.bvh", frames=41, knee_bend=30.0)
    return folder


def test_bvh_reading_and_forward_kinematics(tmp_path):
    write_bvh(tmp_path / "a.bvh", frames=3, knee_bend=90.0)
    clip = read_bvh(tmp_path / "a.bvh")
    assert clip.motion.shape == (3, 6 + 3 * (len(_CHAIN) - 1))
    pos, rot = forward_kinematics(clip)
    # frame 0: no turn; the left knee bent 90 degrees about X turns the shin (0, -40, 0) into the Z axis
    knee, ankle = pos[0, clip.index("lShin")], pos[0, clip.index("lFoot")]
    np.testing.assert_allclose(np.abs(ankle - knee), [0.0, 0.0, 40.0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-9)
    # the root turns 10 degrees about Y per frame: the hip-to-left-hip offset turns with it
    side = pos[2, clip.index("lThigh")] - pos[2, clip.index("hip")]
    np.testing.assert_allclose(side, [9 * np.cos(np.deg2rad(20)), -2, -9 * np.sin(np.deg2rad(20))], atol=1e-6)


def test_mapping_to_h36m17_in_millimetres(tmp_path):
    write_bvh(tmp_path / "a.bvh", frames=2)
    joints = cmu_h36m17(read_bvh(tmp_path / "a.bvh"))
    assert joints.shape == (2, 17, 3)
    p = joints[0]
    np.testing.assert_allclose(p[0], [0.0, 900.0, 0.0], atol=1e-6)  # pelvis: mid-point of the hips, mm
    np.testing.assert_allclose(p[4] - p[0], [90.0 * (1 + cmu.HIP_WIDEN), 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(p[5], [90.0, 480.0, 0.0], atol=1e-6)  # the knee stays where the clip has it
    torso = p[8] - p[0]
    np.testing.assert_allclose(p[7], p[0] + 0.5 * torso, atol=1e-6)
    assert p[10][1] > p[9][1] > p[8][1]  # head above neck above thorax


def test_load_cmu_is_seeded_and_consistent(clip_dir):
    a = load_cmu(clip_dir, ["99_01"])
    b = load_cmu(clip_dir, ["99_01"])
    np.testing.assert_array_equal(a.kp2d, b.kp2d)
    assert len(a) == cmu.CAMERAS_PER_CLIP * len(range(1, 41, 4))
    assert a.names == [f"cmu/99_01.{k}" for k in range(cmu.CAMERAS_PER_CLIP)]
    assert {a.action_of(s) for s in range(len(a.names))} == {"99_01"}
    # root-relative camera-frame 3D in front of the camera, consistent with the 2D (pinhole)
    np.testing.assert_allclose(a.pose3d[:, 0], 0.0, atol=1e-3)
    # bone lengths do not depend on the camera
    lengths = np.linalg.norm(a.pose3d[:, 2] - a.pose3d[:, 1], axis=-1)
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-4)
    # different cameras see different 2D
    first = a.kp2d[a.seq == 0][0]
    second = a.kp2d[a.seq == 1][0]
    assert np.abs(first - second).max() > 10.0


def test_noisy_inputs_have_missing_joints_and_noise(clip_dir):
    gt = load_cmu(clip_dir, ["99_01"], stride=1)
    noisy = load_cmu(clip_dir, ["99_01"], stride=1, inputs="noisy")
    missing = noisy.confidence == 0
    assert missing.sum(axis=1).max() == 1 and not missing[:, 0].any()
    assert 0.02 < missing.any(axis=1).mean() < 0.25  # MISSING_SHARE = 0.1 of 160 poses
    assert np.isnan(noisy.kp2d[missing]).all() and np.isfinite(noisy.kp2d[~missing]).all()
    err = np.linalg.norm(noisy.kp2d - gt.kp2d, axis=-1)[~missing]
    height = np.ptp(gt.kp2d[..., 1], axis=-1).mean()
    assert 0.5 * cmu.NOISE_FRACTION < np.median(err) / height < 3 * cmu.NOISE_FRACTION


def test_bad_inputs_raise_data_errors(tmp_path, clip_dir):
    with pytest.raises(DataError, match="no CMU clips"):
        load_cmu(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no such CMU clip"):
        load_cmu(clip_dir, ["12_34"])
    with pytest.raises(DataError, match="'gt' or 'noisy'"):
        load_cmu(clip_dir, ["99_01"], inputs="detected")
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT hip\n{\n OFFSET 0 0 x\n", encoding="utf-8")
    with pytest.raises(DataError, match="numbers"):
        read_bvh(bad)


def test_splits_do_not_overlap():
    assert not set(cmu.VALIDATION_CLIPS) & set(cmu.TEST_CLIPS)


def test_cli_evaluates_a_clip_and_writes_json(clip_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["evaluate", "poselift/h36m-17", "--cmu", str(clip_dir), "--clips", "99_01", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "99_01" in text and "P-MPJPE" in text
    record = json.loads(out.read_text())
    assert record["data"] == "cmu" and record["frames"] == 40
    # a hand-made T-pose walking with a bent knee (arms straight out, unlike any training pose):
    # lifted within about a decimetre per joint
    assert record["average_over_actions"]["p_mpjpe"] < 120.0


def test_cli_noisy_needs_cmu(capsys):
    assert main(["evaluate", "poselift/h36m-17", "--inputs", "noisy"]) == 2
    assert "--cmu" in capsys.readouterr().err


def test_released_default_on_the_real_clips(shared_data):
    """The figure in training/RESULTS.md: the default on the CMU test clips, GT 2D (tolerance 0.5 mm)."""
    from poselift import Lifter
    from poselift.evaluation.evaluate import evaluate_poses

    result = evaluate_poses(Lifter.from_pretrained("poselift/h36m-17"), load_cmu(shared_data / "cmu_bvh", "test"))
    assert result["frames"] == 3944
    assert result["average_over_actions"]["p_mpjpe"] == pytest.approx(CMU_TEST_GT_P_MPJPE, abs=0.5)


#: poselift/h36m-17 on the CMU test clips, GT 2D (measured; training/RESULTS.md).
CMU_TEST_GT_P_MPJPE = 44.8
