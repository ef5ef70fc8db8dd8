"""Export pose sequences as BVH motion (Blender, MotionBuilder, game engines).

The BVH skeleton is fixed for the whole sequence: each bone's length is its median over
the frames, and the rest pose (the ``OFFSET`` of each joint) points every bone in its
median direction. Each frame stores the root position and, for every joint, the
rotation that turns its bone from the rest direction to the frame's direction (the
smallest such rotation relative to the parent, so twist stays continuous). A joint with
several children (the pelvis, the thorax) gets one zero-length joint per child, named
``<joint>.<child>``, as the CMU motion-capture BVH files do (``LHipJoint``): every bone
then turns on its own and forward kinematics of the file gives back the poses with the
fixed bone lengths exactly.

Axes in the file: y up, x to the right of the camera, z towards the camera (the usual BVH
convention); camera-frame poses (y down, z away) are turned 180 degrees about x on the
way. Units: centimetres by default. BVH has no way to mark a frame as empty: frames
without a pose (NaN) are filled by linear interpolation between the nearest posed frames
(held at the ends), and :func:`write_bvh` returns their indices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .._args import check_coordinates, check_fps
from .._arrays import to_numpy
from ..errors import ExportError, InvalidArgumentError, OutputExistsError, ShapeError
from .._files import output_file
from ..skeleton import Skeleton, get_skeleton
from ..smooth import fix_bone_lengths

__all__ = ["BvhSkeleton", "build_bvh_skeleton", "fixed_bone_poses", "write_bvh", "ExportError"]

_CAMERA_TO_YUP = np.diag([1.0, -1.0, -1.0])
_UNITS = {"m": 1.0, "cm": 100.0, "mm": 1000.0}



@dataclass(frozen=True)
class BvhSkeleton:
    """The BVH joint tree built from a :class:`Skeleton`.

    ``names[k]``, ``parents[k]`` (``-1`` for the root) and ``source[k]``: the skeleton joint
    whose position BVH joint ``k`` sits at (``-1``: the root point of a layout whose root
    is the mean of several joints). ``bone_child[k]``: the skeleton joint (or ``None``) whose
    direction joint ``k``'s rotation sets.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    source: tuple[int, ...]
    bone_child: tuple[int | None, ...]


def build_bvh_skeleton(skeleton: str | Skeleton) -> BvhSkeleton:
    """The BVH joint tree for ``skeleton`` (extra zero-length joints at branchings)."""
    skel = get_skeleton(skeleton)
    children: dict[int, list[int]] = {j: [] for j in range(-1, skel.num_joints)}
    if skel.root_is_joint:
        root = skel.root[0]
        for j, p in enumerate(skel.parents):
            if j != root:
                children[root if p == -1 else p].append(j)
    else:
        root = -1
        for j, p in enumerate(skel.parents):
            children[p].append(j)
    names: list[str] = []
    parents: list[int] = []
    source: list[int] = []
    bone_child: list[int | None] = []

    def add(joint: int, parent: int) -> None:
        k = len(names)
        names.append(skel.joints[joint] if joint >= 0 else "root")
        parents.append(parent)
        source.append(joint)
        kids = children[joint]
        bone_child.append(kids[0] if len(kids) == 1 else None)
        if len(kids) == 1:
            add(kids[0], k)
        elif len(kids) > 1:
            for kid in kids:
                b = len(names)
                names.append(f"{names[k]}.{skel.joints[kid]}")
                parents.append(k)
                source.append(joint)
                bone_child.append(kid)
                add(kid, b)

    add(root, -1)
    return BvhSkeleton(tuple(names), tuple(parents), tuple(source), tuple(bone_child))


