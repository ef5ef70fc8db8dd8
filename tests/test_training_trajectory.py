"""The training trajectories are pinned: a few steps of tiny configs give the losses (and
network outputs) recorded below, for every kind of training the package has.

The values were recorded from the code before the training loop was restructured (issue 18,
the four loops into one); a refactor that keeps the behaviour keeps them. Tolerance:
relative 1e-4 (absolute 1e-6), float32 on one CPU thread — loose enough for a reordered sum,
far below what a changed loss, sampling order or schedule moves (those change the first
digits). To record new values after an intended change: ``python tests/test_training_trajectory.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("yaml")

sys.path.insert(0, str(Path(__file__).parent))
from test_training import synthetic_multiview, synthetic_poses, tiny_config, wild_config, xview_config  # noqa: E402

from poselift import Lifter  # noqa: E402
from poselift.training.trainer import Trainer  # noqa: E402

RTOL, ATOL = 1e-4, 1e-6


def _steps(trainer: Trainer, n: int) -> list[dict[str, float]]:
    out = []
    for _ in range(n):
        out.append(trainer.train_step())
        trainer.step += 1
    return out


def _chen(tmp):
    return _steps(Trainer(tiny_config(), synthetic_poses(), run_dir=tmp), 4)


def _xview_semi(tmp):
    cfg = xview_config(supervised=1.0, symmetry=0.5)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"input_noise": 0.05})})
    return _steps(Trainer(cfg, synthetic_multiview(labelled=True), run_dir=tmp), 3)


def _kinematic(tmp):
    cfg = xview_config(reprojection=10.0)
    cfg = cfg.model_copy(update={"lifter": cfg.lifter.model_copy(update={"head": "kinematic"})})
    return _steps(Trainer(cfg, synthetic_multiview(), run_dir=tmp), 3)


def _yu(tmp):
    cfg = tiny_config(loss=dict(motion=1.0, scale_kl=0.1, scale_bone=1.0), scale_module=dict(width=16, every=2))
    return _steps(Trainer(cfg, synthetic_poses(), run_dir=tmp), 4)


def _flow(tmp):
    cfg = tiny_config(loss=dict(adversarial=0.0, flow=0.01), flow_prior=dict(layers=2, width=16, steps=20, batch_size=64))
    trainer = Trainer(cfg, synthetic_poses(), run_dir=tmp)
    trainer._fit_flow_prior()
    return _steps(trainer, 3)


def _wild(tmp):
    unpaired = [synthetic_poses(2, 10, seed=3), synthetic_poses(3, 10, seed=4)]
    return _steps(Trainer(wild_config(), synthetic_multiview(), run_dir=tmp, unpaired=unpaired), 3)


def _anchor(tmp):
    start = Lifter(tiny_config().lifter)
    start.save_pretrained(tmp / "start")
    cfg = tiny_config(loss=dict(adversarial=0.0, temporal=0.0, l2d=10.0, l3d=1.0, symmetry=1.0, anchor=1.0),
                      init_from=str(tmp / "start"), lr=3e-3)
    return _steps(Trainer(cfg, synthetic_poses(), run_dir=tmp / "run"), 3)


def _fit(tmp):
    """The whole loop: lr decay, validation, checkpoints, a resume half-way."""
    cfg = tiny_config(decay_every=2, lr_decay=0.5)
    data = synthetic_poses()
    Trainer(cfg, data, run_dir=tmp, val=data).fit(stop_after=3)
    Trainer(cfg, data, run_dir=tmp, val=data).fit()
    records = [json.loads(line) for line in (tmp / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "poses_per_s"} for r in records]  # a speed, not a result


def _completion(tmp):
    from poselift.config import CompletionConfig
    from poselift.training.completion import train_completion

    data = synthetic_poses(sequences=4)
    net, report = train_completion(data.kp2d, "h36m17", config=CompletionConfig(width=32, blocks=1), steps=30,
                                   batch_size=64, lr=3e-3, val=data.kp2d)
    x = torch.from_numpy(data.kp2d[:3])
    visible = torch.ones(3, 17, dtype=torch.bool)
    visible[:, [3, 13]] = False
    with torch.no_grad():
        out = net(x, visible)
    return [{"filled": float(out[:, [3, 13]].sum()), **report}]


def _correction(tmp):
    from poselift.correction import CorrectionConfig
    from poselift.training.correction import train_correction

    target = synthetic_poses(sequences=4, seed=1).kp2d
    source = synthetic_poses(sequences=4, seed=2).kp2d
    C = train_correction(source, target, CorrectionConfig(source="mpii16", target="h36m17", width=32, blocks=1),
                         steps=30, batch_size=64, lam=1.0, lr=1e-3)
    kp = torch.from_numpy(source[:5])
    with torch.no_grad():
        out = C(kp, torch.ones(kp.shape[:-1]))
    return [{"moved": float((out - kp).abs().sum())}]


def _distill(tmp):
    from poselift.training.distill import distill

    data = synthetic_poses(sequences=4)
    torch.manual_seed(0)
    teacher = Lifter(tiny_config(lifter=dict(width=48, blocks=1, dropout=0.0)).lifter)
    student, history = distill(teacher, data.kp2d, width=32, blocks=1, steps=30, batch_size=64, lr=3e-3, val=data, val_every=10)
    lifted = student.lift(data.kp2d[:4], units="normalized")
    return [*history, {"lifted": float(np.abs(lifted).sum())}]


CASES = {
    "chen": _chen, "xview_semi": _xview_semi, "kinematic": _kinematic, "yu": _yu, "flow": _flow, "wild": _wild,
    "anchor": _anchor, "fit": _fit, "completion": _completion, "correction": _correction, "distill": _distill,
}

# Recorded from the code at a70b45e (before the restructuring), torch 2.13 CPU.
EXPECTED: dict[str, list[dict[str, float]]] = {
    "anchor": [
        {"l2d": 0.045032192, "l3d": 0.60386497, "anchor": 0.43206659, "symmetry": 0.28199121, "total": 1.7682446},
        {"l2d": 0.041765157, "l3d": 0.54436034, "anchor": 0.4076432, "symmetry": 0.20745917, "total": 1.5771143},
        {"l2d": 0.039132465, "l3d": 0.5478152, "anchor": 0.37786457, "symmetry": 0.12995584, "total": 1.4469603},
    ],
    "chen": [
        {"l2d": 0.05588517, "l3d": 0.74242091, "g_adv": 0.55837464, "g_temporal": 1.2050455, "total": 3.0646927, "d_real": 0.57101053, "d_fake": 0.0047407728, "t_real": 0.75146741, "t_fake": 0.34450498},
        {"l2d": 0.047949042, "l3d": 0.73745304, "g_adv": 0.56612915, "g_temporal": 0.65391701, "total": 2.4369898},
        {"l2d": 0.051189151, "l3d": 0.63647056, "g_adv": 0.53629935, "g_temporal": 0.76336813, "total": 2.4480295, "d_real": 0.56127542, "d_fake": 0.0041417335, "t_real": 0.61249799, "t_fake": 0.30179939},
        {"l2d": 0.046865493, "l3d": 0.75607163, "g_adv": 0.53103149, "g_temporal": 0.64983362, "total": 2.4055917},
    ],
    "completion": [
        {"filled": 6513.5571, "filled_error_rel": 0.4432849, "visible_mean_error_rel": 1.0003726},
    ],
    "correction": [
        {"moved": 2601.541},
    ],
    "distill": [
        {"step": 10, "loss": 0.13091718, "val_mpjpe": 121.91593, "val_n_mpjpe": 110.91423, "val_p_mpjpe": 97.566983, "val_accel": 29.274499},
        {"step": 20, "loss": 0.073246099, "val_mpjpe": 120.13915, "val_n_mpjpe": 110.90164, "val_p_mpjpe": 97.458206, "val_accel": 29.277822},
        {"step": 30, "loss": 0.068752922, "val_mpjpe": 119.70948, "val_n_mpjpe": 111.54318, "val_p_mpjpe": 97.976349, "val_accel": 29.31514},
        {"lifted": 74.211128},
    ],
    "fit": [
        {"step": 1, "l2d": 0.055885, "l3d": 0.742421, "g_adv": 0.558375, "g_temporal": 1.205045, "total": 3.064693, "d_real": 0.571011, "d_fake": 0.004741, "t_real": 0.751467, "t_fake": 0.344505, "lr": 0.0002},
        {"step": 2, "l2d": 0.047949, "l3d": 0.737453, "g_adv": 0.566129, "g_temporal": 0.653917, "total": 2.43699, "lr": 0.0001},
        {"step": 3, "l2d": 0.051189, "l3d": 0.636471, "g_adv": 0.536299, "g_temporal": 0.763368, "total": 2.44803, "d_real": 0.561275, "d_fake": 0.004142, "t_real": 0.612498, "t_fake": 0.301799, "lr": 0.0001, "val_mpjpe": 110.47653, "val_n_mpjpe": 105.25115, "val_p_mpjpe": 88.655846, "val_accel": 29.782753, "val_select": 88.655846},
        {"step": 4, "l2d": 0.046928, "l3d": 0.756972, "g_adv": 0.534852, "g_temporal": 0.654933, "total": 2.416031, "lr": 5e-05},
        {"step": 5, "l2d": 0.042443, "l3d": 0.629134, "g_adv": 0.556697, "g_temporal": 1.08562, "total": 2.695884, "d_real": 0.549663, "d_fake": 0.00318, "t_real": 0.6812, "t_fake": 0.366739, "lr": 5e-05},
        {"step": 6, "l2d": 0.050873, "l3d": 0.705323, "g_adv": 0.551668, "g_temporal": 1.174216, "total": 2.93994, "lr": 2.5e-05, "val_mpjpe": 122.82943, "val_n_mpjpe": 112.66302, "val_p_mpjpe": 97.021637, "val_accel": 29.879355, "val_select": 97.021637},
    ],
    "flow": [
        {"l2d": 0.04939118, "l3d": 0.70336163, "flow": -47.598526, "total": 0.7212882},
        {"l2d": 0.052189898, "l3d": 0.69479758, "flow": -47.376595, "total": 0.74293053},
        {"l2d": 0.045784835, "l3d": 0.69695622, "flow": -47.350826, "total": 0.68129635},
    ],
    "kinematic": [
        {"reprojection": 0.11219966, "cross_view": 0.11762334, "cross_view_3d": 1.1987584, "total": 3.4969883},
        {"reprojection": 0.11226112, "cross_view": 0.11497331, "cross_view_3d": 1.2621529, "total": 3.534497},
        {"reprojection": 0.10669392, "cross_view": 0.11178176, "cross_view_3d": 1.3309278, "total": 3.5156846},
    ],
    "wild": [
        {"l2d": 0.050467093, "l3d": 0.72978568, "g_adv": 0.5829826, "symmetry": 0.3947193, "cross_view": 0.03487986, "cross_view_3d": 0.80877304, "total": 2.0906734, "d_real": 0.54695964, "d_fake": 0.0063091307},
        {"l2d": 0.053043533, "l3d": 0.69242221, "g_adv": 0.52585888, "symmetry": 0.26530716, "cross_view": 0.040798075, "cross_view_3d": 0.80022383, "total": 1.9810126},
        {"l2d": 0.04799106, "l3d": 0.70951289, "g_adv": 0.53456491, "symmetry": 0.37667727, "cross_view": 0.03768184, "cross_view_3d": 0.79646701, "total": 2.0551298, "d_real": 0.51184082, "d_fake": 0.0038974052},
    ],
    "xview_semi": [
        {"symmetry": 0.31537965, "cross_view": 0.038970638, "cross_view_3d": 0.83793592, "supervised": 0.52774304, "total": 1.9130752},
        {"symmetry": 0.2734741, "cross_view": 0.046137653, "cross_view_3d": 0.8301717, "supervised": 0.52527702, "total": 1.9535624},
        {"symmetry": 0.39043629, "cross_view": 0.046105489, "cross_view_3d": 0.83680832, "supervised": 0.47853622, "total": 1.9716176},
    ],
    "yu": [
        {"l2d": 0.05103131, "l3d": 0.71648788, "motion": 0.75518203, "g_adv": 0.55748618, "scale_bone": 0.37037662, "total": 2.9098458, "d_real": 0.57101053, "d_fake": 0.0042677065, "scale_kl": 5.4098082, "scale_bone_s": 0.37037662},
        {"l2d": 0.044101071, "l3d": 0.70409781, "motion": 0.69881558, "g_adv": 0.56539202, "scale_bone": 0.39774844, "total": 2.8070645},
        {"l2d": 0.054026481, "l3d": 0.67944992, "motion": 0.62427437, "g_adv": 0.52131176, "scale_bone": 0.36738768, "total": 2.7326884, "d_real": 0.56127012, "d_fake": 0.0036221996, "scale_kl": 5.4753408, "scale_bone_s": 0.36738768},
        {"l2d": 0.048561662, "l3d": 0.76371068, "motion": 0.73555362, "g_adv": 0.53083891, "scale_bone": 0.39873967, "total": 2.9144595},
    ],
}


def _run(name: str, tmp: Path) -> list[dict[str, float]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(1234)
        return CASES[name](tmp)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_trajectory_is_unchanged(name, tmp_path):
    got = _run(name, tmp_path)
    expected = EXPECTED[name]
    assert len(got) == len(expected)
    for step, (g, e) in enumerate(zip(got, expected)):
        assert set(g) == set(e), (step, sorted(set(g) ^ set(e)))
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=RTOL, abs=ATOL), (name, step, key)
            else:
                assert g[key] == value, (name, step, key)


if __name__ == "__main__":
    import tempfile

    record = {}
    for name in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            record[name] = _run(name, Path(tmp))
    print(json.dumps(record, indent=1))
