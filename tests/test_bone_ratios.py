"""The kinematic head's bone-ratio table: from the lifter config, and estimated from 2D alone
(training/bone_ratios_2d.py). Tolerances: lengths to 1e-6; the 2D estimate to 10 % per bone."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from poselift.config import LifterConfig
from poselift.nets import build_lifter_net
from poselift.skeleton import BONE_RATIOS, get_skeleton

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

SK = get_skeleton("h36m17")


def test_config_table_sets_the_kinematic_head_lengths():
    table = {k: 2.0 * v for k, v in BONE_RATIOS["h36m17"].items()}
    default = build_lifter_net(LifterConfig(width=16, blocks=1, head="kinematic"))
    custom = build_lifter_net(LifterConfig(width=16, blocks=1, head="kinematic", bone_ratios=table))
    torch.testing.assert_close(custom.lengths, 2.0 * default.lengths, rtol=1e-6, atol=1e-6)
    assert LifterConfig.from_dict(LifterConfig(head="kinematic", bone_ratios=table).model_dump()).bone_ratios == table


def test_config_refuses_an_incomplete_or_non_positive_table():
    table = dict(BONE_RATIOS["h36m17"])
    del table["head_top"]
    with pytest.raises(ValueError, match="head_top"):
        LifterConfig(head="kinematic", bone_ratios=table)
    table = dict(BONE_RATIOS["h36m17"], neck=0.0)
    with pytest.raises(ValueError, match="positive"):
        LifterConfig(head="kinematic", bone_ratios=table)


def test_2d_estimate_recovers_the_ratios_of_a_rotating_skeleton():
    """A fixed skeleton turned about every axis and seen by a distant camera: the high quantile of
    each bone's projected length is its 3D length, so the ratios come back."""
    from bone_ratios_2d import estimate

    from test_training import TEMPLATE

    rng = np.random.default_rng(0)
    P = TEMPLATE - TEMPLATE[0]
    true = {SK.joints[j]: float(np.linalg.norm(P[j] - P[p])) for j, p in enumerate(SK.parents) if p >= 0}
    for left, right in SK.pairs:
        a, b = SK.joints[left], SK.joints[right]
        true[a] = true[b] = 0.5 * (true[a] + true[b])
    kp, seq = [], []
    for clip in range(3):
        for _ in range(3000):
            q = rng.normal(size=4)
            q /= np.linalg.norm(q)
            w, x, y, z = q
            R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                          [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                          [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
            X = P @ R.T + np.array([0.0, 0.0, 20.0 + 5 * clip])
            kp.append(1000.0 * X[:, :2] / X[:, 2:])
            seq.append(clip)
    table = estimate(np.asarray(kp), np.asarray(seq), SK, quantile=0.999)
    total = sum(true.values())
    for name, ratio in table.items():
        assert abs(ratio - true[name] / total) < 0.1 * true[name] / total, name
