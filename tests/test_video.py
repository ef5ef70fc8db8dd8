"""Video pipeline: frames -> detector -> lift -> camera space -> smoothing -> outputs.

The synthetic tests replace MediaPipe by a stand-in detector and need only OpenCV; the
tests on the real media need ``poselift[video]`` and ``../shared/data/media`` and skip
otherwise (a few frames each).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from poselift.camera import CameraError  # noqa: E402
from poselift.cli import main  # noqa: E402
from poselift.errors import OutputConflictError, OutputExistsError, PoseliftError  # noqa: E402
from poselift.io import read_keypoints  # noqa: E402
from poselift.skeleton import get_skeleton  # noqa: E402
from poselift.video import VideoInputError, lift_video, open_frames  # noqa: E402

from bvh_reader import read_bvh  # noqa: E402
from conftest import POSE_H36M17_PX  # noqa: E402

MP = get_skeleton("mediapipe33")
H36M = get_skeleton("h36m17")


def landmarks(offset=(0.0, 0.0), scale: float = 1.0) -> np.ndarray:
    """``(33, 3)`` MediaPipe landmarks of the standing test person, in pixels, visibility 0.9."""
    p = {name: POSE_H36M17_PX[H36M.index(name)] for name in H36M.joints}
    head = p["head_top"]
    pts = {
        "nose": head + [0, 18], "left_ear": head + [12, 12], "right_ear": head + [-12, 12],
        "left_eye": head + [6, 10], "right_eye": head + [-6, 10], "left_eye_inner": head + [3, 10],
        "right_eye_inner": head + [-3, 10], "left_eye_outer": head + [9, 10], "right_eye_outer": head + [-9, 10],
        "left_mouth": head + [4, 24], "right_mouth": head + [-4, 24],
    }  # fmt: skip
    for side in ("left", "right"):
        for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            pts[f"{side}_{j}"] = p[f"{side}_{j}"]
        for j in ("pinky", "index", "thumb"):
            pts[f"{side}_{j}"] = p[f"{side}_wrist"] + [0, 10]
        pts[f"{side}_heel"] = p[f"{side}_ankle"] + [0, 8]
        pts[f"{side}_foot_index"] = p[f"{side}_ankle"] + [0, 12]
    xy = np.array([pts[j] for j in MP.joints], dtype=np.float64)
    xy = (xy - [320, 300]) * scale + [320, 300] + offset
    return np.concatenate([xy, np.full((33, 1), 0.9)], axis=1)


class StandIn:
    """A detector returning the test person moving right by 6 px per call; ``None`` on chosen calls."""

    def __init__(self, missing=()):
        self.calls = 0
        self.missing = set(missing)

    def __call__(self, frame, fresh: bool = False):
        i = self.calls
        self.calls += 1
        return None if i in self.missing else landmarks((6.0 * i, 0.0))

    def close(self):
        pass


def blank_frames(n: int, w: int = 640, h: int = 480) -> list[np.ndarray]:
    return [np.full((h, w, 3), 90, dtype=np.uint8) for _ in range(n)]


# --------------------------------------------------------------------------- synthetic pipeline
def test_lift_video_writes_every_output(tmp_path, lifter):
    out = tmp_path / "out"
    result = lift_video(blank_frames(8), out, lifter=lifter, detector=StandIn(missing={3}), fps=25.0, smooth="offline")
    assert result.sequence and result.fps == 25.0
    assert result.people == [0] and result.main == 0 and result.poses.shape == (8, 1, 17, 3)  # the person axis
    assert result.found[:, 0].tolist() == [True, True, True, False, True, True, True, True]
    assert result.lifted.tolist() == result.found.tolist()
    assert np.isnan(result.poses[3]).all() and np.isfinite(result.poses[result.lifted]).all()
    assert set(result.outputs) == {"keypoints", "json", "npz", "bvh", "animation"}
    assert sorted(p.name for p in out.iterdir()) == ["animation.mp4", "keypoints", "motion.bvh", "poses3d.json", "poses3d.npz"]

    # the frame without a person is recorded, not dropped
    frame3 = json.loads((out / "keypoints" / "000003_keypoints.json").read_text())
    assert frame3["people"] == []
    poses = json.loads((out / "poses3d.json").read_text())
    assert len(poses["frames"]) == 8 and poses["frames"][3]["people"] == []
    assert poses["metadata"]["frames_without_person"] == ["000003"]
    np.testing.assert_allclose(poses["frames"][0]["people"][0]["translation"], result.poses[0, 0, 0], atol=1e-4)
    npz = np.load(out / "poses3d.npz", allow_pickle=False)
    assert npz["poses3d"].shape == (8, 1, 17, 3) and npz["lifted"].tolist() == result.lifted.tolist()
    camera_frame = npz["poses3d"] + npz["translation"][:, :, None, :]  # back in the camera frame
    np.testing.assert_allclose(camera_frame[result.lifted], result.poses[result.lifted], atol=1e-4)
    assert np.isnan(npz["translation"][3]).all()

    # the OpenPose JSON is read back as MediaPipe landmarks and can be lifted again
    data = read_keypoints(out / "keypoints")
    assert data.layout == "mediapipe33" and data.num_people.tolist() == [1, 1, 1, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(data.keypoints[0, 0], result.detections[0, 0, :, :2], atol=1e-3)
    np.testing.assert_allclose(data.keypoints[0, 0], landmarks()[:, :2], atol=1.0)  # smoothed offline: within a pixel

    names, fk, frame_time = read_bvh(out / "motion.bvh")
    assert fk.shape[0] == 8 and frame_time == pytest.approx(1 / 25.0)
    with pytest.raises(OutputExistsError, match="already holds keypoints, poses3d.json.*pass overwrite=True"):
        lift_video(blank_frames(8), out, lifter=lifter, detector=StandIn())
    lift_video(blank_frames(8), out, lifter=lifter, detector=StandIn(), overwrite=True)
    cap = cv2.VideoCapture(str(out / "animation.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()


def test_the_person_moves_through_camera_space(lifter):
    result = lift_video(blank_frames(6), None, lifter=lifter, detector=StandIn(), fps=25.0)
    root = result.poses[:, 0, 0]
    assert (np.diff(root[:, 0]) > 0).all()  # moving right in the image: moving right in space
    assert (root[:, 2] > 0.5).all()  # in front of the camera
    np.testing.assert_allclose(result.poses, result.poses_raw, atol=1e-9)
    assert result.outputs == {}


def test_photos_of_different_sizes_are_unrelated(tmp_path, lifter):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (w, h) in enumerate([(640, 480), (500, 600), (640, 480)]):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), np.full((h, w, 3), 120, dtype=np.uint8))
    source = open_frames(folder)
    assert not source.sequence and source.names == ["img1", "img2", "img3"]
    result = lift_video(folder, tmp_path / "out", lifter=lifter, detector=StandIn(missing={1}), animation="gif", smooth="offline")
    assert result.found[:, 0].tolist() == [True, False, True] and result.world is None
    assert [result.outcome(i) for i in range(3)] == ["lifted", "no person found", "lifted"]
    assert "bvh" not in result.outputs and "animation" not in result.outputs
    # a PNG picture per photo (the 2D overlay beside the 3D view), not a one-frame video
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keypoints", "pictures", "poses3d.json", "poses3d.npz"]
    assert sorted(p.name for p in (tmp_path / "out" / "pictures").iterdir()) == ["img1.png", "img2.png", "img3.png"]
    picture = cv2.imread(str(tmp_path / "out" / "pictures" / "img2.png"))
    assert picture.shape[0] == 600 and picture.shape[1] == 500 + 600  # the photo at its size beside a square 3D view
    assert result.cameras[1].fx == 600.0 and result.cameras[0].cx == 320.0  # each photo its own camera
    with pytest.raises(OutputExistsError, match="already holds .*pictures.*overwrite=True"):
        lift_video(folder, tmp_path / "out", lifter=lifter, detector=StandIn())
    # --overwrite replaces poselift's own pictures, but never a pictures folder holding other files
    result = lift_video(folder, tmp_path / "out", lifter=lifter, detector=StandIn(), animation="gif", overwrite=True)
    assert result.outputs["pictures"] == tmp_path / "out" / "pictures" and result.found.all()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keypoints", "pictures", "poses3d.json", "poses3d.npz"]
    (tmp_path / "out" / "pictures" / "notes.txt").write_text("mine")
    det = StandIn()
    with pytest.raises(OutputConflictError, match=r"pictures holds files poselift does not write \(notes.txt\)"):
        lift_video(folder, tmp_path / "out", lifter=lifter, detector=det, animation="gif", overwrite=True)
    assert det.calls == 0 and (tmp_path / "out" / "pictures" / "notes.txt").read_text() == "mine"
    # the earlier run's pictures folder, recorded, is removed by a run that writes none
    (tmp_path / "out" / "pictures" / "notes.txt").unlink()
    lift_video(folder, tmp_path / "out", lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keypoints", "poses3d.json", "poses3d.npz"]


def test_two_images_with_one_stem_are_refused_before_any_work(tmp_path, lifter):
    """a.png and a.jpg would both be frame 'a': one photo's outputs would replace the other's."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "a.jpg", "b.png"):
        cv2.imwrite(str(folder / name), np.full((48, 64, 3), 120, dtype=np.uint8))
    with pytest.raises(VideoInputError, match=r"a.jpg and .*a.png would both be frame 'a'.*rename or move one"):
        open_frames(folder)
    det = StandIn()
    with pytest.raises(VideoInputError, match="would both be frame 'a'"):
        lift_video(folder, tmp_path / "out", lifter=lifter, detector=det)
    assert det.calls == 0 and not (tmp_path / "out").exists()
    assert open_frames(folder, max_frames=1).names == ["a"]  # only the frames used count: a.jpg alone


