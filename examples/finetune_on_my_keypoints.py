"""Train (or fine-tune) a lifter on your own unlabelled 2D keypoints: no 3D needed.

    pip install ".[train]"
    python examples/finetune_on_my_keypoints.py path/to/keypoints runs/mine
    python examples/finetune_on_my_keypoints.py path/to/keypoints runs/mine --init poselift/h36m-17
    python examples/finetune_on_my_keypoints.py path/to/keypoints runs/mine --set steps=5000 --set lr=1e-4

The keypoints can be anything poselift.io.read_keypoints reads: an OpenPose JSON folder,
a COCO keypoint file or a .npy/.npz array, in any supported layout. Every complete pose
becomes one training pose (mapped to the lifter's layout). The result is a model folder,
runs/mine/final, loadable with Lifter.from_pretrained("runs/mine/final").

--init starts from existing weights (its architecture is used); without it the lifter
trains from scratch with the architecture of the recipe. This script trains with a recipe's
losses as they are: on photo 2D alone, single-view losses have made a released model much
worse (training/RESULTS.md). To adapt a released model to your own footage use
`poselift finetune BASE KEYPOINTS -o OUT`, which anchors it to the starting model and keeps
the checkpoint a held-out share of your 2D prefers; what it gains is measured in
training/RESULTS.md ("Fine-tuning on your own 2D").
"""

import argparse
import json
import logging

from poselift import Lifter
from poselift.training.config import load_recipe
from poselift.training.run import train

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("keypoints", help="keypoint file or OpenPose folder")
parser.add_argument("run_dir", help="where checkpoints and the final model go")
parser.add_argument("--recipe", default=None, help="YAML recipe to start from (e.g. training/recipes/...)")
parser.add_argument("--init", default=None, help="lifter to fine-tune (hub id or folder)")
parser.add_argument("--layout", default=None, help="layout of the keypoints when not obvious (e.g. coco17)")
parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a recipe value, e.g. --set steps=2000")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

# The data source: your keypoints instead of Human3.6M. Values go through the recipe
# validation like any YAML key (a typo fails before training starts).
# (Override values are parsed as YAML; json.dumps quotes a path safely.)
overrides = ["data.source=keypoints", f"data.path={json.dumps(args.keypoints)}"]
if args.layout:
    overrides.append(f"data.layout={json.dumps(args.layout)}")
config = load_recipe(args.recipe, overrides + args.overrides)

if args.init is not None:
    # Fine-tune: the starting model's architecture (its completion network is not retrained), its weights.
    start = Lifter.from_pretrained(args.init)
    architecture = start.config.model_copy(update={"completion": None, "metadata": {}})
    config = config.model_copy(update={"lifter": architecture, "init_from": args.init})
lifter = train(config, args.run_dir)  # a restarted run resumes from its last checkpoint

print(lifter, "->", f"{args.run_dir}/final")
