"""``poselift evaluate``: a lifter on Human3.6M (with detections, a learned correction, as clips
or smoothed) or on the CMU clips, per action; optionally a JSON record."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import CommandLineError
from .checks import check_output

__all__ = ["cmd_evaluate"]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_poses, format_table
    from ..evaluation.h36m import TEST_SUBJECTS, load_h36m
    from ..lifter import Lifter

    if args.json:
        check_output(args.json, [], args.overwrite, (".json",))
    if args.sequence and args.smooth:
        raise CommandLineError("--sequence and --smooth are alternatives: pass one of them")
    cmu = args.cmu is not None or args.inputs == "noisy"
    if cmu and args.cmu is None:
        raise CommandLineError("--inputs noisy applies to the CMU clips: add --cmu DIR")
    if cmu and (args.inputs == "detected" or args.correction):
        raise CommandLineError("the CMU clips have no detections: use --inputs gt or --inputs noisy")
    lifter = Lifter.from_pretrained(args.model)
    skeleton = lifter.config.skeleton
    if cmu:
        from ..evaluation.cmu import load_cmu

        if skeleton != "h36m17":
            raise CommandLineError(f"the CMU evaluation is in the h36m17 layout; this model lifts {skeleton!r}")
        clips = args.clips if args.clips in ("test", "val", "all") else [c.strip() for c in args.clips.split(",") if c.strip()]
        stride = args.stride or 4
        poses = load_cmu(args.cmu, clips, inputs=args.inputs, stride=stride)
        fps = 120.0 / stride  # load_cmu samples every clip at 120 / stride fps
        title = f"{args.model} on CMU clips ({args.clips}), {args.inputs} 2D, 4 virtual cameras per clip, every {stride} frame(s); mm"
        record = {"model": str(args.model), "data": "cmu", "inputs": args.inputs, "clips": args.clips, "stride": stride}
    else:
        correction = None
        if args.correction:
            from ..correction import load_correction

            if args.inputs != "detected":
                raise CommandLineError("--correction applies to detections: add --inputs detected")
            correction = load_correction("mpii16", skeleton)
            if correction is None:
                raise CommandLineError(f"poselift ships no learned MPII-16 correction for the {skeleton!r} layout; drop --correction")
        subjects = list(args.subjects or TEST_SUBJECTS)
        stride = args.stride or 1
        poses = load_h36m(args.h36m, subjects, inputs=args.inputs, stride=stride, skeleton=skeleton)
        if correction is not None:
            poses.kp2d = correction.correct_complete(poses.kp2d)
        fps = 50.0 / stride
        what = f"{args.inputs} 2D" + (" + learned correction" if correction is not None else "")
        if args.sequence:
            what += f", lift_sequence ({args.sequence})"
        elif args.smooth:
            what += f", per frame + One-Euro {args.smooth} + median bones"
        title = f"{args.model} on Human3.6M {'+'.join(subjects)}, {what}, all cameras, every {stride} frame(s); mm (Accel: mm/frame^2)"
        record = {"model": str(args.model), "inputs": args.inputs, "correction": correction is not None,
                  "stride": stride, "subjects": subjects}  # fmt: skip
    result = evaluate_poses(lifter, poses, sequence=args.sequence, smooth=args.smooth, fps=fps)
    print(title)
    table = format_table(result)
    print(table.replace("action  ", "clip    ") if cmu else table)
    if args.json:
        from .._files import atomic_path

        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        record.update({"sequence": args.sequence, "smooth": args.smooth, **result})
        with atomic_path(out, replace=args.overwrite) as tmp:  # FileExistsError if written meanwhile
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0

