"""Pictures and animations of poses, all through one renderer.

- :mod:`~poselift.export.render.scene` (numpy only) decides what a picture shows and from
  where: bones as segments coloured by side, joints, the 2D keypoints over an image, the
  y-up turn, the framing cube, the ground grid and the projection from an elevation and an
  azimuth;
- :mod:`~poselift.export.render.animation` writes any sequence of pictures as GIF or MP4;
- two painters draw the scene: :mod:`~poselift.export.render.plots` with matplotlib (the
  figures and animations of :mod:`poselift.viz`: vector formats, axes, a legend) and
  :mod:`~poselift.export.render.overlay` with OpenCV (``poselift video``'s frames with the
  keypoints over the image beside a 3D view).

Neither painter's library is imported until something is drawn.
"""

from .animation import ANIMATION_SUFFIXES, write_frames
from .overlay import PICTURE_FILES, render_frame, write_animation, write_pictures
from .plots import PLOT_SUFFIXES, save_pose_animation, save_pose_plot
from .scene import VIEWS

__all__ = [
    "PICTURE_FILES", "render_frame", "write_pictures", "write_animation", "ANIMATION_SUFFIXES", "write_frames",
    "save_pose_plot", "save_pose_animation", "VIEWS", "PLOT_SUFFIXES",
]  # fmt: skip
