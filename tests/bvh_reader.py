"""A minimal BVH reader with its own forward kinematics, independent of poselift.export.

Used by the tests and by ``benchmarks/bench_video.py`` to check exported files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

def _axis_rotation(axis: str, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    if axis == "X":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "Y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def read_bvh(path: Path) -> tuple[list[str], np.ndarray, float]:
    """Joint names, world positions ``(frames, joints, 3)`` by forward kinematics, frame time.

    Written from the BVH format description, sharing no code with poselift: channels are
    applied in the order they are listed, rotations compose as ``R = R_1 R_2 R_3``.
    """
    tokens = path.read_text().split()
    pos = 0
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    while tokens[pos] != "MOTION":
        tok = tokens[pos]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[pos + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append([])
            pos += 2
        elif tok == "End":  # End Site: skip its block
            depth = 0
            pos += 2
            while True:
                if tokens[pos] == "{":
                    depth += 1
                elif tokens[pos] == "}":
                    depth -= 1
                    if depth == 0:
                        pos += 1
                        break
                pos += 1
        elif tok == "{":
            stack.append(len(names) - 1)
            pos += 1
        elif tok == "}":
            stack.pop()
            pos += 1
        elif tok == "OFFSET":
            offsets[stack[-1]] = np.array([float(v) for v in tokens[pos + 1 : pos + 4]])
            pos += 4
        elif tok == "CHANNELS":
            n = int(tokens[pos + 1])
            channels[stack[-1]] = tokens[pos + 2 : pos + 2 + n]
            pos += 2 + n
        else:
            pos += 1
    n_frames = int(tokens[pos + 2])
    frame_time = float(tokens[pos + 5])
    values = np.array([float(v) for v in tokens[pos + 6 :]]).reshape(n_frames, -1)
    out = np.zeros((n_frames, len(names), 3))
    for f in range(n_frames):
        col = 0
        glob_R, glob_p = [], []
        for j in range(len(names)):
            R = np.eye(3)
            t = offsets[j].copy()
            for ch in channels[j]:
                v = values[f, col]
                col += 1
                if ch.endswith("position"):
                    t["XYZ".index(ch[0])] = v
                else:
                    R = R @ _axis_rotation(ch[0], v)
            if parents[j] < 0:
                glob_R.append(R)
                glob_p.append(t)
            else:
                p = parents[j]
                glob_p.append(glob_p[p] + glob_R[p] @ t)
                glob_R.append(glob_R[p] @ R)
            out[f, j] = glob_p[j]
    return names, out, frame_time