def _fill_gaps(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate NaN frames linearly between posed frames; returns (poses, gap indices)."""
    valid = np.isfinite(poses).all(axis=(1, 2))
    if not valid.any():
        raise ExportError(
            "no frame holds a complete pose with its joints apart (all NaN, or every joint at one point): "
            "there is nothing to export."
        )
    gaps = np.flatnonzero(~valid)
    if gaps.size:
        t = np.arange(len(poses))
        flat = poses.reshape(len(poses), -1).copy()
        for c in range(flat.shape[1]):
            flat[~valid, c] = np.interp(t[~valid], t[valid], flat[valid, c])
        poses = flat.reshape(poses.shape)
    return poses, gaps


def fixed_bone_poses(poses: np.ndarray, skeleton: str | Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Poses rebuilt with each bone at its median length over the frames, directions kept.

    Args:
        poses: ``(frames, N, 3)`` finite poses.

    Returns:
        ``(frames, N, 3)`` poses with fixed bone lengths (:func:`poselift.smooth.fix_bone_lengths`;
        the root stays where it was) and the ``(N,)`` length of the bone ending at each
        joint (0 for the root joint).
    """
    skel = get_skeleton(skeleton)
    fixed = fix_bone_lengths(poses, skel)
    pts = skel.with_root_point(fixed)
    lengths = np.zeros(skel.num_joints)
    for p, j in skel.bone_tree:
        lengths[j] = float(np.median(np.linalg.norm(pts[:, j] - pts[:, p], axis=-1)))
    return fixed, lengths


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(F, 3, 3)`` smallest rotations taking unit vectors ``a`` to unit vectors ``b`` (``(F, 3)``)."""
    v = np.cross(a, b)
    c = np.einsum("fi,fi->f", a, b)
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    R = np.eye(3) + K + K @ K * (1.0 / np.maximum(1.0 + c, 1e-12))[:, None, None]
    opposite = c < -1.0 + 1e-9
    if opposite.any():  # half turn about any axis orthogonal to a
        axis = np.cross(a[opposite], np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[small] = np.cross(a[opposite][small], np.array([0.0, 1.0, 0.0]))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        R[opposite] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return R


def _kabsch(rest: np.ndarray, current: np.ndarray) -> np.ndarray:
    """``(F, 3, 3)`` rotations best taking the rest vectors ``(K, 3)`` to ``current`` ``(F, K, 3)``."""
    H = np.einsum("ki,fkj->fij", rest, current)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("fji,fkj->fik", Vt, U)))
    D = np.zeros((len(current), 3, 3))
    D[:, 0, 0] = 1.0
    D[:, 1, 1] = 1.0
    D[:, 2, 2] = d
    return np.einsum("fji,fjk,flk->fil", Vt, D, U)


def _euler_zxy(R: np.ndarray) -> np.ndarray:
    """``(F, 3, 3)`` -> ``(F, 3)`` degrees ``(z, x, y)`` with ``R = Rz(z) Rx(x) Ry(y)``."""
    x = np.arcsin(np.clip(R[:, 2, 1], -1.0, 1.0))
    y = np.arctan2(-R[:, 2, 0], R[:, 2, 2])
    z = np.arctan2(-R[:, 0, 1], R[:, 1, 1])
    lock = np.abs(R[:, 2, 1]) > 1.0 - 1e-9  # gimbal lock: put the whole turn into z
    if lock.any():
        y[lock] = 0.0
        z[lock] = np.arctan2(R[lock, 1, 0], R[lock, 0, 0])
    return np.degrees(np.stack([z, x, y], axis=-1))


def _unwrap(deg: np.ndarray) -> np.ndarray:
    """Remove 360-degree jumps between frames (keeps curves smooth in animation editors)."""
    return np.degrees(np.unwrap(np.radians(deg), axis=0))


def _motion(P: np.ndarray, skel: Skeleton, tree: BvhSkeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rest offsets ``(K, 3)``, root positions ``(F, 3)`` and local rotations ``(F, K, 3, 3)``."""
    F = P.shape[0]
    pts = skel.with_root_point(P)  # root point at index N
    K = len(tree.names)
    src = [s if s >= 0 else skel.num_joints for s in tree.source]
    # rest direction of each bone: its normalised median direction over the frames
    rest_dir: dict[int, np.ndarray] = {}
    cur_dir: dict[int, np.ndarray] = {}  # NaN in frames where the bone has no length (no direction)
    offsets = np.zeros((K, 3))
    for k in range(K):
        child = tree.bone_child[k]
        if child is None:
            continue
        v = pts[:, child] - pts[:, src[k]]
        norm = np.linalg.norm(v, axis=-1, keepdims=True)
        d = np.where(norm > 1e-9, v / np.maximum(norm, 1e-12), np.nan)
        has = np.isfinite(d).all(axis=-1)
        m = np.median(d[has], axis=0) if has.any() else np.array([0.0, 1.0, 0.0])  # zero length throughout: any
        if np.linalg.norm(m) < 1e-6:
            m = d[has][0]
        rest_dir[k], cur_dir[k] = m / np.linalg.norm(m), d
    child_of = {k: [c for c in range(K) if tree.parents[c] == k] for k in range(K)}
    for k in range(K):
        for c in child_of[k]:
            if tree.bone_child[k] is not None:  # c sits at the end of k's bone
                length = float(np.median(np.linalg.norm(pts[:, src[c]] - pts[:, src[k]], axis=-1)))
                offsets[c] = length * rest_dir[k]
    glob = np.zeros((F, K, 3, 3))
    local = np.zeros((F, K, 3, 3))
    for k in range(K):  # parents come before children in tree order
        parent_R = glob[:, tree.parents[k]] if tree.parents[k] >= 0 else np.broadcast_to(np.eye(3), (F, 3, 3))
        if tree.bone_child[k] is not None:
            a = np.einsum("fij,j->fi", parent_R, rest_dir[k])
            glob[:, k] = _rotation_between(a, np.where(np.isfinite(cur_dir[k]), cur_dir[k], a)) @ parent_R
        elif child_of[k]:  # a branching joint: the best common turn of its bones
            kids = child_of[k]
            rest = np.stack([rest_dir[c] for c in kids])
            held = np.einsum("fij,kj->fki", parent_R, rest)  # a bone without length turns with the parent
            cur = np.stack([cur_dir[c] for c in kids], axis=1)
            glob[:, k] = _kabsch(rest, np.where(np.isfinite(cur), cur, held))
        else:
            glob[:, k] = parent_R
        local[:, k] = np.einsum("fji,fjk->fik", parent_R, glob[:, k])
    root_pos = pts[:, src[0]]
    return offsets, root_pos, local


def _hierarchy_text(tree: BvhSkeleton, offsets: np.ndarray, end_sites: dict[int, np.ndarray], scale: float) -> list[str]:
    lines = ["HIERARCHY"]
    K = len(tree.names)
    child_of = {k: [c for c in range(K) if tree.parents[c] == k] for k in range(K)}

    def fmt(v: np.ndarray) -> str:
        return " ".join(f"{x * scale:.6f}" for x in v)

    def emit(k: int, depth: int) -> None:
        pad = "\t" * depth
        if k == 0:
            lines.append(f"ROOT {tree.names[k]}")
            lines.append("{")
            lines.append(f"\tOFFSET {fmt(np.zeros(3))}")
            lines.append("\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}JOINT {tree.names[k]}")
            lines.append(pad + "{")
            lines.append(f"{pad}\tOFFSET {fmt(offsets[k])}")
            lines.append(f"{pad}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        for c in child_of[k]:
            emit(c, depth + 1)
        if not child_of[k]:
            lines.append(f"{pad}\tEnd Site")
            lines.append(pad + "\t{")
            lines.append(f"{pad}\t\tOFFSET {fmt(end_sites[k])}")
            lines.append(pad + "\t}")
        lines.append(pad + "}")

    emit(0, 0)
    return lines


def write_bvh(
    path: str | os.PathLike,
    poses: np.ndarray,
    skeleton: str | Skeleton,
    fps: float,
    *,
    axes: Literal["camera", "yup"] = "camera",
    units: Literal["cm", "m", "mm"] = "cm",
    overwrite: bool = True,
) -> tuple[Path, np.ndarray]:
    """Write ``(frames, N, 3)`` poses (metres) as a BVH file.

    Args:
        path: output ``.bvh`` file; written to a temporary file first and renamed, so a
            failed export leaves nothing behind.
        poses: root-relative or camera-space poses in metres; NaN frames are filled by
            interpolation (see the module notes).
        skeleton: their joint layout.
        fps: frame rate (``Frame Time`` = 1 / fps).
        axes: ``"camera"`` for poselift's camera frame (x right, y down, z away) or
            ``"yup"`` for poses already in a y-up frame (:func:`poselift.camera.align_to_world`).
        units: length unit written to the file.
        overwrite: replace an existing ``path``; if False, :class:`OutputExistsError` when
            ``path`` exists when the file is complete (another process wrote it meanwhile).

    Returns:
        The path written and the indices of the frames that were filled in.
    """
    skel = get_skeleton(skeleton)
    P = to_numpy(poses, "poses").astype(np.float64)  # real numbers only: no None, strings or ragged lists
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3) or P.shape[0] == 0:
        raise ShapeError(f"poses must have shape (frames, {skel.num_joints}, 3) with frames >= 1; got {P.shape}.")
    try:
        check_coordinates(P, "poses")  # 1e200 m: bone lengths would overflow to NaN
        fps = check_fps(fps)  # a Frame Time neither 0 nor 300 digits long
    except InvalidArgumentError as e:
        raise ExportError(str(e)) from None
    if axes not in ("camera", "yup"):
        raise ExportError(f"axes must be 'camera' or 'yup'; got {axes!r}.")
    if units not in _UNITS:
        raise ExportError(f"units must be one of {sorted(_UNITS)}; got {units!r}.")
    with np.errstate(invalid="ignore"):  # NaN frames stay NaN
        spread = np.linalg.norm(P - P.mean(axis=1, keepdims=True), axis=-1).max(axis=1)
    P = np.where((spread > 1e-6)[:, None, None], P, np.nan)  # every joint at one point: no bone has a direction
    P, gaps = _fill_gaps(P)
    if axes == "camera":
        P = P @ _CAMERA_TO_YUP.T
    P = fix_bone_lengths(P, skel)
    tree = build_bvh_skeleton(skel)
    offsets, root_pos, local = _motion(P, skel, tree)
    K = len(tree.names)
    scale = _UNITS[units]
    end_sites = {}
    for k in range(K):
        if not any(tree.parents[c] == k for c in range(K)):
            parent_offset = offsets[k] if np.linalg.norm(offsets[k]) > 1e-9 else np.array([0.0, 0.1, 0.0])
            end_sites[k] = 0.25 * parent_offset
    angles = np.stack([_unwrap(_euler_zxy(local[:, k])) for k in range(K)], axis=1)  # (F, K, 3)
    lines = _hierarchy_text(tree, offsets, end_sites, scale)
    lines += ["MOTION", f"Frames: {len(P)}", f"Frame Time: {1.0 / fps:.8f}"]
    for f in range(len(P)):
        values = np.concatenate([root_pos[f] * scale, angles[f].reshape(-1)])
        lines.append(" ".join(f"{v:.6f}" for v in values))
    path = Path(path)
    try:
        with output_file(path, overwrite) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OutputExistsError:
        raise
    except OSError as e:
        raise ExportError(f"cannot write the BVH file {path}: {e.strerror or e}. Check the folder exists and is writable.") from e
    return path, gaps
