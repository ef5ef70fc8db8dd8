"""MediaPipe Pose as poselift's detectors, offline, with what the ``mediapipe`` wheel ships.

* :class:`MediaPipeDetector` for videos and frame folders, several people per frame, in two
  stages that :func:`poselift.people.find_people` runs as two passes over the frames:
  :meth:`~MediaPipeDetector.find` runs the BlazePose person detector (the wheel's
  ``pose_detection.tflite`` through MediaPipe's own ``PoseDetectionCpu`` graph) on one
  square tile of the frame (tiles taken in turn across a wide frame, so that people in the
  background are large enough for it) and returns every person's box and the detector's
  four alignment points; :meth:`~MediaPipeDetector.landmarks` runs the wheel's
  ``pose_landmark_full.tflite`` (``PoseLandmarkByRoiCpu`` and MediaPipe's landmark filter,
  one graph per person) on a region around one person: from that person's landmarks in
  the frame before, as MediaPipe tracks, or from the person's detection when there are none
  or they drifted away from it; a neighbour close by is hidden from it.
* :class:`MediaPipePhotoDetector` for photos: MediaPipe's single-person solution on the
  whole image and, when it finds nobody, on five overlapping crops.

Both give the 33 landmarks of the ``mediapipe33`` layout in pixels.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .errors import MissingDependencyError, install_hint, require
from .people import DETECTOR_LAYOUT, Detections

__all__ = ["MediaPipeDetector", "MediaPipePhotoDetector", "hide_others", "tiles"]


def _mediapipe() -> Any:
    mp = require("mediapipe", "video")
    if not hasattr(getattr(mp, "solutions", None), "pose"):
        raise MissingDependencyError(
            f"mediapipe {getattr(mp, '__version__', '?')} has no bundled pose model (mediapipe.solutions.pose); "
            f"poselift needs mediapipe 0.10.21: {install_hint('video')}"
        )
    return mp


_DETECT_GRAPH = """
input_stream: "image"
output_stream: "detections"
node { calculator: "PoseDetectionCpu" input_stream: "IMAGE:image" output_stream: "DETECTIONS:detections" }
"""
_LANDMARK_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
output_stream: "aux"
input_side_packet: "complexity"
input_side_packet: "smooth"
node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE_CPU:image" output_stream: "SIZE:size" }
node { calculator: "PoseLandmarkByRoiCpu" input_stream: "IMAGE:image" input_stream: "ROI:roi"
  output_stream: "LANDMARKS:raw" output_stream: "AUXILIARY_LANDMARKS:raw_aux" output_stream: "WORLD_LANDMARKS:raw_world"
  input_side_packet: "MODEL_COMPLEXITY:complexity" }
node { calculator: "PoseLandmarkFiltering" input_stream: "IMAGE_SIZE:size" input_stream: "NORM_LANDMARKS:raw"
  input_stream: "AUX_NORM_LANDMARKS:raw_aux" input_stream: "WORLD_LANDMARKS:raw_world"
  output_stream: "FILTERED_NORM_LANDMARKS:landmarks" output_stream: "FILTERED_AUX_NORM_LANDMARKS:aux"
  input_side_packet: "ENABLE:smooth" }
"""


class _Graph:
    """A MediaPipe calculator graph run one timestamp at a time."""

    def __init__(self, mp: Any, text: str, side: dict[str, Any] | None = None):
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.python._framework_bindings import calculator_graph, resource_util

        resource_util.set_resource_dir(os.path.dirname(os.path.dirname(mp.__file__)))  # where the .tflite files are
        config = text_format.Parse(text, calculator_pb2.CalculatorGraphConfig())
        self._graph = calculator_graph.CalculatorGraph(graph_config=config)
        self._out: dict[str, Any] = {}
        for name in config.output_stream:
            self._graph.observe_output_stream(name, lambda stream, packet: self._out.__setitem__(stream, packet))
        self._graph.start_run(side or {})
        self._time = -1

    def run(self, time_us: int, **packets: Any) -> dict[str, Any]:
        self._out.clear()
        self._time = max(time_us, self._time + 1)
        for name, packet in packets.items():
            self._graph.add_packet_to_input_stream(name, packet.at(self._time))
        self._graph.wait_until_idle()
        return dict(self._out)

    def close(self) -> None:
        self._graph.close()


def _roi(centre: np.ndarray, scale_point: np.ndarray, width: int, height: int) -> Any:
    """MediaPipe's region for the landmark model from a centre and a scale point (pixels): a
    square 2.5 times their distance across, turned so the scale point is up."""
    from mediapipe.framework.formats import rect_pb2

    d = scale_point - centre
    side = 2.0 * 1.25 * float(np.hypot(*d))
    angle = math.pi / 2 - math.atan2(-d[1], d[0])
    angle -= 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    return rect_pb2.NormalizedRect(
        x_center=float(centre[0]) / width, y_center=float(centre[1]) / height, width=side / width, height=side / height, rotation=angle
    )


