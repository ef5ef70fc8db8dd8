"""Joint layouts as data.

A :class:`Skeleton` names its joints, gives the parent of each (``-1``: attached to
the root), the left/right pairs, how the root is found, and which joint is the head.
Layouts are looked up by name with :func:`get_skeleton`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SkeletonError, UnknownLayoutError

__all__ = ["Skeleton", "SKELETONS", "BONE_RATIOS", "LAYOUT_ALIASES", "get_skeleton", "canonical_layout", "guess_layouts"]


@dataclass(frozen=True)
class Skeleton:
    """A named joint layout.

    Attributes:
        name: layout name, e.g. ``"h36m17"``.
        joints: joint names in array order.
        parents: index of each joint's parent; ``-1`` means the joint hangs from the
            root (the root joint itself, or the virtual root of a layout without one).
        pairs: ``(left, right)`` index pairs of mirror-image joints.
        root: indices whose mean is the root (one joint, or e.g. both hips).
        head: index of the head joint (head top where the layout has one).
        height_chains: paths from the head to each foot used to measure body height;
            ``-1`` in a chain stands for the root point.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    root: tuple[int, ...]
    head: int
    height_chains: tuple[tuple[int, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.joints)
        if len(self.parents) != n:
            raise SkeletonError(f"{self.name}: {n} joints but {len(self.parents)} parents")
        if any(not -1 <= p < n for p in self.parents):
            raise SkeletonError(f"{self.name}: parent index out of range")
        for idx in (*self.root, self.head, *(i for p in self.pairs for i in p)):
            if not 0 <= idx < n:
                raise SkeletonError(f"{self.name}: joint index {idx} out of range")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root_is_joint(self) -> bool:
        """True when the root is one joint of the layout (e.g. the pelvis)."""
        return len(self.root) == 1

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs between real joints."""
        return tuple((p, i) for i, p in enumerate(self.parents) if p >= 0)

    @property
    def bone_tree(self) -> tuple[tuple[int, int], ...]:
        """``(parent point, joint)`` for every bone, parents first; point ``N`` is the root point
        (:meth:`with_root_point`).

        For a layout whose root is one joint, that joint has no entry; for a layout whose root
        is the mean of several joints (``lsp14``: the hips), joints hanging from the root hang
        from point ``N``.
        """
        n = self.num_joints
        root = self.root[0] if self.root_is_joint else None
        parent = {j: (n if root is None else root) if p == -1 else p for j, p in enumerate(self.parents) if j != root}
        done: set[int] = {n} if root is None else {root}
        order: list[tuple[int, int]] = []
        while len(order) < len(parent):
            for j, p in parent.items():
                if j not in done and p in done:
                    order.append((p, j))
                    done.add(j)
        return tuple(order)

    @property
    def flip_permutation(self) -> tuple[int, ...]:
        """Index permutation that swaps every left joint with its right twin."""
        perm = list(range(self.num_joints))
        for left, right in self.pairs:
            perm[left], perm[right] = right, left
        return tuple(perm)

    def root_point(self, points: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
        """The root point of ``(..., N, D)`` points: the root joint, or the mean of the root
        joints (``lsp14``: the hips); ``(..., D)``, or ``(..., 1, D)`` with ``keepdims``. NaN in
        a root joint gives NaN. (:func:`poselift.geometry.root_point` is the same in torch.)"""
        return np.asarray(points)[..., list(self.root), :].mean(axis=-2, keepdims=keepdims)

    def with_root_point(self, points: np.ndarray) -> np.ndarray:
        """``(..., N, D)`` points with the root point (:meth:`root_point`) appended as joint
        ``N``, the point that chains and bone trees address as ``-1`` or ``N``."""
        p = np.asarray(points)
        return np.concatenate([p, self.root_point(p, keepdims=True)], axis=-2)

    def index(self, joint: str) -> int:
        """Index of a joint by name."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise SkeletonError(
                f"layout {self.name!r} has no joint {joint!r}; its joints are {list(self.joints)}"
            ) from None

    def __repr__(self) -> str:
        return f"Skeleton({self.name!r}, {self.num_joints} joints)"


