"""Pictures of lifted poses: multi-view plots (PNG, PDF, SVG, ...) and GIF/MP4 animations.

Needs matplotlib (``pip install ".[viz]"``); works on headless machines. The public home of
:func:`save_pose_plot` and :func:`save_pose_animation`, drawn by poselift's one renderer
(:mod:`poselift.export.render`: the scene in ``scene``, matplotlib's painting in ``plots``).

Poses are in poselift's output convention, the OpenCV camera frame: x right, y down, z
away from the camera. The plots put ``-y`` up so a person stands upright on a ground grid,
and name views from the camera's point of view:

- ``"front"``: as the camera sees it;
- ``"side"``: from the camera's right (the camera is on the left of the panel);
- ``"top"``: from above (the camera is at the bottom of the panel);
- ``"oblique"``: from above and to the camera's right;
- ``(elevation, azimuth)`` in degrees: ``(0, 0)`` is ``"front"``, positive azimuth moves
  the viewpoint to the camera's right, positive elevation looks from above.

Views are orthographic; a panel's axes are in the pose's units (metres) where the screen
axis is a camera axis. The person's left limbs are drawn in blue, right limbs in red, the
trunk in green.
"""

from .export.render.plots import PLOT_SUFFIXES, save_pose_animation, save_pose_plot
from .export.render.scene import VIEWS

__all__ = ["save_pose_plot", "save_pose_animation", "VIEWS", "PLOT_SUFFIXES"]
