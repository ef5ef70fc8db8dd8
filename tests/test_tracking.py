"""People tracked over frames: the numpy tracker core (poselift.tracking) and lift_video's person axis.

Everything here runs offline on the CPU without MediaPipe: stand-in detectors give boxes or
landmarks of synthetic people who walk, cross and disappear for a few frames.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from poselift.errors import InvalidArgumentError
from poselift.tracking import PeopleTracker, Track, assign, choose_people, consistent_sides, repair_excursions


def box(cx: float, cy: float, h: float = 200.0) -> np.ndarray:
    return np.array([cx - 0.25 * h, cy - 0.5 * h, cx + 0.25 * h, cy + 0.5 * h])


# --------------------------------------------------------------------------- assignment
def test_assign_finds_the_least_total_cost_and_respects_the_gate():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(0, 6, 2)
        cost = rng.random((n, m)) * 2.0
        gate = 0.8
        pairs = assign(cost, gate)
        assert all(cost[i, j] <= gate for i, j in pairs)
        assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})

        def total(ps):  # an unmatched row or column costs the gate
            return sum(cost[i, j] for i, j in ps) + gate * (n + m - 2 * len(ps))

        best = min(
            total(list(zip(rows, cols)))
            for k in range(min(n, m) + 1)
            for rows in itertools.combinations(range(n), k)
            for cols in itertools.permutations(range(m), k)
            if all(cost[i, j] <= gate for i, j in zip(rows, cols))
        )
        assert total(pairs) == pytest.approx(best, abs=1e-9)


def test_assign_never_matches_nan_or_inf_and_checks_its_input():
    assert assign(np.array([[np.nan, 0.1], [np.inf, 0.2]]), 1.0) in ([(0, 1)], [(1, 1)])
    assert assign(np.zeros((0, 3)), 1.0) == []
    with pytest.raises(InvalidArgumentError, match=r"cost must be a \(rows, cols\) matrix; got shape \(3,\)"):
        assign(np.zeros(3), 1.0)


# --------------------------------------------------------------------------- tracker
def test_two_people_crossing_keep_their_ids():
    """A walks right, B walks left, 4 px apart vertically; they pass through each other at frame 10."""
    tracker = PeopleTracker()
    seen = {"A": [], "B": []}
    for f in range(21):
        a, b = box(300 + 20 * f, 300), box(700 - 20 * f, 304)
        order = [("A", a), ("B", b)] if f % 2 else [("B", b), ("A", a)]  # the detector's order changes
        ids = tracker.update(np.stack([bx for _, bx in order]))
        for (name, _), i in zip(order, ids):
            seen[name].append(int(i))
    tracks = tracker.tracks()
    assert len(tracks) == 2
    assert set(seen["A"]) == {1} and set(seen["B"]) == {0}  # B came first; no swap at or after the crossing
    assert tracks[0].frames == list(range(21)) and tracks[0].span == 21


def test_a_person_missing_a_few_frames_keeps_the_id():
    tracker = PeopleTracker(max_missed=5)
    for f in range(20):
        boxes = [box(200 + 3 * f, 300), box(600, 320, 150)]
        if 6 <= f < 11:  # the first person is hidden for 5 frames and walks on behind the obstacle
            boxes = boxes[1:]
        tracker.update(np.stack(boxes))
    tracks = tracker.tracks()
    assert len(tracks) == 2
    assert tracks[0].frames == [f for f in range(20) if not 6 <= f < 11]
    assert tracks[0].detection_at(5) == 0 and tracks[0].detection_at(7) is None and tracks[0].detection_at(11) == 0

    tracker = PeopleTracker(max_missed=3)  # hidden longer than the tracker waits: a new person
    for f in range(20):
        tracker.update(np.stack([box(200 + 3 * f, 300)]) if not 6 <= f < 11 else np.zeros((0, 4)))
    assert [t.frames[0] for t in tracker.tracks()] == [0, 11]


def test_a_far_away_detection_is_someone_else_and_brief_false_detections_are_dropped():
    tracker = PeopleTracker(min_frames=3)
    for f in range(10):
        boxes = [box(300, 300)]
        if f in (4, 5):
            boxes.append(box(900, 300))  # two frames of a false detection
        if f >= 5:
            boxes.append(box(100 + 2 * f, 600, 120))  # someone else appears
        tracker.update(np.stack(boxes))
    tracks = tracker.tracks()
    assert [(t.id, t.first, len(t.frames)) for t in tracks] == [(0, 0, 10), (1, 5, 5)]


def test_keypoints_decide_when_boxes_are_alike():
    """Two people side by side with equal boxes but different keypoints (a raised arm)."""
    kp = np.zeros((2, 3, 3))
    kp[..., 2] = 1.0
    kp[0, :, :2] = [[300, 250], [300, 350], [350, 200]]
    kp[1, :, :2] = [[310, 250], [310, 350], [260, 350]]
    tracker = PeopleTracker()
    boxes = np.stack([box(320, 300), box(320, 300)])
    first = tracker.update(boxes, kp)
    second = tracker.update(boxes[::-1], kp[::-1])
    assert first.tolist() == [0, 1] and second.tolist() == [1, 0]
    with pytest.raises(InvalidArgumentError, match=r"keypoints must have shape \(detections, K, 3\)"):
        tracker.update(boxes, kp[:1])


def test_choose_people():
    def track(i, frames, height):
        return Track(id=i, frames=list(frames), detections=[0] * len(frames), boxes=[box(0, 0, height)] * len(frames))

    tracks = [track(0, range(0, 100), 150.0), track(1, range(3, 100), 300.0), track(2, range(0, 40), 500.0)]
    assert choose_people(tracks, "main") == [1]  # near the longest (97 of 100 frames), and larger
    assert choose_people(tracks, "main", near=0.99) == [0]
    assert choose_people(tracks, "all") == [0, 1, 2]
    assert choose_people(tracks, 2) == [2]
    assert choose_people([], "main") == [] and choose_people([], "all") == []
    with pytest.raises(InvalidArgumentError, match="person 7 was not found; the people found are 0, 1, 2"):
        choose_people(tracks, 7)
    with pytest.raises(InvalidArgumentError, match="person must be 'main', 'all' or a person id"):
        choose_people(tracks, "everyone")


# --------------------------------------------------------------------------- 2D repairs
def walker(frames: int = 30) -> np.ndarray:
    """``(F, 6, 3)``: left/right shoulder, left/right wrist, left/right hip of a person walking right."""
    f = np.arange(frames, dtype=np.float64)[:, None]
    xy = np.stack(
        [np.hstack([340 + 2 * f, 200 + 0 * f]), np.hstack([260 + 2 * f, 200 + 0 * f]),
         np.hstack([360 + 2 * f, 300 + 5 * np.sin(f / 3)]), np.hstack([240 + 2 * f, 300 - 5 * np.sin(f / 3)]),
         np.hstack([330 + 2 * f, 320 + 0 * f]), np.hstack([270 + 2 * f, 320 + 0 * f])], axis=1,
    )  # fmt: skip
    return np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)


def test_a_brief_left_right_swap_is_undone_and_a_long_one_kept():
    kp = walker()
    torso = np.full(30, 120.0)
    pairs = [(0, 1), (2, 3), (4, 5)]
    swapped = kp.copy()
    swapped[10:13] = swapped[10:13][:, [1, 0, 3, 2, 5, 4]]
    fix = consistent_sides(swapped, pairs, torso)
    assert np.flatnonzero(fix).tolist() == [10, 11, 12]
    assert not consistent_sides(kp, pairs, torso).any()  # nothing to undo
    long = kp.copy()
    long[12:] = long[12:][:, [1, 0, 3, 2, 5, 4]]  # one jump, then the detector's labels to the end: kept
    assert not consistent_sides(long, pairs, torso, penalty=0.15).any()
    gap = swapped.copy()
    gap[11] = np.nan  # a frame without the person splits the sequence; each part on its own
    assert np.flatnonzero(consistent_sides(gap, pairs, torso)).tolist() == [10, 12]


def test_a_limb_excursion_is_mended_and_real_motion_is_not():
    kp = walker()
    torso = np.full(30, 120.0)
    hips = kp[:, 4:6, :2].mean(axis=1)
    borrowed = kp.copy()
    borrowed[12:15, 3, 0] -= 150.0  # the right wrist on a neighbour for three frames
    mended = repair_excursions(borrowed, [[2], [3]], hips, torso, threshold=0.6, max_frames=6)
    assert np.flatnonzero(mended[:, 3]).tolist() == [12, 13, 14] and not mended[:, 2].any()
    np.testing.assert_allclose(borrowed[12:15, 3, :2], kp[12:15, 3, :2], atol=6.0)  # back with its person (within the sway)

    stepped = kp.copy()
    stepped[12:, 3, 1] -= 150.0  # the arm goes up and stays up: not an excursion
    assert not repair_excursions(stepped, [[3]], hips, torso, threshold=0.6, max_frames=6).any()
    longer = kp.copy()
    longer[12:25, 3, 0] -= 150.0  # longer than max_frames: left alone
    assert not repair_excursions(longer, [[3]], hips, torso, threshold=0.6, max_frames=6).any()


# --------------------------------------------------------------------------- lift_video's person axis
cv2 = pytest.importorskip("cv2")

from test_video import blank_frames, landmarks  # noqa: E402


class Crowd:
    """Landmarks of two people: A (large) walks right, B (smaller) walks left past A, 30 px
    lower; B is hidden in frames 5-7. The order of the two changes from frame to frame."""

    def __init__(self):
        self.calls = 0

    def __call__(self, frame):
        f = self.calls
        self.calls += 1
        a = landmarks((-120.0 + 12.0 * f, 0.0))
        b = landmarks((120.0 - 12.0 * f, 30.0), scale=0.8)
        people = [a] if 5 <= f <= 7 else ([a, b] if f % 2 == 0 else [b, a])
        return np.stack(people)

    def close(self):
        pass


def test_lift_video_follows_and_chooses_people(tmp_path, lifter):
    main = lift_video_(lifter, person="main")
    assert main.people == [0] and main.main == 0 and main.poses.shape == (16, 1, 17, 3)
    assert [len(t.frames) for t in main.tracks] == [16, 13]
    # A's landmarks as detected, up to the offline 2D smoothing (a steady walk: under 0.1 px)
    np.testing.assert_allclose(main.detections[:, 0, 0, 0] - landmarks()[0, 0], -120.0 + 12.0 * np.arange(16), atol=0.1)

    everyone = lift_video_(lifter, person="all", output_dir=tmp_path / "all")
    assert everyone.people == [0, 1] and everyone.poses.shape == (16, 2, 17, 3)
    assert everyone.found[:, 1].tolist() == [f not in (5, 6, 7) for f in range(16)]  # B hidden, then found again as 1
    np.testing.assert_allclose(everyone.detections[8:, 1, 0, 0] - landmarks()[0, 0], 0.8 * 0 + 120.0 - 12.0 * np.arange(8, 16)
                               + (0.8 - 1.0) * (landmarks()[0, 0] - 320), atol=0.5)  # fmt: skip (smoothed: a short run)
    np.testing.assert_allclose(everyone.poses[:, 0], main.poses[:, 0], atol=1e-6)  # A alone or with B: the same
    out = tmp_path / "all"
    npz = np.load(out / "poses3d.npz", allow_pickle=False)
    assert npz["poses3d"].shape == (16, 2, 17, 3) and npz["lifted"].tolist() == everyone.lifted.tolist()
    record = json.loads((out / "poses3d.json").read_text())
    assert record["metadata"]["people"] == [0, 1] and record["metadata"]["main_person"] == 0
    assert [p["person"] for p in record["frames"][9]["people"]] == [0, 1]  # slots: metadata "people" gives their ids
    assert [p["person"] for p in record["frames"][6]["people"]] == [0]  # B not found: a trailing slot is not written
    frame6 = json.loads((out / "keypoints" / "000006_keypoints.json").read_text())
    frame9 = json.loads((out / "keypoints" / "000009_keypoints.json").read_text())
    assert [p["person_id"] for p in frame6["people"]] == [[0]] and [p["person_id"] for p in frame9["people"]] == [[0], [1]]
    assert {"bvh", "bvh 1"} <= set(everyone.outputs) and (out / "motion.bvh").is_file() and (out / "motion_1.bvh").is_file()

    other = lift_video_(lifter, person=1)
    assert other.people == [1] and other.main == 0
    np.testing.assert_allclose(other.poses[:, 0], everyone.poses[:, 1], atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="person 4 was not found; the people found are 0, 1"):
        lift_video_(lifter, person=4)
    with pytest.raises(InvalidArgumentError, match="person must be 'main', 'all' or a person id"):
        lift_video_(lifter, person="both")


def lift_video_(lifter, person, output_dir=None, **kwargs):
    from poselift.video import lift_video

    return lift_video(blank_frames(16), output_dir, lifter=lifter, detector=Crowd(), fps=25.0, person=person, animation="gif", **kwargs)


def test_cli_video_person_option(tmp_path, capsys, monkeypatch, model_dir):
    import poselift.video
    from poselift.cli import main

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    for frame in blank_frames(16):
        writer.write(frame)
    writer.release()
    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: Crowd())
    base = ["video", str(video), "--model", str(model_dir), "--no-progress", "--animation", "none"]
    assert main(base + ["-o", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "people:  2 followed (ids 0-1, by first appearance)" in printed
    assert "person:  0 (main: detected in the most frames, then the largest): detected in 16 frames (000000-000015)" in printed
    assert main(base + ["-o", str(tmp_path / "b"), "--person", "all"]) == 0
    printed = capsys.readouterr().out
    assert "person:  0, the main person: detected in 16 frames" in printed and "person:  1: detected in 13 frames" in printed
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["keypoints", "motion.bvh", "motion_1.bvh", "poses3d.json", "poses3d.npz"]
    assert main(base + ["-o", str(tmp_path / "c"), "--person", "3"]) != 0
    assert "person 3 was not found; the people found are 0, 1" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp_path / "d"), "--person", "everyone"]) != 0
    assert "expected main, all or a person id" in capsys.readouterr().err


def test_the_other_peoples_bvh_count_as_outputs(tmp_path, lifter):
    """A run with person="all" writes motion_1.bvh; a later run into the same folder refuses it
    without overwrite and, with overwrite, does not leave it beside its own outputs."""
    from poselift.errors import OutputExistsError

    out = tmp_path / "out"
    lift_video_(lifter, person="all", output_dir=out)
    assert (out / "motion_1.bvh").is_file()
    with pytest.raises(OutputExistsError, match="already holds .*motion_1.bvh"):
        lift_video_(lifter, person=0, output_dir=out)
    lift_video_(lifter, person=0, output_dir=out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["animation.gif", "keypoints", "motion.bvh", "poses3d.json", "poses3d.npz"]


def test_overwrite_leaves_a_bvh_file_poselift_did_not_write(tmp_path, lifter):
    """--overwrite removes an earlier run's motion_<id>.bvh (recorded in its poses3d.json),
    never a file of that name that poselift did not write."""
    out = tmp_path / "out"
    lift_video_(lifter, person=0, output_dir=out)
    mine = out / "motion_7.bvh"
    mine.write_text("the user's own file")
    lift_video_(lifter, person=0, output_dir=out, overwrite=True)
    assert mine.read_text() == "the user's own file"
    from poselift.errors import OutputExistsError

    with pytest.raises(OutputExistsError, match="already holds .*motion_7.bvh"):  # a name a run may write: refused first
        lift_video_(lifter, person=0, output_dir=out)


def test_overwrite_removes_every_output_of_the_earlier_run_it_does_not_write(tmp_path, lifter):
    """Each run records all it wrote (metadata "outputs"); --overwrite removes exactly those
    of the earlier run that it does not write itself: no stale animation or BVH stays beside
    the new outputs, and nothing unrecorded is touched."""
    from poselift.video import lift_video

    out = tmp_path / "out"
    lift_video_(lifter, person="all", output_dir=out)
    record = json.loads((out / "poses3d.json").read_text())["metadata"]
    assert record["outputs"] == ["keypoints", "poses3d.json", "poses3d.npz", "motion.bvh", "motion_1.bvh", "animation.gif"]
    assert record["bvh_files"] == ["motion.bvh", "motion_1.bvh"]
    (out / "notes.txt").write_text("the user's own file")
    lift_video(blank_frames(16), out, lifter=lifter, detector=Crowd(), fps=25.0, person=0, animation=None, bvh=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["keypoints", "notes.txt", "poses3d.json", "poses3d.npz"]
    assert json.loads((out / "poses3d.json").read_text())["metadata"]["outputs"] == ["keypoints", "poses3d.json", "poses3d.npz"]


def test_overwrite_reads_the_bvh_files_an_earlier_version_recorded(tmp_path, lifter):
    """A folder written before metadata "outputs" existed records only "bvh_files": those are
    removed on overwrite; an earlier output that was not recorded stays."""
    from poselift.video import lift_video

    out = tmp_path / "out"
    lift_video_(lifter, person="all", output_dir=out)
    path = out / "poses3d.json"
    record = json.loads(path.read_text())
    del record["metadata"]["outputs"]
    path.write_text(json.dumps(record))
    lift_video(blank_frames(16), out, lifter=lifter, detector=Crowd(), fps=25.0, person=0, animation=None, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["animation.gif", "keypoints", "motion.bvh", "poses3d.json", "poses3d.npz"]
