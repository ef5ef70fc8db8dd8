"""A held-out domain: CMU motion capture filmed by random virtual cameras.

Human3.6M has four actors, four fixed cameras and fifteen lab actions; a lifter that only
saw it can look better there than anywhere else. The CMU clips (BVH, ``--cmu DIR``, or
``$POSELIFT_DATA/cmu_bvh``) give other people, other motions and, through virtual
cameras, other viewpoints, with exact 3D for evaluation. They are never training data.

Protocol (:func:`load_cmu`, all choices fixed and seeded, so every run sees the same poses):

* every clip is read with :func:`read_bvh`, posed by forward kinematics and mapped to the
  Human3.6M-17 joints (:func:`cmu_h36m17`); frame 0 (often a T-pose) is dropped, then the
  clip is sampled at ``120 / stride`` frames per second (``stride`` counts 120 fps frames:
  4 gives 30 fps; a 30 fps clip is then kept whole);
* :data:`CAMERAS_PER_CLIP` pinhole cameras per clip, drawn from a generator seeded by the
  clip name: azimuth uniform around the subject, horizontal distance 2.5-7 m from the
  clip's mean root, height 0.3-2.5 m above the floor (the lowest ankle of the clip), aimed
  at the mean root, focal length 800-1600 px, principal point (500, 500); a camera that
  would see a joint closer than 1 m is drawn again;
* ``inputs="gt"``: the exact projections. ``inputs="noisy"``, a detector-like input: each
  joint moves by isotropic Gaussian noise of standard deviation
  :data:`NOISE_FRACTION` of the pose's 2D bounding-box height (wrists and ankles 1.5x),
  and one random joint other than the pelvis is missing (NaN, confidence 0) in
  :data:`MISSING_SHARE` of the poses;
* the clips are split once: :data:`VALIDATION_CLIPS` may select models,
  :data:`TEST_CLIPS` only measure them.

The 3D is each camera's frame, in millimetres (the clips' centimetres, or the ASF-style
clip's 0.45-inch units, converted).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .data import PoseSet, data_folder

__all__ = [
    "VALIDATION_CLIPS",
    "TEST_CLIPS",
    "CAMERAS_PER_CLIP",
    "NOISE_FRACTION",
    "MISSING_SHARE",
    "HIP_WIDEN",
    "BvhClip",
    "read_bvh",
    "forward_kinematics",
    "cmu_h36m17",
    "find_cmu",
    "look_at",
    "load_cmu",
]

#: Clips that may select checkpoints and settings (two walks, by subjects 7 and 8, who
#: appear in no test clip).
VALIDATION_CLIPS = ("07_01", "08_01")
#: Clips that only measure.
TEST_CLIPS = ("02_01", "02_04", "05_01", "09_01", "09_06", "12_01", "13_11", "16_01")
CAMERAS_PER_CLIP = 4
#: Standard deviation of the detector-like noise, as a share of the 2D bounding-box height.
NOISE_FRACTION = 0.02
#: How much farther apart Human3.6M's hip joints are than CMU's (``cmu_h36m17``).
HIP_WIDEN = 0.5
#: Share of detector-like poses with one missing joint.
MISSING_SHARE = 0.10


@dataclass
class _Joint:
    name: str
    parent: int  # index into BvhClip.joints, -1 for the root
    offset: np.ndarray  # (3,) in the parent's frame
    channels: list[str]
    end_site: np.ndarray | None = None


@dataclass
class BvhClip:
    """A parsed BVH file: joints in file order (parents first), frame time, motion table."""

    joints: list[_Joint]
    frame_time: float
    motion: np.ndarray  # (frames, channels)

    def index(self, name: str) -> int:
        for i, joint in enumerate(self.joints):
            if joint.name == name:
                return i
        raise DataError(f"the BVH clip has no joint {name!r}")

    def has(self, name: str) -> bool:
        return any(j.name == name for j in self.joints)


def read_bvh(path: str | os.PathLike) -> BvhClip:
    """Parse a BVH file (hierarchy, offsets, per-joint channel order, motion values)."""
    path = Path(path)
    tokens = path.read_text(encoding="utf-8").split()
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise DataError(f"{path}: the file ends inside the hierarchy")
        pos += 1
        return tokens[pos - 1]

    def expect(word: str) -> None:
        tok = take()
        if tok != word:
            raise DataError(f"{path}: expected {word!r}, got {tok!r} at token {pos - 1}")

    def numbers(n: int) -> np.ndarray:
        try:
            return np.array([float(take()) for _ in range(n)])
        except ValueError:
            raise DataError(f"{path}: expected {n} numbers near token {pos}") from None

    expect("HIERARCHY")
    joints: list[_Joint] = []
    stack: list[int] = []
    kind = take()
    if kind != "ROOT":
        raise DataError(f"{path}: expected ROOT, got {kind!r}")
    while True:
        if kind == "End":
            expect("Site")
            expect("{")
            expect("OFFSET")
            joints[stack[-1]].end_site = numbers(3)
            expect("}")
        else:
            name = take()
            expect("{")
            expect("OFFSET")
            offset = numbers(3)
            expect("CHANNELS")
            channels = [take() for _ in range(int(numbers(1)[0]))]
            joints.append(_Joint(name, stack[-1] if stack else -1, offset, channels))
            stack.append(len(joints) - 1)
        kind = take()
        while kind == "}":
            if not stack:
                raise DataError(f"{path}: unbalanced braces in the hierarchy")
            stack.pop()
            kind = take()
        if kind == "MOTION":
            break
        if kind not in ("JOINT", "End"):
            raise DataError(f"{path}: unexpected token {kind!r} in the hierarchy")
    if stack:
        raise DataError(f"{path}: unbalanced braces in the hierarchy")
    expect("Frames:")
    frames = int(numbers(1)[0])
    expect("Frame")
    expect("Time:")
    frame_time = float(numbers(1)[0])
    width = sum(len(j.channels) for j in joints)
    try:
        values = np.array(tokens[pos:], dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: the motion table holds a value that is not a number") from None
    if values.size != frames * width:
        raise DataError(f"{path}: {values.size} motion values, expected {frames} frames x {width} channels")
    return BvhClip(joints, frame_time, values.reshape(frames, width))


def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    rows = {
        "X": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "Y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "Z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def forward_kinematics(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(F, J, 3)`` and orientations ``(F, J, 3, 3)`` of every joint.

    A joint's local rotation is the product of its rotation channels in file order
    (``Zrotation Xrotation Yrotation`` -> ``Rz @ Rx @ Ry``) acting on column vectors.
    """
    F, J = clip.motion.shape[0], len(clip.joints)
    pos = np.zeros((F, J, 3))
    rot = np.zeros((F, J, 3, 3))
    col = 0
    for j, joint in enumerate(clip.joints):
        local = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
        translation = np.broadcast_to(joint.offset, (F, 3)).copy()
        for ch in joint.channels:
            values = clip.motion[:, col]
            col += 1
            if ch.endswith("position"):
                translation[:, "XYZ".index(ch[0])] = values
            elif ch.endswith("rotation") and ch[0] in "XYZ":
                local = local @ _axis_rotation(ch[0], values)
            else:
                raise DataError(f"unknown BVH channel {ch!r}")
        if joint.parent < 0:
            pos[:, j], rot[:, j] = translation, local
        else:
            parent = rot[:, joint.parent]
            pos[:, j] = pos[:, joint.parent] + np.einsum("fab,fb->fa", parent, translation)
            rot[:, j] = parent @ local
    return pos, rot


