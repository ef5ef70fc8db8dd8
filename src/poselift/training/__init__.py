"""Training of poselift lifters without 3D labels (``pip install "poselift[train]"``).

Modules: :mod:`.config` (recipes), :mod:`.h36m` and :mod:`.sources` (data), :mod:`.trainer`
(the self-supervised GAN loop), :mod:`.evaluate` (Human3.6M protocol), :mod:`.completion`,
:mod:`.correction` and :mod:`.distill` (the auxiliary networks of a release).
"""
