"""poselift.people (and poselift.detectors' tiles) without MediaPipe: detector wrappers and the
two passes of find_people with a two-stage stand-in detector (boxes first, then landmarks per
chosen person)."""

from __future__ import annotations

import numpy as np
import pytest

from poselift.errors import InvalidArgumentError
from poselift.detectors import tiles
from poselift.people import Detections, as_two_stage, checked, find_people

cv2 = pytest.importorskip("cv2")

from test_video import blank_frames, landmarks  # noqa: E402


def test_tiles_cover_the_frame_with_overlap():
    assert tiles(640, 600) == [(0, 0, 640, 600)]  # nearly square: the whole frame
    wide = tiles(1280, 720)
    assert wide == [(0, 0, 720, 720), (280, 0, 1000, 720), (560, 0, 1280, 720)]
    tall = tiles(480, 1000)
    assert tall[0] == (0, 0, 480, 480) and tall[-1] == (0, 520, 480, 1000)
    for grid, long in ((wide, 1280), (tall, 1000)):
        axis = 0 if long == 1280 else 1
        starts = [t[axis] for t in grid]
        side = grid[0][axis + 2] - grid[0][axis]
        assert all(b - a <= 0.75 * side for a, b in zip(starts, starts[1:]))  # overlap of at least a quarter


def test_checked_detectors_give_a_person_axis_and_refuse_other_shapes():
    one = checked(lambda frame: landmarks())
    assert one(None).shape == (1, 33, 3)
    assert checked(lambda frame: None)(None).shape == (0, 33, 3)
    assert checked(lambda frame: [landmarks(), landmarks((50.0, 0.0))])(None).shape == (2, 33, 3)
    with pytest.raises(InvalidArgumentError, match=r"returned shape \(2, 17, 3\); it must return None or \(33, 3\)"):
        checked(lambda frame: np.zeros((2, 17, 3)))(None)
    det = as_two_stage(lambda frame: landmarks())
    found = det.find(None, 0)
    assert found.boxes.shape == (1, 4) and found.landmarks.shape == (1, 33, 3)
    np.testing.assert_allclose(found.boxes[0, [1, 3]], [landmarks()[:, 1].min(), landmarks()[:, 1].max()])


class TwoStage:
    """Two people, A walking right and B standing from frame 6; the person detector misses A
    in frames 10 and 11, and A's landmarks are lost in frame 12 (the landmark model finds
    nobody there)."""

    def __init__(self):
        self.find_calls: list[int] = []
        self.landmark_calls: list[tuple[int, int, bool, bool]] = []

    @staticmethod
    def person(name: str, index: int) -> np.ndarray:
        return landmarks((-150.0 + 6.0 * index, 0.0)) if name == "A" else landmarks((160.0, 10.0), scale=0.7)

    def find(self, frame, index):
        frame_index = int(frame[0, 0, 0])
        self.find_calls.append(index)
        people = [name for name in ("A", "B") if not (name == "A" and frame_index in (10, 11)) and not (name == "B" and frame_index < 6)]
        kps, boxes = [], []
        for name in people:
            kp = self.person(name, frame_index)
            hips = kp[[23, 24], :2].mean(axis=0)
            top = kp[:, :2][np.argmin(kp[:, 1])]
            kps.append([[*hips, 0.9], [*top, 0.9], [*kp[[11, 12], :2].mean(axis=0), 0.9], [*top, 0.9]])
            boxes.append([*kp[:, :2].min(axis=0), *kp[:, :2].max(axis=0)])
        return Detections(np.array(boxes), np.array(kps))

    def landmarks(self, frame, index, person, detection, fallback=None, others=None):
        self.landmark_calls.append((index, person, detection is not None, fallback is not None))
        if index == 12:
            return None
        if detection is None and fallback is None and (index - 1, person) not in {(i, p) for i, p, *_ in self.landmark_calls[:-1]}:
            return None
        return self.person("AB"[person], index)


