"""Run by tests/test_training.py under torchrun: a few distributed steps, then each rank saves G."""

import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(__file__))
from test_training import synthetic_poses, tiny_config  # noqa: E402

from poselift.training.trainer import Trainer  # noqa: E402

out = sys.argv[1]
dist.init_process_group("gloo")
torch.set_num_threads(1)
if sys.argv[2:] == ["flow"]:  # the flow prior fitted once (rank 0) for every rank
    from safetensors.torch import save_file

    cfg = tiny_config(loss=dict(temporal=0.0, adversarial=0.0, flow=0.01), flow_prior=dict(layers=2, width=16, steps=20, batch_size=64))
    trainer = Trainer(cfg, synthetic_poses(), run_dir=os.path.join(out, "run"))
    trainer.before_fit()
    save_file({k: v.contiguous() for k, v in trainer.F.state_dict().items()}, os.path.join(out, f"flow{dist.get_rank()}.safetensors"))
    dist.destroy_process_group()
    sys.exit(0)
trainer = Trainer(tiny_config(loss=dict(temporal=0.0)), synthetic_poses(), run_dir=os.path.join(out, "run"))
for _ in range(3):
    trainer.train_step()
    trainer.step += 1
from safetensors.torch import save_file  # noqa: E402

save_file({k: v.contiguous() for k, v in trainer.G.state_dict().items()}, os.path.join(out, f"rank{dist.get_rank()}.safetensors"))
dist.destroy_process_group()
