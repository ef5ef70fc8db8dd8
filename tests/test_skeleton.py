"""Joint layouts: every built-in layout is a valid tree with named left/right pairs."""

from __future__ import annotations

import numpy as np
import pytest

from poselift import SKELETONS, PoseliftError, Skeleton, get_skeleton
from poselift.skeleton import guess_layouts

LAYOUTS = sorted(SKELETONS)


def test_builtin_layout_names():
    assert set(SKELETONS) == {"h36m17", "lsp14", "openpose_body25", "openpose_coco18", "coco17", "mpii16", "mediapipe33"}
    for name, skel in SKELETONS.items():
        assert skel.name == name


def test_h36m17_joint_order_is_the_documented_one():
    assert get_skeleton("h36m17").joints == (
        "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "spine", "thorax", "neck", "head_top", "left_shoulder", "left_elbow", "left_wrist",
        "right_shoulder", "right_elbow", "right_wrist",
    )
    skel = get_skeleton("h36m17")
    assert skel.root == (0,) and skel.root_is_joint
    assert skel.head == skel.index("head_top")


def test_lsp14_joint_order_and_mid_hip_root():
    skel = get_skeleton("lsp14")
    assert skel.joints == (
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
        "left_wrist", "neck", "head_top",
    )
    assert not skel.root_is_joint
    assert sorted(skel.root) == sorted([skel.index("left_hip"), skel.index("right_hip")])


@pytest.mark.parametrize("name", LAYOUTS)
def test_layout_is_a_tree(name):
    skel = SKELETONS[name]
    n = skel.num_joints
    assert len(skel.joints) == len(set(skel.joints)) == len(skel.parents) == n
    for start in range(n):  # walking up the parents reaches the root within n steps
        j, steps = start, 0
        while j != -1:
            j = skel.parents[j]
            steps += 1
            assert steps <= n, f"{name}: cycle through joint {skel.joints[start]}"
    assert skel.bones == tuple((p, i) for i, p in enumerate(skel.parents) if p >= 0)
    assert all(0 <= i < n for i in (*skel.root, skel.head))


@pytest.mark.parametrize("name", LAYOUTS)
def test_bone_tree_lists_every_non_root_joint_once_after_its_parent(name):
    """``Skeleton.bone_tree``: one ``(parent point, joint)`` per joint but a one-joint root,
    parents before children; point ``N`` (the root point) parents the joints hanging from a
    root that is the mean of several joints."""
    skel = SKELETONS[name]
    n = skel.num_joints
    tree = skel.bone_tree
    seen = {skel.root[0]} if skel.root_is_joint else {n}
    for parent, joint in tree:
        assert parent in seen and joint not in seen
        expected = skel.parents[joint] if skel.parents[joint] != -1 else (skel.root[0] if skel.root_is_joint else n)
        assert parent == expected
        seen.add(joint)
    assert len(tree) == n - (1 if skel.root_is_joint else 0)


def test_root_point_is_the_root_joint_or_the_mean_of_the_root_joints():
    rng = np.random.default_rng(0)
    for name in ("h36m17", "lsp14"):
        skel = SKELETONS[name]
        pts = rng.normal(size=(4, 3, skel.num_joints, 2))
        expected = pts[..., list(skel.root), :].mean(axis=-2)
        np.testing.assert_allclose(skel.root_point(pts), expected, rtol=0, atol=1e-12)
        assert skel.root_point(pts, keepdims=True).shape == (4, 3, 1, 2)
        np.testing.assert_allclose(skel.with_root_point(pts)[..., -1, :], expected, rtol=0, atol=1e-12)
    assert len(SKELETONS["lsp14"].root) == 2  # so the mean of several root joints is exercised


@pytest.mark.parametrize("name", LAYOUTS)
def test_pairs_are_left_right_twins(name):
    skel = SKELETONS[name]
    paired = set()
    for left, right in skel.pairs:
        assert skel.joints[left].startswith("left_"), skel.joints[left]
        assert skel.joints[right] == "right_" + skel.joints[left][len("left_"):]
        paired.update((left, right))
    sided = {i for i, j in enumerate(skel.joints) if j.startswith(("left_", "right_"))}
    assert paired == sided, f"{name}: every left_/right_ joint belongs to exactly one pair"
    assert len(skel.pairs) > 0


@pytest.mark.parametrize("name", LAYOUTS)
def test_flip_permutation_is_an_involution_that_swaps_sides(name):
    skel = SKELETONS[name]
    perm = skel.flip_permutation
    assert sorted(perm) == list(range(skel.num_joints))
    assert all(perm[perm[i]] == i for i in range(skel.num_joints))
    assert perm != tuple(range(skel.num_joints))
    for i, j in enumerate(perm):
        name_i = skel.joints[i]
        if name_i.startswith("left_"):
            assert skel.joints[j] == "right_" + name_i[5:]
        elif name_i.startswith("right_"):
            assert skel.joints[j] == "left_" + name_i[6:]
        else:
            assert j == i


@pytest.mark.parametrize("name", ["h36m17", "lsp14"])
def test_height_chains_walk_along_bones_from_head_to_each_foot(name):
    skel = SKELETONS[name]
    assert len(skel.height_chains) == 2
    ends = set()
    for chain in skel.height_chains:
        assert chain[0] == skel.head
        ends.add(skel.joints[chain[-1]])
        for a, b in zip(chain[:-1], chain[1:]):
            # -1 stands for the root point; joints hanging from it have parent -1
            linked = (a >= 0 and skel.parents[a] == b) or (b >= 0 and skel.parents[b] == a)
            assert linked, f"{name}: {a} and {b} are not joined by a bone"
    assert ends == {"left_ankle", "right_ankle"}


def test_get_skeleton_passes_a_skeleton_through_and_names_known_layouts():
    skel = get_skeleton("coco17")
    assert get_skeleton(skel) is skel
    with pytest.raises(PoseliftError, match=r"unknown joint layout 'body_99'.*'h36m17'"):
        get_skeleton("body_99")


def test_index_by_name_and_unknown_joint():
    skel = get_skeleton("h36m17")
    assert skel.index("left_wrist") == 13
    with pytest.raises(PoseliftError, match=r"no joint 'nose'.*pelvis"):
        skel.index("nose")


def test_guess_layouts_by_joint_count():
    assert guess_layouts(25) == ["openpose_body25"]
    assert set(guess_layouts(17)) == {"h36m17", "coco17"}
    assert guess_layouts(3) == []


def test_invalid_skeleton_is_rejected():
    with pytest.raises(ValueError, match="2 joints but 1 parents"):
        Skeleton("bad", ("a", "b"), (-1,), (), (0,), 0)
    with pytest.raises(ValueError, match="parent index out of range"):
        Skeleton("bad", ("a", "b"), (-1, 5), (), (0,), 0)
    with pytest.raises(ValueError, match="joint index 7 out of range"):
        Skeleton("bad", ("a", "b"), (-1, 0), (), (0,), 7)


def test_repr_names_layout_and_size():
    assert repr(get_skeleton("mpii16")) == "Skeleton('mpii16', 16 joints)"