def numbered_frames(n: int, fps: float):
    """A FrameSource whose frames carry their number in the first pixel."""
    from poselift.video import open_frames

    frames = blank_frames(n)
    for i, f in enumerate(frames):
        f[0, 0] = i
    return open_frames(frames, fps=fps)


def test_find_people_detects_on_every_second_frame_at_50_fps_and_follows_the_landmarks_every_frame():
    det = TwoStage()
    found = find_people(numbered_frames(20, fps=50.0), det, "main", fix_sides=False, mend=None, smooth=None)
    assert det.find_calls == list(range(10))  # frames 0, 2, 4, ...: the detector's own call count picks the tile
    assert found.ids == [0] and [len(t.frames) for t in found.tracks] == [9, 7]  # A: missed at 10; B from 6
    calls = [c for c in det.landmark_calls if c[1] == 0]
    assert [c[0] for c in calls] == list(range(20))  # only A, the main person, in every frame
    assert np.isfinite(found.landmarks[:, 0, 0, 0]).tolist() == [i != 12 for i in range(20)]
    assert calls[13] == (13, 0, False, False)  # after the loss: no detection of A at 13, none near where A was
    assert calls[14][2]  # at 14 A's own detection starts the landmarks again
    np.testing.assert_allclose(found.landmarks[14, 0], TwoStage.person("A", 14))

    every = TwoStage()
    find_people(numbered_frames(10, fps=25.0), every, "all", fix_sides=False, mend=None, smooth=None)
    assert every.find_calls == list(range(10))  # 25 fps: every frame
    assert sorted({c[1] for c in every.landmark_calls}) == [0, 1]


def test_a_follower_that_drifts_onto_someone_else_yields():
    """B's landmarks slide onto A after B's last detection: B stops there (until B is detected
    again), A keeps them."""

    class Drifting(TwoStage):
        def find(self, frame, index):
            found = super().find(frame, index)
            if int(frame[0, 0, 0]) >= 14:  # B is not detected any more
                keep = [i for i, k in enumerate(found.keypoints) if k[0, 0] < 400]
                return Detections(found.boxes[keep], found.keypoints[keep])
            return found

        def landmarks(self, frame, index, person, detection, fallback=None, others=None):
            kp = super().landmarks(frame, index, person, detection, fallback, others)
            return self.person("A", index) if person == 1 and index >= 16 and kp is not None else kp

    found = find_people(numbered_frames(20, fps=25.0), Drifting(), "all", fix_sides=False, mend=None, smooth=None)
    assert found.ids == [0, 1]
    assert np.isfinite(found.landmarks[:, 0, 0, 0]).tolist() == [i != 12 for i in range(20)]  # A as before
    assert np.isfinite(found.landmarks[:, 1, 0, 0]).tolist() == [6 <= i < 16 and i != 12 for i in range(20)]


def test_a_close_neighbour_is_hidden_from_the_landmark_model():
    from poselift.detectors import hide_others

    rgb = np.full((200, 400, 3), 50, dtype=np.uint8)
    me = np.array([100.0, 100.0])
    points = lambda x: np.array([[[x, 100.0, 1.0], [x, 20.0, 1.0], [x, 60.0, 1.0], [x, 20.0, 1.0]]])  # noqa: E731
    near = hide_others(rgb, me, points(200.0), radius=80.0, reach=1.6)  # 100 px away: 1.25 radii
    assert (rgb == 50).all()  # the input is not changed
    assert (near[:, 165:] == 128).all() and (near[:, :155] == 50).all()  # grey from 60 % of the way on
    assert hide_others(rgb, me, points(250.0), radius=80.0, reach=1.6) is rgb  # 1.9 radii: far enough
    assert hide_others(rgb, me, points(110.0), radius=80.0, reach=1.6) is rgb  # the person themself
    assert hide_others(rgb, me, np.zeros((0, 4, 3)), radius=80.0, reach=1.6) is rgb
