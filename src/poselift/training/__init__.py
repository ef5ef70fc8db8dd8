"""Training of poselift lifters without 3D labels (``pip install ".[train]"``).

Modules: :mod:`.config` (recipes), :mod:`.sources` (your own 2D keypoints), :mod:`.trainer`
(the self-supervised GAN loop), :mod:`.completion`, :mod:`.correction` and :mod:`.distill`
(the auxiliary networks of a release). Human3.6M data and its protocol live in
:mod:`poselift.evaluation`; the command-line scripts live in the repository's ``training/``
folder.
"""
