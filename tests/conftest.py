"""Shared fixtures: small random lifters, a hand-made 2D pose, a pre-filled hub cache.

Everything here is offline and CPU-only. Tests that need the shared data folder use the
``shared_data`` fixture, which skips when the folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from poselift import Lifter, LifterConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

# A person standing and facing the camera, H36M-17 joint order, in pixels (y down).
# The person's right side is on the image's left.
POSE_H36M17_PX = np.array(
    [
        [320.0, 300.0],  # pelvis
        [300.0, 302.0],  # right_hip
        [298.0, 380.0],  # right_knee
        [296.0, 455.0],  # right_ankle
        [340.0, 302.0],  # left_hip
        [343.0, 380.0],  # left_knee
        [345.0, 456.0],  # left_ankle
        [321.0, 250.0],  # spine
        [322.0, 200.0],  # thorax
        [322.0, 180.0],  # neck
        [323.0, 140.0],  # head_top
        [355.0, 205.0],  # left_shoulder
        [370.0, 255.0],  # left_elbow
        [378.0, 300.0],  # left_wrist
        [289.0, 205.0],  # right_shoulder
        [275.0, 255.0],  # right_elbow
        [268.0, 302.0],  # right_wrist
    ],
    dtype=np.float32,
)


def random_poses(n: int, seed: int = 0, noise: float = 12.0) -> np.ndarray:
    """``(n, 17, 2)`` float32 poses: the standing pose, jittered, moved and rescaled."""
    rng = np.random.default_rng(seed)
    jitter = rng.normal(0.0, noise, size=(n, 17, 2))
    scale = rng.uniform(0.5, 2.0, size=(n, 1, 1))
    shift = rng.uniform(-200.0, 200.0, size=(n, 1, 2))
    return ((POSE_H36M17_PX + jitter) * scale + shift).astype(np.float32)


def tiny_config(**overrides) -> LifterConfig:
    """A lifter config small enough to build and run in milliseconds."""
    kw = dict(width=32, blocks=1, dropout=0.0)
    kw.update(overrides)
    return LifterConfig(**kw)


def tiny_lifter(seed: int = 0, **overrides) -> Lifter:
    """A randomly initialised tiny lifter with non-trivial BatchNorm statistics.

    The running statistics are randomised so that saving and loading must carry the
    buffers too, not only the trainable weights.
    """
    torch.manual_seed(seed)
    lifter = Lifter(tiny_config(**overrides), device="cpu")
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in lifter.net.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=gen))
    return lifter


def write_hub_snapshot(cache_dir: Path, repo_id: str, commit: str, model_dir: Path, refs: tuple[str, ...] = ("main",)) -> Path:
    """Put ``model_dir``'s files into a huggingface_hub cache laid out as the hub library writes it.

    ``cache_dir/models--ns--name/snapshots/<commit>/{config.json, model.safetensors}`` and
    ``cache_dir/models--ns--name/refs/<ref>`` holding the commit hash for each ref.
    """
    if len(commit) != 40 or any(ch not in "0123456789abcdef" for ch in commit):
        raise ValueError(f"a hub commit is 40 lowercase hex digits; got {commit!r}")
    repo_folder = cache_dir / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_folder / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((model_dir / name).read_bytes())
    (repo_folder / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo_folder / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def pose() -> np.ndarray:
    """One H36M-17 pose in pixels, ``(17, 2)`` float32."""
    return POSE_H36M17_PX.copy()


@pytest.fixture
def poses() -> np.ndarray:
    """Eight varied H36M-17 poses in pixels, ``(8, 17, 2)`` float32."""
    return random_poses(8)


@pytest.fixture(scope="session")
def lifter() -> Lifter:
    """A tiny random lifter (width 32, 1 block), shared by the session; do not modify it."""
    return tiny_lifter(seed=0)


@pytest.fixture(scope="session")
def model_dir(lifter, tmp_path_factory) -> Path:
    """The session lifter saved with ``save_pretrained``."""
    return lifter.save_pretrained(tmp_path_factory.mktemp("model"))


@pytest.fixture
def make_hub_cache(tmp_path):
    """Factory: ``make_hub_cache(repo_id, {commit: model_dir}, refs={"main": commit})`` -> cache dir."""
    cache_dir = tmp_path / "hub-cache"

    def make(repo_id: str, snapshots: dict[str, Path], refs: dict[str, str] | None = None) -> Path:
        for commit, folder in snapshots.items():
            write_hub_snapshot(cache_dir, repo_id, commit, folder, refs=())
        repo_folder = cache_dir / ("models--" + repo_id.replace("/", "--"))
        (repo_folder / "refs").mkdir(parents=True, exist_ok=True)
        for ref, commit in (refs or {}).items():
            (repo_folder / "refs" / ref).write_text(commit)
        return cache_dir

    return make


@pytest.fixture
def hf_offline(monkeypatch):
    """Switch huggingface_hub to offline mode the way a user does: ``HF_HUB_OFFLINE=1``.

    huggingface_hub reads the variable once, at import, into
    ``huggingface_hub.constants.HF_HUB_OFFLINE``; set both so the mode holds whatever
    was imported first.
    """
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


#: The head of a script run in a subprocess that behaves as if torch and onnx were not installed.
BLOCK_TORCH = '''
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    """Behaves as if torch and onnx were not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder (``POSELIFT_DATA`` or ``../shared/data``); skips when absent."""
    root = Path(os.environ.get("POSELIFT_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not root.is_dir():
        pytest.skip(f"shared data folder not found at {root} (set POSELIFT_DATA)")
    return root


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def outcome_within(seconds: float, fn, *args, **kwargs):
    """The exception ``fn(*args, **kwargs)`` raised (``None`` if it returned), or the string
    ``"hung"`` if it did not finish within ``seconds`` (run in a daemon thread, so a call
    blocked on a FIFO cannot keep the test run alive)."""
    import threading

    box: dict = {}

    def run():
        try:
            fn(*args, **kwargs)
            box["result"] = None
        except BaseException as e:  # noqa: BLE001 - returned to the test to check
            box["result"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return box.get("result", "hung") if not thread.is_alive() else "hung"
