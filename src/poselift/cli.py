"""The ``poselift`` command: lift keypoint files, run the demo, evaluate, train, export.

Every subcommand has ``--help``. User errors (a missing file, a malformed input, an
unknown model) print one ``poselift: error: ...`` message to stderr and exit with
status 2; tracebacks are reserved for bugs.

This module is the command: :func:`main`, the table of subcommands and the ones that are a
few lines each (demo, train, finetune, export-onnx); ``python -m poselift.cli`` runs it. The
commands with logic of their own (``lift``, ``video``, ``evaluate``), the parser and the
output checks are modules of :mod:`poselift.commands`. The commands parse and print, the
library does the work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from .commands.checks import check_output
from .commands.evaluate import cmd_evaluate
from .commands.lift import cmd_lift
from .commands.parser import build_parser
from .commands.video import cmd_video
from .errors import OutputExistsError, PoseliftError

__all__ = ["main", "build_parser"]


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    paths = run_demo(args.output_dir, model=args.model, overwrite=args.overwrite)
    print(f"demo outputs in {Path(args.output_dir).resolve()}:")
    for key, path in paths.items():
        print(f"  {key:>4}: {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.config import load_recipe
    from .training.run import train

    recipe = Path(args.recipe)
    config = load_recipe(recipe, args.overrides)
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
    else:
        name = config.name if config.name != type(config).model_fields["name"].default else recipe.stem
        run_dir = Path("runs") / name
    print(f"training {config.name!r} in {run_dir}")
    train(config, run_dir, resume=not args.no_resume)
    written = [str(run_dir / n) for n in ("final", "best") if (run_dir / n / "config.json").is_file()]
    print(f"done: models in {' and '.join(written)}" if written else f"done: no model folder written in {run_dir}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from .training.config import apply_overrides
    from .training.finetune import finetune

    overrides = apply_overrides({}, args.overrides)
    if args.steps is not None:
        overrides["steps"] = args.steps
    print(f"fine-tuning {args.base} on {args.keypoints} in {args.output}")
    best = finetune(args.base, args.keypoints, args.output, layout=args.layout, holdout=args.holdout,
                    overrides=overrides, resume=not args.no_resume)
    print(f"done: the model is {best} (Lifter.from_pretrained({str(best)!r}))")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ._files import atomic_path
    from .lifter import Lifter

    path = check_output(args.onnx, [], args.overwrite, (".onnx",))
    lifter = Lifter.from_pretrained(args.model, backend="torch")
    with atomic_path(path, replace=args.overwrite) as tmp:  # FileExistsError if written meanwhile
        lifter.export_onnx(tmp, opset=args.opset)
    print(f"wrote {path}")
    return 0


_COMMANDS = {
    "lift": cmd_lift,
    "video": cmd_video,
    "demo": cmd_demo,
    "evaluate": cmd_evaluate,
    "train": cmd_train,
    "finetune": cmd_finetune,
    "export-onnx": cmd_export,
    "export": cmd_export,  # the former name of export-onnx
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``poselift`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2

    # Library messages go to stderr for this call only; nothing global is left behind.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_logger = logging.getLogger("poselift")
    old_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return _COMMANDS[args.command](args)
    except OutputExistsError as e:  # the library names overwrite=True; here it is an option
        print(f"poselift {args.command}: error: {e.with_option('--overwrite')}", file=sys.stderr)
        return 2
    except (PoseliftError, OSError, ImportError) as e:  # ImportError: an optional part that is not installed
        print(f"poselift {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"poselift {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(old_level)


if __name__ == "__main__":
    raise SystemExit(main())