def test_a_taken_output_folder_is_refused_before_a_folder_of_images_is_decoded(tmp_path, lifter, monkeypatch):
    import poselift.frames

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 120, dtype=np.uint8))
    out = tmp_path / "out"
    lift_video(folder, out, lifter=lifter, detector=StandIn(), animation=None)
    decoded = []
    read = poselift.frames._read_image
    monkeypatch.setattr(poselift.frames, "_read_image", lambda path: decoded.append(path) or read(path))
    with pytest.raises(OutputExistsError, match="already holds keypoints, poses3d.json"):
        lift_video(folder, out, lifter=lifter, detector=StandIn(), animation=None)
    assert decoded == []
    lift_video(folder, out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert len(decoded) == 6  # once for the sizes, once for the work


def test_nobody_lifted_writes_nothing(tmp_path, lifter, caplog):
    with caplog.at_level("WARNING", logger="poselift"):
        result = lift_video(blank_frames(3), tmp_path / "out", lifter=lifter, detector=StandIn(missing={0, 1, 2}))
    assert not result.lifted.any() and result.outputs == {} and not (tmp_path / "out").exists()
    assert "nobody was lifted" in caplog.text
    assert {result.outcome(i) for i in range(3)} == {"no person found"}


def test_cli_photos_name_every_outcome_and_fail_when_nobody_is_lifted(tmp_path, capsys, monkeypatch, model_dir):
    import poselift.video

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (w, h) in enumerate([(640, 480), (500, 600)]):
        cv2.imwrite(str(folder / f"img{i + 1}.jpg"), np.full((h, w, 3), 120, dtype=np.uint8))
    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: StandIn(missing={1}))
    rc = main(["video", str(folder), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "photo:   img1: lifted" in printed and "photo:   img2: no person found" in printed
    assert (tmp_path / "out" / "pictures" / "img1.png").is_file()

    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: StandIn(missing={0, 1}))
    rc = main(["video", str(folder / "img2.jpg"), "-o", str(tmp_path / "none"), "--model", str(model_dir), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and "photo:   img2: no person found" in captured.out
    assert "nobody was lifted" in captured.err and "nothing was written" in captured.err
    assert not (tmp_path / "none").exists()


def test_causal_smoothing_and_no_smoothing_differ(lifter):
    det = StandIn()
    a = lift_video(blank_frames(10), None, lifter=lifter, detector=det, smooth="causal", fps=25.0)
    b = lift_video(blank_frames(10), None, lifter=lifter, detector=StandIn(), fps=25.0)
    assert np.abs(a.poses - b.poses).max() > 1e-4
    np.testing.assert_allclose(a.poses[0], b.poses[0], atol=1e-6)  # the causal filter starts on the first frame


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_naming_the_file(tmp_path, lifter):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoInputError, match="cannot decode the video .*broken.mp4"):
        lift_video(bad, tmp_path / "o1", lifter=lifter, detector=StandIn())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoInputError, match="folder .*empty holds no images"):
        lift_video(empty, tmp_path / "o2", lifter=lifter, detector=StandIn())
    with pytest.raises(VideoInputError, match="frame size is 0 x 0"):
        lift_video([np.zeros((0, 0, 3), np.uint8)], tmp_path / "o3", lifter=lifter, detector=StandIn())
    not_image = tmp_path / "photo.jpg"
    not_image.write_text("no pixels here")
    with pytest.raises(VideoInputError, match="cannot decode the image .*photo.jpg"):
        lift_video(not_image, tmp_path / "o4", lifter=lifter, detector=StandIn())
    with pytest.raises(CameraError, match="unknown camera model 'fisheye'"):
        lift_video(blank_frames(2), tmp_path / "o5", lifter=lifter, detector=StandIn(), camera={"model": "fisheye", "f": 500, "cx": 1, "cy": 1})
    with pytest.raises(VideoInputError, match="does not exist"):
        lift_video(tmp_path / "nothing.mp4", tmp_path / "o6", lifter=lifter, detector=StandIn())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "empty", "photo.jpg"]  # no output left