def _pairs(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Pair every ``left_*`` joint with its ``right_*`` twin."""
    out = []
    for i, name in enumerate(joints):
        if name.startswith("left_"):
            out.append((i, joints.index("right_" + name[len("left_"):])))
    return tuple(out)


def _build(name, joints, parents, root, head, height_chains=()) -> Skeleton:
    joints = tuple(joints)
    index = {j: i for i, j in enumerate(joints)}
    parent_idx = tuple(-1 if p is None else index[p] for p in parents)
    chains = tuple(tuple(-1 if j is None else index[j] for j in c) for c in height_chains)
    return Skeleton(
        name=name,
        joints=joints,
        parents=parent_idx,
        pairs=_pairs(joints),
        root=tuple(index[r] for r in root),
        head=index[head],
        height_chains=chains,
    )


H36M17 = _build(
    "h36m17",
    ["pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
     "left_ankle", "spine", "thorax", "neck", "head_top", "left_shoulder", "left_elbow",
     "left_wrist", "right_shoulder", "right_elbow", "right_wrist"],
    [None, "pelvis", "right_hip", "right_knee", "pelvis", "left_hip", "left_knee",
     "pelvis", "spine", "thorax", "neck", "thorax", "left_shoulder", "left_elbow",
     "thorax", "right_shoulder", "right_elbow"],
    root=["pelvis"],
    head="head_top",
    height_chains=[
        ["head_top", "neck", "thorax", "spine", "pelvis", "left_hip", "left_knee", "left_ankle"],
        ["head_top", "neck", "thorax", "spine", "pelvis", "right_hip", "right_knee", "right_ankle"],
    ],
)

#: Bone lengths as fractions of body height, by child joint, for kinematic output heads
#: (Kundu et al. 2020): a prior, not data. Limb segments from the anthropometric table of
#: Drillis and Contini (1966) as given in Winter, "Biomechanics and Motor Control of Human
#: Movement": thigh 0.245, shank 0.246, upper arm 0.186, forearm 0.146, hip width 0.191,
#: shoulder width 0.259 (halved for the pelvis-hip and thorax-shoulder bones); the trunk
#: (pelvis to shoulder line, 0.288) split in two; thorax to nose 0.08, nose to head top 0.10.
#: Left and right share every value, so outputs are symmetric by construction.
BONE_RATIOS: dict[str, dict[str, float]] = {
    "h36m17": {
        "right_hip": 0.0955, "left_hip": 0.0955,
        "right_knee": 0.245, "left_knee": 0.245,
        "right_ankle": 0.246, "left_ankle": 0.246,
        "spine": 0.144, "thorax": 0.144, "neck": 0.08, "head_top": 0.10,
        "right_shoulder": 0.1295, "left_shoulder": 0.1295,
        "right_elbow": 0.186, "left_elbow": 0.186,
        "right_wrist": 0.146, "left_wrist": 0.146,
    },
}

# The 14 joints of Chen et al. (2019), in the LSP order; root = mid-hip.
LSP14 = _build(
    "lsp14",
    ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
     "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
     "left_wrist", "neck", "head_top"],
    ["right_knee", "right_hip", None, None, "left_hip", "left_knee",
     "right_elbow", "right_shoulder", "neck", "neck", "left_shoulder",
     "left_elbow", None, "neck"],
    root=["left_hip", "right_hip"],
    head="head_top",
    height_chains=[
        ["head_top", "neck", None, "left_hip", "left_knee", "left_ankle"],
        ["head_top", "neck", None, "right_hip", "right_knee", "right_ankle"],
    ],
)

OPENPOSE_BODY25 = _build(
    "openpose_body25",
    ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
     "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
     "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
     "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
     "right_small_toe", "right_heel"],
    ["neck", "mid_hip", "neck", "right_shoulder", "right_elbow", "neck", "left_shoulder",
     "left_elbow", None, "mid_hip", "right_hip", "right_knee", "mid_hip", "left_hip",
     "left_knee", "nose", "nose", "right_eye", "left_eye", "left_ankle", "left_big_toe",
     "left_ankle", "right_ankle", "right_big_toe", "right_ankle"],
    root=["mid_hip"],
    head="nose",
)

OPENPOSE_COCO18 = _build(
    "openpose_coco18",
    ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
     "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
     "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear"],
    ["neck", None, "neck", "right_shoulder", "right_elbow", "neck", "left_shoulder",
     "left_elbow", None, "right_hip", "right_knee", None, "left_hip", "left_knee",
     "nose", "nose", "right_eye", "left_eye"],
    root=["left_hip", "right_hip"],
    head="nose",
)

COCO17 = _build(
    "coco17",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
     "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"],
    [None, "nose", "nose", "left_eye", "right_eye", None, None, "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", None, None, "left_hip", "right_hip",
     "left_knee", "right_knee"],
    root=["left_hip", "right_hip"],
    head="nose",
)

MPII16 = _build(
    "mpii16",
    ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
     "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
     "right_shoulder", "left_shoulder", "left_elbow", "left_wrist"],
    ["right_knee", "right_hip", "pelvis", "pelvis", "left_hip", "left_knee", None,
     "pelvis", "thorax", "upper_neck", "right_elbow", "right_shoulder", "thorax",
     "thorax", "left_shoulder", "left_elbow"],
    root=["pelvis"],
    head="head_top",
)

# MediaPipe Pose (BlazePose) landmarks in their index order; MediaPipe's MOUTH_LEFT and
# MOUTH_RIGHT are named left_mouth and right_mouth here so every pair reads left_/right_.
MEDIAPIPE33 = _build(
    "mediapipe33",
    ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "left_mouth", "right_mouth", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
     "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
     "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
     "right_heel", "left_foot_index", "right_foot_index"],
    [None, "nose", "left_eye_inner", "left_eye", "nose", "right_eye_inner", "right_eye",
     "left_eye_outer", "right_eye_outer", "nose", "nose", None, None, "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_wrist",
     "right_wrist", "left_wrist", "right_wrist", None, None, "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_ankle", "right_ankle"],
    root=["left_hip", "right_hip"],
    head="nose",
)

#: Every built-in layout by name.
SKELETONS: dict[str, Skeleton] = {
    s.name: s for s in (H36M17, LSP14, OPENPOSE_BODY25, OPENPOSE_COCO18, COCO17, MPII16, MEDIAPIPE33)
}


def get_skeleton(layout: str | Skeleton) -> Skeleton:
    """Look a layout up by name (a :class:`Skeleton` passes through)."""
    if isinstance(layout, Skeleton):
        return layout
    try:
        return SKELETONS[layout]
    except KeyError:
        raise UnknownLayoutError(
            f"unknown joint layout {layout!r}; built-in layouts are {sorted(SKELETONS)}"
        ) from None


#: Short names accepted wherever a layout name is expected.
LAYOUT_ALIASES: dict[str, str] = {
    "body25": "openpose_body25",
    "coco18": "openpose_coco18",
    "mediapipe": "mediapipe33",
}


def canonical_layout(layout: str) -> str:
    """The built-in layout name for ``layout`` or one of its aliases (``"body25"``...)."""
    name = LAYOUT_ALIASES.get(layout, layout)
    return get_skeleton(name).name


def guess_layouts(num_joints: int) -> list[str]:
    """Names of the built-in layouts with this many joints."""
    return [name for name, s in SKELETONS.items() if s.num_joints == num_joints]


#: What to do with keypoints of each built-in layout before a lifter of another layout takes them.
ADAPT_HINTS: dict[str, str] = {
    "openpose_body25": "looks like OpenPose BODY_25: call adapt_openpose(keypoints, layout='body25') first",
    "openpose_coco18": "looks like OpenPose COCO-18: call adapt_openpose(keypoints, layout='coco18') first",
    "coco17": "looks like COCO-17: call adapt_coco17(keypoints) first",
    "mpii16": "looks like MPII-16: call adapt_mpii16(keypoints) first",
    "mediapipe33": "looks like MediaPipe Pose (33 landmarks): call adapt_layout(keypoints, 'mediapipe33') first",
    "h36m17": "looks like Human3.6M-17: load a 17-joint model, e.g. Lifter.from_pretrained('poselift/h36m-17')",
    "lsp14": "looks like the 14-joint LSP layout: load a 14-joint model, e.g. Lifter.from_pretrained('poselift/h36m-14')",
}


def adapt_hint(num_joints: int) -> str:
    """What to do with keypoints of ``num_joints`` joints (the first built-in layout of that size), or ``""``."""
    hints = [ADAPT_HINTS[name] for name in guess_layouts(num_joints) if name in ADAPT_HINTS]
    return hints[0] if hints else ""


#: Joints one layout takes from another under another name: ``{(target, source): {target joint:
#: source joint}}``. The lsp14 lifters are trained on Human3.6M, whose thorax stands for the
#: lsp14 neck (as in Chen et al.).
SAME_JOINTS: dict[tuple[str, str], dict[str, str]] = {("lsp14", "h36m17"): {"neck": "thorax"}}


def joint_indices(target: str | Skeleton, source: str | Skeleton) -> tuple[int, ...]:
    """For each joint of ``target``, its index in ``source``: by name, or as :data:`SAME_JOINTS` says.

    >>> joint_indices("lsp14", "h36m17")[:3]   # right ankle, knee, hip
    (3, 2, 1)
    """
    tgt, src = get_skeleton(target), get_skeleton(source)
    renames = SAME_JOINTS.get((tgt.name, src.name), {})
    return tuple(src.index(renames.get(j, j)) for j in tgt.joints)
