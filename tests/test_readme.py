"""The README stays true: its quickstart runs verbatim, its tables match the code."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import REPO_ROOT, write_hub_snapshot
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


def test_quickstart_runs_verbatim(tmp_path, model_dir):
    """Every Python block of the quickstart, in order, against the default model name.

    The default name resolves through huggingface_hub's cache, pre-filled here with a
    tiny random lifter; offline mode guarantees no network is used.
    """
    code = "\n".join(_code_blocks(_section("Quickstart"), "python"))
    assert 'Lifter.from_pretrained("poselift/h36m-17")' in code
    cache = tmp_path / "hf-cache"
    write_hub_snapshot(cache, "poselift/h36m-17", "ab" * 20, model_dir)
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().strip("[]").split()
    assert len(printed) == 3 and all(math.isfinite(float(v)) for v in printed)  # x, y, z of the head top
    assert (tmp_path / "my-lifter" / "model.safetensors").is_file()


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