# CMU joint names of the two skeleton styles among the clips: (cgspeed BVH, ASF-derived BVH).
_NAMES = {
    "right_hip": ("rThigh", "rfemur"), "right_knee": ("rShin", "rtibia"), "right_ankle": ("rFoot", "rfoot"),
    "left_hip": ("lThigh", "lfemur"), "left_knee": ("lShin", "ltibia"), "left_ankle": ("lFoot", "lfoot"),
    "thorax": ("neck", "upperneck"), "head": ("head", "head"),
    "left_shoulder": ("lShldr", "lhumerus"), "left_elbow": ("lForeArm", "lradius"), "left_wrist": ("lHand", "lwrist"),
    "right_shoulder": ("rShldr", "rhumerus"), "right_elbow": ("rForeArm", "rradius"), "right_wrist": ("rHand", "rwrist"),
}  # fmt: skip
# Millimetres per unit: the cgspeed clips are in centimetres, the ASF-derived one in 0.45 inch.
_MM_PER_UNIT = (10.0, 25.4 / 0.45)


def cmu_h36m17(clip: BvhClip) -> np.ndarray:
    """``(F, 17, 3)`` Human3.6M-17 joints of a CMU clip in world millimetres (Y up).

    Limb joints are the CMU joints of the same name, the hips moved away from each other
    by :data:`HIP_WIDEN` of their distance (Human3.6M's hip joints sit 1.5 times as far
    apart); pelvis = mid-point of the hip joints; thorax = the base of the neck; spine =
    half-way from pelvis to thorax; Human3.6M's "neck/nose" and "head" lie 0.25 and 0.36
    torso lengths (pelvis to thorax) from the thorax towards the CMU head joint (the base
    of the skull), Human3.6M's mean proportions.
    """
    style = 0 if clip.has("rThigh") else 1
    if style == 1 and not clip.has("rfemur"):
        raise DataError("not a CMU skeleton: the BVH has neither 'rThigh' nor 'rfemur'")
    pos, _ = forward_kinematics(clip)
    p = {k: pos[:, clip.index(v[style])] for k, v in _NAMES.items()}
    out = np.zeros((pos.shape[0], 17, 3))
    pelvis = 0.5 * (p["left_hip"] + p["right_hip"])
    for side in ("left_hip", "right_hip"):
        p[side] = pelvis + (1.0 + HIP_WIDEN) * (p[side] - pelvis)
    torso = np.linalg.norm(p["thorax"] - pelvis, axis=-1, keepdims=True)
    up = p["head"] - p["thorax"]
    up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    order = {
        0: pelvis, 1: p["right_hip"], 2: p["right_knee"], 3: p["right_ankle"], 4: p["left_hip"], 5: p["left_knee"],
        6: p["left_ankle"], 7: 0.5 * (pelvis + p["thorax"]), 8: p["thorax"],
        9: p["thorax"] + 0.25 * torso * up, 10: p["thorax"] + 0.36 * torso * up,
        11: p["left_shoulder"], 12: p["left_elbow"], 13: p["left_wrist"],
        14: p["right_shoulder"], 15: p["right_elbow"], 16: p["right_wrist"],
    }  # fmt: skip
    for j, value in order.items():
        out[:, j] = value
    return out * _MM_PER_UNIT[style]


