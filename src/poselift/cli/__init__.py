"""The ``poselift`` command: lift keypoint files, run the demo, evaluate, train, export.

Every subcommand has ``--help``. User errors (a missing file, a malformed input, an
unknown model) print one ``poselift: error: ...`` message to stderr and exit with
status 2; tracebacks are reserved for bugs.

One module per command (``lift``, ``video``; ``commands`` for the small ones), the parser in
``parser``; the commands parse and print, the library does the work.
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

from ..errors import OutputExistsError, PoseliftError
from .commands import cmd_demo, cmd_evaluate, cmd_export, cmd_finetune, cmd_train
from .lift import cmd_lift
from .parser import build_parser
from .video import cmd_video

__all__ = ["main", "build_parser"]

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
    except (PoseliftError, OSError) as e:
        print(f"poselift {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:  # an optional part that is not installed
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