def test_unwritable_output_leaves_no_partial_file(tmp_path, lifter):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should go")
    with pytest.raises(Exception, match="taken"):
        lift_video(blank_frames(3), blocker, lifter=lifter, detector=StandIn())
    out = tmp_path / "out"
    out.mkdir()
    (out / "motion.bvh").mkdir()  # the BVH path is a folder: refused before any work (F19; was an ExportError after it)
    from poselift.errors import OutputConflictError

    with pytest.raises(OutputConflictError, match="motion.bvh of another kind"):
        lift_video(blank_frames(3), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_overwrite_never_deletes_the_input_or_foreign_files(tmp_path, lifter, capsys):
    """F01: ``video D/keypoints -o D --overwrite`` deleted the input images with the old
    keypoints folder. An input inside an output path is refused before any work, and
    ``--overwrite`` replaces only poselift's own files (refusing, not deleting, anything else)."""
    from poselift.errors import OutputConflictError

    images = tmp_path / "D" / "keypoints"
    images.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), blank_frames(1)[0])
    with pytest.raises(OutputConflictError, match="lies inside the output .*keypoints"):
        lift_video(images, tmp_path / "D", lifter=lifter, detector=StandIn(), overwrite=True)
    assert main(["video", str(images), "-o", str(tmp_path / "D"), "--overwrite", "--no-progress"]) != 0
    assert "lies inside the output" in capsys.readouterr().err
    assert sorted(p.name for p in images.iterdir()) == ["0.png", "1.png", "2.png"]

    out = tmp_path / "out"
    lift_video(blank_frames(5), out, lifter=lifter, detector=StandIn(), animation=None)
    (out / "keypoints" / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflictError, match="files poselift does not write \\(notes.txt\\)"):
        lift_video(blank_frames(3), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert (out / "keypoints" / "notes.txt").read_text() == "mine" and len(list((out / "keypoints").iterdir())) == 6
    (out / "keypoints" / "notes.txt").unlink()
    # poselift's own files are replaced, those of the longer earlier run included
    lift_video(blank_frames(3), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert sorted(p.name for p in (out / "keypoints").iterdir()) == [f"00000{i}_keypoints.json" for i in range(3)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_two_runs_into_one_folder_never_mix_or_replace_outputs(tmp_path, lifter):
    """F04: outputs that appear while a run works (another run into the same folder) were
    silently replaced or mixed with this run's. Now the run refuses before writing any file,
    and a run holding the folder's lock keeps any other out, ``overwrite`` or not."""
    import fcntl
    import os

    from poselift.errors import OutputConflictError, OutputExistsError

    out = tmp_path / "out"
    out.mkdir()

    class OtherRunFinishesMeanwhile(StandIn):
        def __call__(self, frame, fresh: bool = False):
            if self.calls == 2:
                (out / "poses3d.json").write_text("the other run's result")
            return super().__call__(frame, fresh)

    with pytest.raises(OutputExistsError, match="poses3d.json"):
        lift_video(blank_frames(4), out, lifter=lifter, detector=OtherRunFinishesMeanwhile(), animation=None)
    assert sorted(p.name for p in out.iterdir()) == ["poses3d.json"]  # nothing of this run mixed in
    assert (out / "poses3d.json").read_text() == "the other run's result"

    fd = os.open(out, os.O_RDONLY)  # another run is writing its outputs there
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(OutputConflictError, match="another process is writing"):
            lift_video(blank_frames(4), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    finally:
        os.close(fd)
    assert sorted(p.name for p in out.iterdir()) == ["poses3d.json"]
    lift_video(blank_frames(4), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["keypoints", "motion.bvh", "poses3d.json", "poses3d.npz"]


def test_a_focal_length_in_millimetres_fails_before_detection(tmp_path, lifter):
    """F09/F10: ``--camera 4.2,...`` clamped every depth to 0.1 m (or failed only after all
    detection); the intrinsics are now checked against the frame size before any work."""
    det = StandIn()
    with pytest.raises(CameraError, match="field of view.*millimetres"):
        lift_video(blank_frames(3), tmp_path / "out", lifter=lifter, detector=det, camera={"f": 4.2, "cx": 320, "cy": 240})
    assert det.calls == 0 and not (tmp_path / "out").exists()


def test_one_unreadable_image_does_not_reject_the_folder(tmp_path, lifter, caplog):
    """F13: one unreadable image rejected a whole folder of frames. It is left out with a
    warning and recorded in the outputs; a folder of nothing but unreadable images still fails."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), blank_frames(1)[0])
    (folder / "1b.png").write_bytes(b"not a png")
    with caplog.at_level("WARNING"):
        result = lift_video(folder, tmp_path / "out", lifter=lifter, detector=StandIn(), animation=None)
    assert result.frames == ["0", "1", "2"] and result.sequence and "1b.png" in caplog.text
    meta = json.loads((tmp_path / "out" / "poses3d.json").read_text())["metadata"]
    assert list(meta["unreadable_files"]) == ["1b.png"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"x")
    (bad / "b.png").write_bytes(b"y")
    with pytest.raises(VideoInputError, match="none of the 2 images"):
        lift_video(bad, None, lifter=lifter, detector=StandIn())


def test_an_image_beyond_opencvs_pixel_limit_is_a_clear_error(tmp_path, lifter):
    """F24: a PNG whose header claims 40000 x 40000 pixels gave a ``cv2.error`` traceback."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
    with pytest.raises(VideoInputError, match="cannot decode the image .*huge.png: OpenCV refuses it"):
        lift_video(huge, None, lifter=lifter, detector=StandIn())


@pytest.mark.parametrize(
    "args, message",
    [
        (["video", "{tmp}/broken.avi", "-o", "{tmp}/out"], "cannot decode the video"),
        (["video", "{tmp}/empty", "-o", "{tmp}/out"], "holds no images"),
        (["video", "{tmp}/empty", "-o", "{tmp}/out", "--camera", "{tmp}/cam.json"], "cam.json: unknown camera model 'kannala'"),
        (["video", "{tmp}/empty", "-o", "{tmp}/out", "--camera", "1,2"], "--camera must be"),
    ],
)
def test_cli_bad_input_exits_non_zero(tmp_path, capsys, args, message):
    (tmp_path / "broken.avi").write_bytes(b"\x00" * 1000)
    (tmp_path / "empty").mkdir()
    (tmp_path / "cam.json").write_text(json.dumps({"model": "kannala", "fx": 1, "fy": 1, "cx": 0, "cy": 0}))
    rc = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert rc != 0 and message in err
    assert not (tmp_path / "out").exists()


def test_cli_lift_smooth(tmp_path, capsys):
    """``poselift lift --smooth`` on a small OpenPose folder written by the video pipeline's format."""
    folder = tmp_path / "kp"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        kp = landmarks((4.0 * i, 0.0))
        kp[:, :2] += rng.normal(0.0, 1.5, (33, 2))
        (folder / f"{i:06d}_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": kp.reshape(-1).tolist()}]}))
    rc_raw = main(["lift", str(folder), "-o", str(tmp_path / "raw.npz")])
    rc = main(["lift", str(folder), "-o", str(tmp_path / "smooth.npz"), "--smooth", "--fps", "25"])
    out = capsys.readouterr().out
    assert rc == rc_raw == 0 and "smooth:  offline" in out
    raw = np.load(tmp_path / "raw.npz")["poses3d"][:, 0]
    smooth = np.load(tmp_path / "smooth.npz")["poses3d"][:, 0]
    from poselift.smooth import bone_length_cv, jitter

    assert jitter(smooth, 25.0) < jitter(raw, 25.0)
    assert np.median(bone_length_cv(smooth, "h36m17")) < 1e-6  # bones at their median length


# --------------------------------------------------------------------------- real media
def _media(shared_data: Path) -> Path:
    media = shared_data / "media"
    if not (media / "video.avi").is_file():
        pytest.skip(f"real media not found in {media}")
    mp = pytest.importorskip("mediapipe")
    if not hasattr(getattr(mp, "solutions", None), "pose"):
        pytest.skip(f"mediapipe {mp.__version__} has no bundled pose model; install poselift[video]")
    return media


@pytest.mark.data
def test_real_video_first_frames(shared_data, tmp_path):
    media = _media(shared_data)
    result = lift_video(media / "video.avi", tmp_path / "out", max_frames=12, smooth="offline", animation=None)
    assert len(result.frames) == 12 and result.fps == pytest.approx(50.0)
    assert result.lifted.sum() >= 11
    world = result.world[result.lifted]
    assert (world[:, H36M.index("head_top"), 1] - world[:, H36M.index("left_ankle"), 1] > 1.0).all()  # upright
    # the dancer stands in the middle of the 1280 px frame, a few metres away
    hips = result.keypoints[result.lifted][:, 0]
    assert ((hips[:, 0] > 400) & (hips[:, 0] < 900)).all()
    assert (result.poses[result.lifted][:, 0, 2] > 2.0).all()
    assert (tmp_path / "out" / "motion.bvh").is_file()


@pytest.mark.data
def test_real_video_feet_on_the_ground(shared_data, tmp_path):
    """Issue 16's target: in motion.bvh the lower ankle is at or above the ground in >= 95 % of
    frames, and its median height is 4-12 cm (the ankle joint sits above the sole)."""
    media = _media(shared_data)
    lift_video(media / "video.avi", tmp_path / "out", animation=None)  # default options
    names, fk, _ = read_bvh(tmp_path / "out" / "motion.bvh")
    lower = fk[:, [names.index("left_ankle"), names.index("right_ankle")], 1].min(axis=1)  # centimetres
    assert (lower >= 0).mean() >= 0.95
    assert 4.0 <= np.median(lower) <= 12.0


@pytest.mark.data
def test_real_photos(shared_data, tmp_path):
    media = _media(shared_data)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("COCO_val2014_000000000241.jpg", "COCO_val2014_000000000192.jpg"):
        (folder / name).symlink_to(media / name)
    result = lift_video(folder, None, animation=None)
    assert not result.sequence
    # 192: people MediaPipe misses in the whole photo; a crop finds one. 241: a person
    assert result.lifted[:, 0].tolist() == [True, True]


def test_an_unliftable_frame_is_marked_not_dropped(lifter):
    """A two-stage detector (boxes first, landmarks per person) whose landmarks collapse to one
    point in the third frame: found there, refused by the lifter, marked."""
    from poselift.people import Detections

    class Degenerate:
        def find(self, frame, index):
            kp = landmarks((6.0 * index, 0.0))
            points = np.stack([kp[[23, 24]].mean(axis=0), kp[0], kp[[11, 12]].mean(axis=0), kp[0]])
            return Detections(np.array([[*kp[:, :2].min(axis=0), *kp[:, :2].max(axis=0)]]), points[None])

        def landmarks(self, frame, index, person, detection, fallback=None, others=None):
            kp = landmarks((6.0 * index, 0.0))
            if index == 2:  # every landmark at one point (the hips' centre)
                kp[:, :2] = kp[[23, 24], :2].mean(axis=0)
            return kp

    result = lift_video(blank_frames(5), None, lifter=lifter, detector=Degenerate(), fps=25.0, smooth="offline")
    assert result.found.all() and result.lifted[:, 0].tolist() == [True, True, False, True, True]
    assert list(result.refused) == [(2, 0)] and "one point" in result.refused[2, 0]
    assert np.isnan(result.poses[2]).all() and np.isfinite(result.poses[[0, 1, 3, 4]]).all()


def test_normalised_coordinates_are_warned_about(lifter, caplog):
    """Keypoints divided by the image size (Kinetics OpenPose: 340x256) lift with distorted proportions."""
    kp = POSE_H36M17_PX / np.array([640.0, 480.0], dtype=np.float32)
    with caplog.at_level("WARNING", logger="poselift"):
        lifter.lift(kp)
    assert "look normalised to the image size" in caplog.text and "340x256" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="poselift"):
        lifter.lift(POSE_H36M17_PX)
    assert "normalised" not in caplog.text