def find_cmu(path: str | os.PathLike | None = None) -> Path:
    """The CMU clip folder: ``path``, else ``$POSELIFT_DATA/cmu_bvh``."""
    folder = data_folder(path, "cmu_bvh", "pass --cmu DIR")
    if not folder.is_dir() or not any(folder.glob("*.bvh")):
        raise DataError(f"{folder.resolve()}: no CMU clips (*.bvh) there")
    return folder


def look_at(center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera rotation (rows: x right, y down, z forward) for a Y-up world."""
    forward = (target - center) / np.linalg.norm(target - center)
    right = np.cross(np.array([0.0, -1.0, 0.0]), forward)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(forward, right), forward])


def _cameras(world: np.ndarray, clip: str, count: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``count`` seeded cameras ``(R, centre, focal)`` that see every joint at >= 1 m depth."""
    rng = np.random.default_rng(zlib.crc32(clip.encode()))
    root = world[:, 0].mean(axis=0)
    floor = world[:, [3, 6], 1].min()
    cams: list[tuple[np.ndarray, np.ndarray, float]] = []
    while len(cams) < count:
        azimuth = rng.uniform(0.0, 2 * np.pi)
        distance = rng.uniform(2500.0, 7000.0)
        centre = np.array([root[0] + distance * np.sin(azimuth), floor + rng.uniform(300.0, 2500.0), root[2] + distance * np.cos(azimuth)])
        R = look_at(centre, root)
        focal = rng.uniform(800.0, 1600.0)
        if ((world - centre) @ R.T)[..., 2].min() >= 1000.0:
            cams.append((R, centre, focal))
    return cams


def _noisy(kp: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Detector-like 2D: box-relative Gaussian noise and one missing joint in some poses."""
    height = kp[..., 1].max(axis=-1) - kp[..., 1].min(axis=-1)  # (M,)
    factor = np.ones(17)
    factor[[3, 6, 13, 16]] = 1.5  # ankles and wrists
    sigma = NOISE_FRACTION * height[:, None, None] * factor[None, :, None]
    out = kp + sigma * rng.standard_normal(kp.shape)
    conf = np.ones(kp.shape[:-1], dtype=np.float32)
    rows = np.nonzero(rng.random(len(kp)) < MISSING_SHARE)[0]
    joints = rng.integers(1, 17, size=len(rows))
    out[rows, joints] = np.nan
    conf[rows, joints] = 0.0
    return out, conf


def load_cmu(
    path: str | os.PathLike | None = None,
    clips: str | list[str] = "test",
    *,
    inputs: str = "gt",
    stride: int = 4,
) -> PoseSet:
    """2D/3D pairs of CMU clips filmed by the seeded virtual cameras (see the module notes).

    ``clips``: ``"test"`` (:data:`TEST_CLIPS`), ``"val"`` (:data:`VALIDATION_CLIPS`), ``"all"``,
    or a list of clip names. ``inputs``: ``"gt"`` or ``"noisy"`` (detector-like; the
    :class:`PoseSet` then carries a ``confidence`` with the missing joints at 0).
    Sequences are named ``"cmu/<clip>.<camera>"``, so results group by clip; every clip is
    sampled at ``120 / stride`` frames per second.
    """
    if inputs not in ("gt", "noisy"):
        raise DataError(f"inputs must be 'gt' or 'noisy', got {inputs!r}")
    if not isinstance(stride, int) or stride < 1:
        raise DataError(f"stride must be a positive integer, got {stride!r}")
    folder = find_cmu(path)
    names = {"test": list(TEST_CLIPS), "val": list(VALIDATION_CLIPS), "all": sorted(p.stem for p in folder.glob("*.bvh"))}
    chosen = names[clips] if isinstance(clips, str) and clips in names else list([clips] if isinstance(clips, str) else clips)
    kp_all, p3_all, seq_all, frame_all, seq_names = [], [], [], [], []
    for clip in chosen:
        file = folder / f"{clip}.bvh"
        if not file.is_file():
            raise DataError(f"{file.resolve()}: no such CMU clip")
        bvh = read_bvh(file)
        step = max(1, round(stride / (120.0 * bvh.frame_time)))  # stride counts 120 fps frames
        world = cmu_h36m17(bvh)[1::step]
        for k, (R, centre, focal) in enumerate(_cameras(world, clip, CAMERAS_PER_CLIP)):
            cam = (world - centre) @ R.T
            kp = focal * cam[..., :2] / cam[..., 2:] + 500.0
            seq_all.append(np.full(len(cam), len(seq_names), np.int32))
            frame_all.append(np.arange(len(cam), dtype=np.int32) * step + 1)
            seq_names.append(f"cmu/{clip}.{k}")
            kp_all.append(kp)
            p3_all.append(cam - cam[:, :1])
    if not kp_all:
        raise DataError("no CMU clips chosen")
    kp2d = np.concatenate(kp_all)
    confidence = None
    if inputs == "noisy":
        kp2d, confidence = _noisy(kp2d, np.random.default_rng(20201))
    return PoseSet(
        kp2d.astype(np.float32), np.concatenate(p3_all).astype(np.float32), np.concatenate(seq_all),
        np.concatenate(frame_all), seq_names, "h36m17", confidence=confidence,
    )
