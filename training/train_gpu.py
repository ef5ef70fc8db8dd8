"""One command from a recipe to a release candidate on a CUDA machine.

    python training/pack_h36m.py ../shared/data/h36m --out .cache/h36m_pack.npz   # here, once
    python training/train_gpu.py training/recipes/h36m17_xview_mix.yaml --pack .cache/h36m_pack.npz

The pack (see ``pack_h36m.py``) is unpacked into a temporary folder; the recipe runs with a
large batch (``--batch-size``, default 8,192) for the same number of passes over the data as
the recipe's own schedule times ``--epochs`` (steps and the learning-rate decay interval are
divided by the batch ratio), bfloat16 autocast, on ``--device`` (default ``cuda``). S8 still
selects the checkpoint (``run/best``); evaluate it afterwards with
``poselift evaluate run/best --h36m ../shared/data/h36m`` on a machine that has the test data.
``--device cpu`` runs the same path on a CPU (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pack_h36m import unpack  # noqa: E402

from poselift.training.config import load_recipe  # noqa: E402
from poselift.training.run import train  # noqa: E402


def gpu_overrides(recipe_steps: int, decay_every: int, batch: int, recipe_batch: int, epochs: float) -> list[str]:
    """``--set`` overrides that keep the recipe's passes over the data at a larger batch."""
    ratio = batch / recipe_batch
    steps = max(1, round(recipe_steps * epochs / ratio))
    return [
        f"batch_size={batch}",
        f"steps={steps}",
        f"decay_every={max(1, round(decay_every / ratio))}",
        f"val_every={max(1, steps // 20)}",
        f"ckpt_every={max(1, steps // 20)}",
        f"log_every={max(1, steps // 100)}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--pack", required=True, help="the .npz written by training/pack_h36m.py")
    ap.add_argument("--run-dir", help="default runs/<recipe name>-gpu")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--epochs", type=float, default=1.0, help="passes over the data relative to the recipe's schedule")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="more recipe overrides, key=value")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    base = load_recipe(args.recipe, args.overrides)
    with tempfile.TemporaryDirectory(prefix="poselift-h36m-") as tmp:
        t0 = time.time()
        manifest = unpack(Path(args.pack), Path(tmp))
        logging.info("unpacked %s in %.0f s: %s", args.pack, time.time() - t0, manifest)
        overrides = [
            *args.overrides,
            f"data.path={tmp}",
            "data.stride=1",  # the pack holds every manifest['stride']-th frame already
            "data.val_stride=1",
            f"device={args.device}",
            "progress=false",
            *gpu_overrides(base.steps, base.decay_every, args.batch_size, base.batch_size, args.epochs),
        ]
        config = load_recipe(args.recipe, overrides)
        run_dir = Path(args.run_dir or f"runs/{config.name}-gpu")
        t0 = time.time()
        train(config, run_dir)
        minutes = (time.time() - t0) / 60
    best = json.loads((run_dir / "best" / "config.json").read_text())["metadata"] if (run_dir / "best").is_dir() else {}
    print(json.dumps({"run": str(run_dir), "minutes": round(minutes, 1), "steps": config.steps,
                      "batch_size": config.batch_size, "best": {k: best.get(k) for k in ("step", "val_p_mpjpe")}}))


if __name__ == "__main__":
    main()
