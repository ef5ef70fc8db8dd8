"""The README stays true: its quickstart runs verbatim, its tables match the code."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from poselift import SKELETONS, get_skeleton
from poselift import errors as errors_module

README = REPO_ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="README.md not found next to tests/")


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def _code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, flags=re.M | re.S)


def _table_rows(section: str, first_cell: str) -> list[list[str]]:
    rows, inside = [], False
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == first_cell:
                inside = True
                continue
            if inside and not set(cells[0]) <= {"-", ""}:
                rows.append(cells)
        elif inside:
            break
    return rows


# What an extra must bring for a README block that names it (``pip install ".[extra]"``).
_EXTRA_MODULES = {"torch": ["torch"], "onnx": ["torch", "onnx"], "train": ["torch", "yaml"],
                  "viz": ["matplotlib"], "video": ["mediapipe", "cv2"]}

_DRIVER = """
import json, sys, traceback
blocks = json.loads(open(sys.argv[1]).read())
namespace = {"__name__": "__main__"}
for i, block in enumerate(blocks):
    if block["skip"]:
        print(f"### block {i}: skipped ({block['skip']})", flush=True)
        continue
    print(f"### block {i}", flush=True)
    try:
        exec(compile(block["code"], f"README block {i}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"README block {i} failed:\\n{block['code']}", file=sys.stderr)
        sys.exit(1)
"""


def _needed_extras(block: str) -> set[str]:
    """The extras a block names in a ``pip install ".[extra,...]"`` comment."""
    return {e for group in re.findall(r'pip install "\.\[([\w,]+)\]"', block) for e in group.split(",")}


def test_every_python_block_runs_verbatim(tmp_path, shared_data_or_none):
    """Every ```python block of the README, verbatim, in order, in one interpreter, in an empty folder.

    A block that needs an extra says so (``pip install ".[torch]"`` in a comment). CI installs the
    dev extra, which brings every extra but ``video``: only blocks needing MediaPipe
    (``.[video]``) may skip, when MediaPipe is not installed or when the shared street video,
    cut here into the ``dance.mp4`` the README's block reads, is absent. Any other missing
    dependency fails the test. The released names load from the package, offline.
    """
    blocks = _code_blocks(README.read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 6
    work = tmp_path / "readme"
    work.mkdir()
    plan = []
    for code in blocks:
        skip = ""
        for extra in sorted(_needed_extras(code)):
            assert extra in _EXTRA_MODULES, f"README block names an unknown extra {extra!r}"
            missing = [m for m in _EXTRA_MODULES[extra] if importlib.util.find_spec(m) is None]
            if missing and extra != "video":
                pytest.fail(f"README block needs {missing} (extra {extra!r}), which the test environment lacks")
            if missing:
                skip = f"needs {missing}: MediaPipe is not part of the dev extra"
        if "dance.mp4" in code and not skip:
            if shared_data_or_none is None or not (shared_data_or_none / "media" / "video.avi").is_file():
                skip = "no shared street video to cut dance.mp4 from"
            else:
                _cut_video(shared_data_or_none / "media" / "video.avi", work / "dance.mp4", frames=12)
        plan.append({"code": code, "skip": skip})
    skipped = [i for i, b in enumerate(plan) if b["skip"]]
    assert all("lift_video" in plan[i]["code"] for i in skipped), "only the MediaPipe block may skip"
    (tmp_path / "blocks.json").write_text(json.dumps(plan))
    (tmp_path / "driver.py").write_text(_DRIVER)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    result = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "blocks.json")],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-6000:]
    head_top = [line for line in result.stdout.splitlines() if line.startswith("[")][0].strip("[]").split()
    assert len(head_top) == 3 and all(math.isfinite(float(v)) for v in head_top)  # the quickstart's print
    assert (work / "my-lifter" / "model.safetensors").is_file()
    assert (work / "motion.bvh").is_file()


def _cut_video(source, target, frames: int) -> None:
    """The first frames of a video as an MP4 in the test's temporary folder (never in the repository)."""
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    cap.release()
    if writer is not None:
        writer.release()


@pytest.fixture
def shared_data_or_none():
    root = Path(os.environ.get("POSELIFT_DATA") or REPO_ROOT.parent / "shared" / "data")
    return root if root.is_dir() else None


def test_setup_commands():
    section = _section("Set up on a fresh machine")
    commands = [line for block in _code_blocks(section, "bash") for line in block.splitlines() if line.strip()]
    assert commands[-1] == "bash .ci/run"  # the test command is exactly what CI runs
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert 'pip install -q "$src[dev]"' in ci and "-m pytest -q" in ci
    assert "poselift demo" in commands[0] and 'pip install ".[viz]"' in commands[0]
    assert "torch" not in commands[0]  # the base install serves without PyTorch
    assert 'pip install -q "torch==2.13.0"' in ci  # CI still tests with torch (the CPU build without a GPU)


def test_joint_order_table_matches_the_layouts():
    rows = _table_rows(_section("Conventions"), "index")
    assert [int(r[0]) for r in rows] == list(range(17))
    assert tuple(r[1] for r in rows) == get_skeleton("h36m17").joints
    assert tuple(r[2] for r in rows if r[2]) == get_skeleton("lsp14").joints
    text = README.read_text()
    for name in SKELETONS:
        assert f"`{name}`" in text, name


def test_every_error_is_documented():
    rows = _table_rows(_section("Errors"), "error")
    documented = {re.match(r"`(\w+)`", r[0]).group(1) for r in rows}
    assert documented | {"PoseliftError"} == set(errors_module.__all__)  # the base is in the text above


def test_extras_table_matches_pyproject():
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    rows = _table_rows(_section("Optional extras"), "extra")
    documented = {re.match(r"`poselift\[(\w+)\]`", r[0]).group(1): r[1] for r in rows}
    assert set(documented) == set(extras)
    for extra, requirements in extras.items():
        if extra == "dev":
            continue
        for req in requirements:
            name = re.match(r"[A-Za-z0-9_.\[\]-]+", req).group(0)  # "poselift[torch]" names another extra
            assert f"`{name}`" in documented[extra], (extra, name)