@pytest.mark.data
def test_real_kinetics_openpose_is_warned_about(shared_data, lifter, caplog):
    path = shared_data / "wild2d" / "kinetics_openpose_coco18.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    from poselift.adapt import adapt_openpose

    clip = np.load(path)
    a = clip[sorted(clip.files)[0]]
    a = a[(a[..., 2] > 0).sum(axis=-1) >= 12][:2]  # two frames with a person
    if len(a) == 0:
        pytest.skip("no frame with a person in the first clip")
    adapted = adapt_openpose(a, layout="coco18")
    with caplog.at_level("WARNING", logger="poselift"):
        lifter.lift(adapted, on_unliftable="nan")
    assert "look normalised to the image size" in caplog.text


def test_cli_video_on_a_small_video(tmp_path, capsys, monkeypatch, model_dir):
    """``poselift video`` end to end on an AVI written here, with the stand-in detector."""
    import poselift.video

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (320, 240))
    assert writer.isOpened()
    for frame in blank_frames(6, 320, 240):
        writer.write(frame)
    writer.release()
    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: StandIn(missing={2}))
    out = tmp_path / "out"
    rc = main(["video", str(video), "-o", str(out), "--model", str(model_dir), "--smooth", "causal", "--animation", "gif", "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "(6 frames, 20 fps)" in printed and "a person in 5 of 6 frames" in printed and "smoothed (causal)" in printed
    assert sorted(p.name for p in out.iterdir()) == ["animation.gif", "keypoints", "motion.bvh", "poses3d.json", "poses3d.npz"]
    assert main(["video", str(video), "-o", str(out), "--model", str(model_dir), "--no-progress"]) != 0  # outputs exist
    err = capsys.readouterr().err
    assert "pass --overwrite to replace them" in err and "overwrite=True" not in err  # the command's spelling


def test_cli_video_that_lifts_nobody_exits_non_zero(tmp_path, capsys, monkeypatch, model_dir):
    """F12: ``poselift video`` exited 0 when nobody was lifted in any frame."""
    import poselift.video

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), blank_frames(1, 320, 240)[0])
    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: StandIn(missing={0, 1, 2}))
    rc = main(["video", str(folder), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--no-progress", "--animation", "none"])
    captured = capsys.readouterr()
    assert rc == 1 and "nobody was lifted in" in captured.err and "a person in 0 of 3 frames" in captured.out
    assert not (tmp_path / "out" / "poses3d.json").exists()  # main: nothing is written when nobody is lifted


def test_lift_video_arguments_are_checked_before_any_work(tmp_path, lifter):
    """F28: fps None/'30'/inf/True, max_frames 0/-1, float32 or 2-channel frames, unknown
    smoothing parameters and a detector returning the wrong shape gave tracebacks, silent
    defaults or failures after all detection."""
    from poselift.errors import InvalidArgumentError

    det = StandIn()
    for kwargs, message in (
        ({"fps": "30"}, "fps must be a positive frame rate"), ({"fps": float("inf")}, "fps must be"),
        ({"fps": True}, "fps must be"), ({"max_frames": 0}, "max_frames must be a whole number >= 1"),
        ({"max_frames": -1}, "max_frames"), ({"max_frames": True}, "max_frames"),
        ({"smooth_params": {"gamma": 1.0}}, "unknown smoothing parameters"),
        ({"smooth_params": {"beta": float("inf")}}, "beta must be"),
    ):  # fmt: skip
        with pytest.raises(InvalidArgumentError, match=message):
            lift_video(blank_frames(3), None, lifter=lifter, detector=det, **kwargs)
    for frames in ([np.zeros((48, 64, 3), np.float32)], [np.zeros((48, 64, 2), np.uint8)], [np.zeros((48, 64), np.uint8)]):
        with pytest.raises(VideoInputError, match="expected a BGR image, uint8 of shape"):
            lift_video(frames, None, lifter=lifter, detector=det)
    assert det.calls == 0

    def wrong_shape(frame, fresh: bool = False):
        return np.zeros((17, 2))

    with pytest.raises(InvalidArgumentError, match=r"the detector returned shape \(17, 2\); it must return None or \(33, 3\)"):
        lift_video(blank_frames(3), None, lifter=lifter, detector=wrong_shape)


def test_outputs_are_all_or_nothing_and_checked_before_any_work(tmp_path, lifter, monkeypatch):
    """F19: ``video`` checked its output location only after all the work, left a partial
    set of outputs after a failure or Ctrl-C, and temporary files of a killed run that a
    later ``--overwrite`` run did not clean."""
    import os

    import poselift.export.outputs

    det = StandIn()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PoseliftError, match="is a file, not a folder"):
        lift_video(blank_frames(3), blocker / "out", lifter=lifter, detector=det)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PoseliftError, match="is not writable"):
            lift_video(blank_frames(3), locked / "out", lifter=lifter, detector=det)
    assert det.calls == 0

    out = tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the last output is written

    monkeypatch.setattr(poselift.export.outputs, "write_animation", interrupted)  # moved out of poselift.video
    with pytest.raises(KeyboardInterrupt):
        lift_video(blank_frames(4), out, lifter=lifter, detector=StandIn(), animation="gif")
    assert list(out.iterdir()) == []  # no partial set: neither keypoints nor poses nor BVH
    monkeypatch.undo()

    (out / ".poselift-video-k3j5h7g9").mkdir()  # what a SIGKILLed run leaves
    (out / ".poselift-video-k3j5h7g9" / "poses3d.json").write_text("{}")
    (out / ".poses3d.json.a1b2c3d4.tmp.json").write_text("{")
    (out / ".keypoints.x_y2z3w4").mkdir()
    (out / "notes.txt").write_text("mine")
    (out / ".poses3d.json.backup").write_text("mine too")  # not a name poselift gives its temporaries
    result = lift_video(blank_frames(4), out, lifter=lifter, detector=StandIn(), animation=None, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        ".poses3d.json.backup", "keypoints", "motion.bvh", "notes.txt", "poses3d.json", "poses3d.npz",
    ]  # fmt: skip
    assert all(path.parent == out and path.exists() for path in result.outputs.values())