def hide_others(rgb: np.ndarray, centre: np.ndarray, others: np.ndarray, radius: float, reach: float) -> np.ndarray:
    """``rgb`` (not changed) or a copy painted grey beyond a line between ``centre`` (the
    person's hips, pixels) and each other person's hips (``others[:, 0, :2]``) that lies
    within ``reach`` times the person's body ``radius``: the line is square to the way from
    one to the other, 60 % of the way to the other (the person's own limbs stay visible).
    Hips within a fifth of the radius are the person themself and are left alone."""
    import cv2

    out = None
    h, w = rgb.shape[:2]
    for other in others:
        d = other[0, :2] - centre
        dist = float(np.hypot(*d))
        if dist < 0.2 * radius or dist > reach * radius:
            continue
        n = d / dist
        mid = centre + 0.6 * d
        t = np.array([-n[1], n[0]])
        far = 4.0 * (w + h)
        poly = np.array([mid + far * t, mid + far * t + far * n, mid - far * t + far * n, mid - far * t]).round().astype(np.int32)
        if out is None:
            out = rgb.copy()
        cv2.fillConvexPoly(out, poly, (128, 128, 128))
    return rgb if out is None else out


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(x0, y0, x1, y1)`` as high as the frame across a wide frame (or as wide
    across a tall one), overlapping by at least a quarter; one tile is the whole frame."""
    side, long = min(width, height), max(width, height)
    if long <= 1.25 * side:
        return [(0, 0, width, height)]
    n = math.ceil((long - side) / (0.75 * side)) + 1
    starts = np.linspace(0, long - side, n).round().astype(int)
    return [(int(s), 0, int(s) + side, height) if width > height else (0, int(s), width, int(s) + side) for s in starts]


class MediaPipeDetector:
    """Several people per frame of a video, in two stages (see the module's description).

    Args:
        fps: frame rate (the landmark filter works in time).
        min_score: least detection score of the person detector.
        max_drift: the landmarks are found again from the person's detection when their hip
            centre lies further than this fraction of the detection's body radius from it.
        hide: another person detected in the frame whose hips lie within this many body
            radii of the person's is hidden from the person's landmark model (the image
            beyond a line between their hips, 60 % of the way to the neighbour, is painted
            grey), so that it does not take the neighbour's arm or leg; 0: never.
    """

    layout = DETECTOR_LAYOUT

    def __init__(self, *, fps: float = 30.0, max_drift: float = 0.5, hide: float = 1.2):
        self._mp = _mediapipe()
        self._cv2 = require("cv2", "video")
        self._fps = float(fps)
        self._max_drift = max_drift
        self._hide = hide
        self._detect = _Graph(self._mp, _DETECT_GRAPH)
        self._graphs: dict[int, _Graph] = {}
        self._last_aux: dict[int, tuple[int, np.ndarray]] = {}  # person -> (frame, aux landmarks)
        self._rgb: tuple[int, np.ndarray] | None = None

    def _image(self, frame: np.ndarray, index: int) -> Any:
        if self._rgb is None or self._rgb[0] != index:
            self._rgb = (index, self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB))
        return self._rgb[1]

    def _time(self, index: int) -> int:
        return int(round(index * 1e6 / self._fps))

    def find(self, frame: np.ndarray, index: int) -> Detections:
        """People in the tile of ``frame`` whose turn it is: the ``index``-th call takes the
        tiles' ``index``-th in turn (every tile at call 0)."""
        h, w = frame.shape[:2]
        grid = tiles(w, h)
        kps = np.concatenate([self._find_in(frame, index, tile) for tile in (grid if index == 0 else [grid[index % len(grid)]])])
        keep: list[int] = []  # a person seen in two tiles: the higher score
        for i in np.argsort(-kps[:, 0, 2], kind="stable"):
            r = np.linalg.norm(kps[i, 1, :2] - kps[i, 0, :2])
            if all(np.linalg.norm(kps[i, 0, :2] - kps[k, 0, :2]) > 0.5 * r for k in keep):
                keep.append(int(i))
        kps = kps[sorted(keep)]
        radius = np.linalg.norm(kps[:, 1, :2] - kps[:, 0, :2], axis=-1)
        c = kps[:, 0, :2]
        boxes = np.stack([c[:, 0] - 0.5 * radius, c[:, 1] - radius, c[:, 0] + 0.5 * radius, c[:, 1] + radius], axis=-1)
        return Detections(boxes.reshape(-1, 4), kps)

    def _find_in(self, frame: np.ndarray, index: int, tile: tuple[int, int, int, int]) -> np.ndarray:
        """``(n, 4, 3)`` detector points (x, y in pixels, score) of the people in one tile."""
        from mediapipe.python import packet_creator, packet_getter

        x0, y0, x1, y1 = tile
        rgb = np.ascontiguousarray(self._image(frame, index)[y0:y1, x0:x1])
        out = self._detect.run(self._time(index), image=packet_creator.create_image_frame(image_format=self._mp.ImageFormat.SRGB, data=rgb))
        found = packet_getter.get_proto_list(out["detections"]) if "detections" in out else []
        kps = np.zeros((len(found), 4, 3))
        for i, det in enumerate(found):
            points = det.location_data.relative_keypoints
            kps[i, :, 0] = [x0 + p.x * (x1 - x0) for p in points[:4]]
            kps[i, :, 1] = [y0 + p.y * (y1 - y0) for p in points[:4]]
            kps[i, :, 2] = det.score[0] if det.score else 1.0
        return kps

    def landmarks(
        self, frame: np.ndarray, index: int, person: int, detection: np.ndarray | None, fallback: np.ndarray | None = None,
        others: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """The ``(33, 3)`` landmarks of ``person`` in frame ``index`` (pixels, visibility), or
        None. ``detection``: the person's own detector points in this frame (``(4, 3)``), if
        any; ``fallback``: other detector points to start from when the landmarks of the frame
        before are missing or find nobody now (a detection near where the person was);
        ``others``: ``(n, 4, 3)`` the other people's detector points (see ``hide``)."""
        h, w = frame.shape[:2]
        start = detection if detection is not None else fallback
        last = self._last_aux.get(person)
        if last is not None and last[0] == index - 1:
            centre, scale_point = last[1]
            if detection is None or np.linalg.norm(centre - detection[0, :2]) <= self._max_drift * np.linalg.norm(
                detection[1, :2] - detection[0, :2]
            ):
                kp = self._run(frame, index, person, _roi(centre, scale_point, w, h), others, centre)
                if kp is not None or start is None:
                    return kp
        if start is None:
            return None
        return self._run(frame, index, person, _roi(start[0, :2], start[1, :2], w, h), others, start[0, :2])

    def forget(self, person: int) -> None:
        """Stop following ``person`` from frame to frame (their landmarks were someone else's)."""
        self._last_aux.pop(person, None)

    def _run(
        self, frame: np.ndarray, index: int, person: int, region: Any, others: np.ndarray | None = None, centre: np.ndarray | None = None
    ) -> np.ndarray | None:
        from mediapipe.python import packet_creator, packet_getter

        h, w = frame.shape[:2]
        graph = self._graphs.get(person)
        if graph is None:
            graph = self._graphs[person] = _Graph(
                self._mp, _LANDMARK_GRAPH, {"smooth": packet_creator.create_bool(True), "complexity": packet_creator.create_int(1)}
            )
        rgb = self._image(frame, index)
        if self._hide and others is not None and centre is not None and len(others):
            rgb = hide_others(rgb, centre, others, region.width * w / 2.5, self._hide)
        image = packet_creator.create_image_frame(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        out = graph.run(self._time(index), image=image, roi=packet_creator.create_proto(region))
        if "landmarks" not in out:
            self._last_aux.pop(person, None)
            return None
        marks = packet_getter.get_proto(out["landmarks"]).landmark
        aux = packet_getter.get_proto(out["aux"]).landmark
        self._last_aux[person] = (index, np.array([[p.x * w, p.y * h] for p in aux[:2]]))
        return np.array([[p.x * w, p.y * h, p.visibility] for p in marks], dtype=np.float64)

    def close(self) -> None:
        for graph in (self._detect, *self._graphs.values()):
            graph.close()
        self._graphs.clear()


class MediaPipePhotoDetector:
    """MediaPipe Pose (the single-person solution bundled in the wheel) on photos.

    ``detector(frame_bgr)`` returns ``(33, 3)`` float64 pixels and visibility, or ``None``.
    MediaPipe's person detector misses people who fill only part of a photo among other
    things (two of the COCO photos in ``../shared/data/media``): a photo in which the whole
    image finds nobody is searched again in five overlapping crops (the left, right, middle,
    upper and lower three quarters), and the detection with the most landmarks seen
    (visibility above 0.5) is kept.
    """

    #: Crops searched when the whole photo finds nobody: (x0, y0, x1, y1) as fractions of the image.
    PHOTO_CROPS = ((0, 0, 0.75, 1), (0.25, 0, 1, 1), (0.125, 0, 0.875, 1), (0, 0, 1, 0.75), (0, 0.25, 1, 1))

    layout = DETECTOR_LAYOUT

    def __init__(self, *, model_complexity: int = 1, min_detection_confidence: float = 0.5):
        mp = _mediapipe()
        self._cv2 = require("cv2", "video")
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=model_complexity, min_detection_confidence=min_detection_confidence
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        rgb = self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
        kp = self._process(rgb)
        if kp is not None:
            return kp
        h, w = rgb.shape[:2]
        best, best_seen = None, 0
        for fx0, fy0, fx1, fy1 in self.PHOTO_CROPS:
            x0, y0, x1, y1 = int(fx0 * w), int(fy0 * h), int(fx1 * w), int(fy1 * h)
            found = self._process(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            if found is None:
                continue
            seen = int((found[:, 2] > 0.5).sum())
            if seen > best_seen:
                found[:, 0] += x0
                found[:, 1] += y0
                best, best_seen = found, seen
        return best

    def _process(self, rgb: np.ndarray) -> np.ndarray | None:
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        return np.array([[p.x * w, p.y * h, p.visibility] for p in result.pose_landmarks.landmark], dtype=np.float64)

    def close(self) -> None:
        self._pose.close()
