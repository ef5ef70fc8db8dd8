"""Build a released lifter folder from a training run, and measure it.

Every step is unsupervised or selects on the held-out training subject S8; S9/S11 are
only measured at the end (and written into the model card):

1. distil the run's S8-selected lifter into a smaller student (``--width``), selected on S8;
2. train the missing-joint completion network on training 2D (random joint masks);
3. switch flip test-time averaging on if it lowers S8 P-MPJPE;
4. measure S9+S11 (all frames, all cameras): GT 2D, and SH detections through the geometric
   mapping with and without the learned correction (``--correction`` folder, optional);
5. save in float16 with the results and provenance in ``config.json`` and the model card,
   with the ONNX graphs of the lifter (``model.onnx``) and its completion network
   (``completion.onnx``) exported from the saved weights; with ``--correction-out``, the
   correction is written the same way (weights, config, card, ``model.onnx``).

    python training/make_release.py runs/h36m17_adv_ss_td/best --h36m ../shared/data/h36m \\
        --name poselift/h36m-17 --recipe training/recipes/h36m17_adv_ss_td.yaml \\
        --correction runs/corrections/mpii16-h36m17 --out src/poselift/weights/h36m-17
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from poselift import Lifter
from poselift.config import CompletionConfig
from poselift.correction import LearnedCorrection
from poselift.training.completion import attach_completion, train_completion
from poselift.training.distill import distill
from poselift.evaluation.evaluate import evaluate_poses, format_table
from poselift.evaluation.cmu import VALIDATION_CLIPS, load_cmu
from poselift.evaluation.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, VALIDATION_SUBJECTS, load_h36m

LICENCE = "Human3.6M licence: non-commercial research use only; these weights inherit that restriction."
H36M_TERMS = "Human3.6M licence (non-commercial research use only, no redistribution of the data)."
#: Terms of the unpaired in-the-wild 2D sets (training/wild2d.py), for cards of models trained on them.
WILD_TERMS = {
    "penn_action": "Penn Action (Zhang, Zhu and Derpanis, ICCV 2013): research use",
    "lsp": "LSP and LSP-extended (Johnson and Everingham, BMVC 2010 / CVPR 2011): research use",
    "mpii": "MPII Human Pose (Andriluka et al., CVPR 2014), validation people: research use (Simplified BSD licence of the annotations)",
    "kinetics": "OpenPose output on Kinetics clips (Kay et al. 2017; videos under their YouTube terms): research use",
}


def training_data(supervision: str, inputs_note: str | None, wild: list[str] | None = None) -> str:
    """The card's training-data statement for a run supervised as ``supervision`` says
    (``wild``: the in-the-wild 2D sources of the run's data.extra)."""
    if wild:
        sources = "; ".join(WILD_TERMS.get(w, w) for w in wild)
        note = f" Inputs: {inputs_note}." if inputs_note else ""
        return (f"Trained on Human3.6M (S1, S5, S6, S7: 2D keypoints of all four calibrated cameras with their rotations, "
                f"no 3D labels; S8 3D for model selection only) and on unpaired in-the-wild 2D keypoints, no 3D: {sources}. "
                f"Model selection also used the CMU validation clips' 3D ({', '.join(VALIDATION_CLIPS)}; CMU mocap, free for "
                f"research and commercial use).{note} Supervision: {supervision}. {LICENCE}")
    if supervision.startswith("SEMI-SUPERVISED"):
        what = "2D keypoints of all four calibrated cameras with their rotations, and " + supervision.split(":", 1)[1].split(";")[0].strip()
    elif supervision.startswith("multi-view"):
        what = "2D keypoints of all four calibrated cameras with their rotations, no 3D labels"
    else:
        what = "2D keypoints, single view, no 3D labels"
    note = f" Inputs: {inputs_note}." if inputs_note else ""
    return f"Trained on Human3.6M (S1, S5, S6, S7: {what}; S8 3D for model selection only).{note} Supervision: {supervision}. {LICENCE}"


def _round(d: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_model", help="S8-selected lifter of a training run (runs/<name>/best)")
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--name", required=True, help="released name, e.g. poselift/h36m-17")
    ap.add_argument("--recipe", required=True,
                    help="the recipe the run used, with its overrides, e.g. 'training/recipes/lsp14_adv_ss.yaml --set steps=3000'")
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--distill-steps", type=int, default=3000)
    ap.add_argument("--completion-steps", type=int, default=3000)
    ap.add_argument("--completion-from", help="reuse the completion network of this lifter folder instead of training one")
    ap.add_argument("--correction", help="folder of the learned correction for SH (MPII-16) detections")
    ap.add_argument("--correction-out", help="write the correction (with its model.onnx) to this folder for release")
    ap.add_argument("--eval-stride", type=int, default=1, help="S9/S11 frame stride (1 = every frame)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inputs-note", help="what the run's input 2D were, for the card (e.g. detections and GT 2D mixed)")
    ap.add_argument("--cmu", help="CMU clip folder: also measure the held-out CMU test clips (GT and detector-like 2D)")
    ap.add_argument("--wild", nargs="*", default=[], help="the in-the-wild 2D sources the run used (data.extra), for the card")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("release")
    t0 = time.time()

    teacher = Lifter.from_pretrained(args.run_model)
    skeleton = teacher.config.skeleton
    train = load_h36m(args.h36m, list(TRAIN_SUBJECTS), stride=2, skeleton=skeleton, with_3d=False)
    s8 = load_h36m(args.h36m, list(VALIDATION_SUBJECTS), stride=16, skeleton=skeleton)
    teacher_s8 = evaluate_poses(teacher, s8)["average_over_frames"]
    log.info("teacher S8: %s", _round(teacher_s8))

    if args.width < teacher.config.width or args.blocks < teacher.config.blocks:
        student, history = distill(teacher, train.kp2d, width=args.width, blocks=args.blocks,
                                   steps=args.distill_steps, seed=args.seed, val=s8)
        log.info("student S8: %s", _round(history[-1]))
    else:
        student = teacher

    if args.completion_from:
        donor = Lifter.from_pretrained(args.completion_from)
        if donor.completion is None or donor.config.skeleton != skeleton:
            raise SystemExit(f"{args.completion_from} has no {skeleton} completion network")
        completion_cfg, net = donor.config.completion, donor.completion
        log.info("completion network from %s: %s", args.completion_from, donor.config.metadata.get("completion"))
    else:
        completion_cfg = CompletionConfig()
        net, comp_report = train_completion(train.kp2d, skeleton, config=completion_cfg, steps=args.completion_steps,
                                            seed=args.seed, val=s8.kp2d)
        log.info("completion on S8 (filled-joint error / pose RMS): %s", comp_report)
    lifter = attach_completion(student, net, completion_cfg)

    flip = lifter.config.model_copy(update={"flip_test": True})
    with_flip = Lifter(flip, lifter.net, completion=lifter.completion)
    s8_plain = evaluate_poses(lifter, s8)["average_over_frames"]
    s8_flip = evaluate_poses(with_flip, s8)["average_over_frames"]
    log.info("S8 without / with flip test: %.1f / %.1f", s8_plain["p_mpjpe"], s8_flip["p_mpjpe"])
    if s8_flip["p_mpjpe"] < s8_plain["p_mpjpe"]:
        lifter = with_flip
    s8_final = s8_flip if lifter is with_flip else s8_plain

    # ---- final measurement on the test subjects (never used for any choice above)
    results: dict[str, float] = {}
    tables: dict[str, str] = {}
    gt = load_h36m(args.h36m, list(TEST_SUBJECTS), stride=args.eval_stride, skeleton=skeleton)
    r = evaluate_poses(lifter, gt)
    tables["gt"] = format_table(r)
    for k, v in r["average_over_actions"].items():
        results[f"S9+S11 GT 2D {k}"] = round(v, 1)
    # SH detections (MPII-16) through the geometric mapping, for either layout
    det = load_h36m(args.h36m, list(TEST_SUBJECTS), inputs="detected", stride=args.eval_stride, skeleton=skeleton)
    r = evaluate_poses(lifter, det)
    tables["detected_plain"] = format_table(r)
    for k, v in r["average_over_actions"].items():
        results[f"S9+S11 SH detections, geometric mapping {k}"] = round(v, 1)
    if args.correction:
        C = LearnedCorrection.from_folder(args.correction, backend="torch")
        if C.config.target != skeleton:
            raise SystemExit(f"correction {args.correction} targets {C.config.target}, the lifter is {skeleton}")
        det.kp2d = C.correct_complete(det.kp2d)
        if args.correction_out:
            C.save_pretrained(args.correction_out, onnx=True)
        r = evaluate_poses(lifter, det)
        tables["detected_corrected"] = format_table(r)
        for k, v in r["average_over_actions"].items():
            results[f"S9+S11 SH detections, mapping + learned correction {k}"] = round(v, 1)

    if args.cmu:
        for inputs in ("gt", "noisy"):
            r = evaluate_poses(lifter, load_cmu(args.cmu, "test", inputs=inputs))
            tables[f"cmu_{inputs}"] = format_table(r)
            for k, v in r["average_over_actions"].items():
                results[f"CMU test clips, {'GT' if inputs == 'gt' else 'detector-like'} 2D {k}"] = round(v, 1)

    run_cfg = json.loads(Path(args.run_model, "config.json").read_text()).get("metadata", {})
    metadata = {
        "name": args.name,
        "license": "other",
        "training_data": training_data(run_cfg.get("supervision", "single-view 2D only, no 3D labels"), args.inputs_note, args.wild),
        "supervision": run_cfg.get("supervision", "single-view 2D only, no 3D labels"),
        "data_terms": H36M_TERMS + "".join(f" {WILD_TERMS[w]}." for w in args.wild),
        "recipe": f"{args.recipe} (selected on S8 at step {run_cfg.get('step', '?')}); "
                  + (f"distilled from {teacher.config.width}x{teacher.config.blocks} to " if student is not teacher else "lifter ")
                  + f"{lifter.config.width}x{lifter.config.blocks}; completion network {completion_cfg.width}x{completion_cfg.blocks}; "
                  f"flip test {'on' if lifter.config.flip_test else 'off'}",
        "command": f"poselift train {args.recipe} --set data.path={args.h36m}; then "
                   + shlex.join(["python", "training/make_release.py", *sys.argv[1:]]),
        "results": {**results, "S8 (validation) P-MPJPE": round(s8_final["p_mpjpe"], 1),
                    "protocol": "mm, average over the 15 actions, every frame of all four cameras"
                    + ("" if args.eval_stride == 1 else f" (every {args.eval_stride}th frame)")},
        "selection": ("S8 held out from training" + (f" and the CMU validation clips ({', '.join(VALIDATION_CLIPS)})" if args.wild else "")
                      + ": checkpoint, distilled student and flip test chosen on "
                      + ("them" if args.wild else "it") + "; S9/S11 and the CMU test clips measured once at the end"),
    }
    lifter.config = lifter.config.model_copy(update={"metadata": metadata})
    out = lifter.save_pretrained(args.out, dtype=torch.float16, onnx=True)
    (out / "README.md").write_text(
        (out / "README.md").read_text() + "\n## Per-action tables (S9+S11)\n\n"
        + "\n\n".join(f"### {k}\n\n```\n{v}\n```" for k, v in tables.items()) + "\n"
    )
    # the saved (float16) weights are what users get: re-measure them
    released = Lifter.from_pretrained(out)
    check = evaluate_poses(released, gt)["average_over_actions"]["p_mpjpe"]
    log.info("released weights, S9+S11 GT 2D P-MPJPE: %.1f (card: %.1f)", check, results["S9+S11 GT 2D p_mpjpe"])
    size = sum(p.stat().st_size for p in out.iterdir())
    print(json.dumps({"out": str(out), "bytes": size, "minutes": round((time.time() - t0) / 60, 1), **results}, indent=2))
    for k, v in tables.items():
        print(f"\n{k}\n{v}")


if __name__ == "__main__":
    np.set_printoptions(precision=1)
    main()
