"""Evaluation on Human3.6M: the data reader (:mod:`.h36m`), the pose container
(:mod:`.data`), the protocol on lifted poses (:mod:`.scores`, below the lifter) and a
lifter's evaluation (:mod:`.evaluate`: lift, then score).

Used by ``poselift evaluate`` and by training for model selection; it never imports
:mod:`poselift.training`.
"""
