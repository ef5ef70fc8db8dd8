"""Checks of output paths shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .._files import check_writable
from ..errors import OutputPathError

__all__ = ["check_output"]


def check_output(output: str, inputs: Sequence[str], overwrite: bool, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output path that is an input, an existing file (without ``--overwrite``), of the
    wrong type, or in a place that cannot be written."""
    out = Path(output)
    for given in inputs:
        if given and out.resolve() == Path(given).resolve():
            raise OutputPathError(f"output {out} is the input file: write the result to another file")
    if suffixes and out.suffix.lower() not in suffixes:
        raise OutputPathError(f"output file {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise OutputPathError(f"output {out.resolve()} is a folder: give a file name")
    if out.exists() and not overwrite:
        raise OutputPathError(f"output {out.resolve()} exists: pass --overwrite to replace it, or choose another name")
    check_writable(out)  # its folder can be created and written: fail now, not after the work
    return out