@pytest.mark.parametrize("width", ["NaN", "Infinity", '"640"', "640.5", "true"])
def test_cli_camera_json_with_a_bad_image_size(tmp_path, capsys, width):
    """F21: a camera image size NaN, infinite or a string (also in a --camera JSON file) gave
    a traceback; it is a CameraError naming the file, before any frame is read."""
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), blank_frames(1)[0])
    cam = tmp_path / "cam.json"
    cam.write_text('{"f": 500, "cx": 320, "cy": 240, "width": ' + width + ', "height": 480}')
    assert main(["video", str(frames), "-o", str(tmp_path / "out"), "--camera", str(cam), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cam.json" in err and "width must be a whole number of pixels" in err
    assert not (tmp_path / "out").exists()


def test_cli_consistency(tmp_path, capsys, monkeypatch, model_dir, lifter):
    """Issue 16, item 5: layouts, frame rate, height units, the summary's words, the legend."""
    import poselift.video
    from poselift.video import render_frame

    # a keypoint folder written by poselift video records its frame rate; poselift lift reads it
    result = lift_video(blank_frames(8), tmp_path / "v", lifter=lifter, detector=StandIn(), fps=50.0, animation=None)
    assert read_keypoints(tmp_path / "v" / "keypoints").fps == 50.0
    kp = str(tmp_path / "v" / "keypoints")
    assert main(["lift", kp, "-o", str(tmp_path / "a.npz"), "--model", str(model_dir), "--smooth"]) == 0
    assert "at 50 fps (recorded in the keypoints)" in capsys.readouterr().out
    assert main(["lift", kp, "-o", str(tmp_path / "b.npz"), "--model", str(model_dir), "--smooth", "--fps", "50"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["poses3d"], np.load(tmp_path / "b.npz")["poses3d"])
    assert main(["lift", kp, "-o", str(tmp_path / "c.npz"), "--model", str(model_dir), "--smooth", "--fps", "30"]) == 0
    assert not np.array_equal(np.load(tmp_path / "a.npz")["poses3d"], np.load(tmp_path / "c.npz")["poses3d"])
    # --layout offers mediapipe33
    assert main(["lift", kp, "-o", str(tmp_path / "d.npz"), "--model", str(model_dir), "--layout", "mediapipe33"]) == 0
    capsys.readouterr()

    # --height means metres in both commands, and centimetres get the same hint
    for command in (["lift", kp, "-o", str(tmp_path / "e.npz")], ["video", kp, "-o", str(tmp_path / "e")]):
        assert main([*command, "--height", "170"]) == 2
        assert "looks like centimetres: pass 1.70" in capsys.readouterr().err

    # the summary says smooth only when the run smoothed
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (320, 240))
    for frame in blank_frames(4, 320, 240):
        writer.write(frame)
    writer.release()
    monkeypatch.setattr(poselift.video, "default_detector", lambda sequence, fps: StandIn())
    assert main(["video", str(video), "-o", str(tmp_path / "raw"), "--model", str(model_dir), "--no-progress"]) == 0
    assert "smooth" not in capsys.readouterr().out
    assert main(["video", str(video), "-o", str(tmp_path / "sm"), "--model", str(model_dir), "--no-progress", "--smooth"]) == 0
    assert "frames/s (decode, detect, lift, smooth)" in capsys.readouterr().out

    # the 3D view has a left/right legend in the person's colours (BGR)
    image = render_frame(blank_frames(1)[0], result, 0, panel_height=360)
    corner = image[-30:, -360:-180].reshape(-1, 3)  # the lower left of the square 3D panel
    assert (np.abs(corner.astype(int) - (255, 140, 40)).sum(axis=1) < 30).any()  # left
    assert (np.abs(corner.astype(int) - (40, 40, 230)).sum(axis=1) < 30).any()  # right


def test_an_output_that_appears_while_outputs_are_installed_takes_back_this_runs_new_ones(tmp_path, lifter, monkeypatch):
    """Something that ignores the folder lock writes poses3d.npz between the check and the install:
    the run fails and removes the outputs it had already created, so no partial set stays."""
    import poselift.export.outputs

    out = tmp_path / "out"
    real = poselift.export.outputs.install_file

    def racing(tmp, path, replace):
        if Path(path).name == "poses3d.npz":
            Path(path).write_bytes(b"someone else's")
        return real(tmp, path, replace)

    monkeypatch.setattr(poselift.export.outputs, "install_file", racing)
    with pytest.raises(PoseliftError, match="taken back"):
        lift_video(blank_frames(4), out, lifter=lifter, detector=StandIn(), animation=None)
    assert sorted(p.name for p in out.iterdir()) == ["poses3d.npz"]  # only the other writer's file
    assert (out / "poses3d.npz").read_bytes() == b"someone else's"
