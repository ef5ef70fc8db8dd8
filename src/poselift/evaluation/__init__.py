"""Evaluation on Human3.6M: the data reader (:mod:`.h36m`), the pose container
(:mod:`.data`) and the protocol (:mod:`.evaluate`).

Used by ``poselift evaluate`` and by training for model selection; it never imports
:mod:`poselift.training`.
"""
