"""Training of poselift lifters without 3D labels (``pip install ".[train]"``).

One loop (:mod:`.loop`: schedule, finiteness checks, clipping, data-parallel all-reduce,
validation and selection, checkpoints (:mod:`.checkpoint`), resume, log) runs every kind of
training; each kind supplies its networks, its batch and its losses (all in :mod:`.losses`):
:mod:`.trainer` (the lifter: Chen et al.'s self-supervised GAN loop and its successors; its
batches in :mod:`.sampling`, its view cycle in :mod:`.cycle`, its flow prior in :mod:`.flow`),
:mod:`.completion`, :mod:`.correction` and :mod:`.distill` (the auxiliary networks of a
release). Recipes: :mod:`.config`; data: :mod:`.data`, :mod:`.sources` (your own 2D
keypoints), :mod:`.multiview` (Human3.6M's calibrated cameras); fine-tuning:
:mod:`.finetune`. Human3.6M's protocol lives in :mod:`poselift.evaluation`; the
command-line scripts and research-only readers live in the repository's ``training/`` folder.
"""
