"""Publish an existing released lifter under another name, with the same weights.

The card keeps every measured figure and per-action table of the source; only the name
and the fields given with ``--set`` change, and the ONNX graphs are exported again (they
carry the config). Used when ``poselift/h36m-17`` (single-view Adv+SS) became
``poselift/h36m-17-mono`` and a cross-view model took the default name:

    python training/rename_release.py src/poselift/weights/h36m-17 --name poselift/h36m-17-mono \\
        --out src/poselift/weights/h36m-17-mono --note "Released as poselift/h36m-17 until poselift 0.2."
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from poselift import Lifter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="a released lifter folder")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", help="a sentence appended to the card's recipe")
    ap.add_argument("--command-before", help="commands that come before the card's own (e.g. how an input run is made)")
    ap.add_argument("--command-after", help="commands appended to the card's own (e.g. this script's call)")
    args = ap.parse_args()
    source = Path(args.source)
    lifter = Lifter.from_pretrained(source, backend="torch")
    reference = Lifter.from_pretrained(source, backend="torch")  # ``out`` may be ``source``
    meta = dict(lifter.config.metadata)
    meta["name"] = args.name
    meta.setdefault("supervision", "single-view 2D only, no 3D labels")
    if args.note:
        meta["recipe"] = f"{meta.get('recipe', '')} {args.note}".strip()
    if args.command_before:
        meta["command"] = f"{args.command_before}; then {meta.get('command', '')}"
    if args.command_after:
        meta["command"] = f"{meta.get('command', '')}; then {args.command_after}"
    lifter.config = lifter.config.model_copy(update={"metadata": meta})
    old_card = (source / "README.md").read_text()  # read before ``out`` (perhaps the same folder) is written
    out = lifter.save_pretrained(args.out, dtype=torch.float16, onnx=True)
    marker = "\n## Per-action tables"
    if marker in old_card:
        (out / "README.md").write_text((out / "README.md").read_text() + old_card[old_card.index(marker):])
    check = Lifter.from_pretrained(out, backend="torch")
    x = torch.rand(8, lifter.skeleton.num_joints, 2) * 400
    same = torch.allclose(check.lift(x), reference.lift(x), atol=1e-6)
    print(f"wrote {out}; outputs identical to {source}: {same}")


if __name__ == "__main__":
    main()
