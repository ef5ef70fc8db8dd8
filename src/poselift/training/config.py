"""``TrainConfig``: every switch of a training run, validated before anything starts."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._files import read_capped
from ..config import LifterConfig
from ..errors import ConfigError
from ..evaluation.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, VALIDATION_SUBJECTS

__all__ = [
    "DataConfig",
    "ExtraData",
    "LossConfig",
    "DiscriminatorConfig",
    "ScaleModuleConfig",
    "FlowPriorConfig",
    "TrainConfig",
    "load_recipe",
    "apply_overrides",
    "check_device",
    "MAX_PARAMETERS",
    "REMOVED_KEYS",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN and inf are never a setting


class ExtraData(_Strict):
    """Unpaired 2D keypoints of another detector or data set, mixed into the training 2D."""

    path: str = Field(description="a keypoint file or folder poselift.io.read_keypoints reads (the in-the-wild research "
                      "sets: files written by training/wild2d.py)")
    layout: str | None = Field(None, description="its joint layout (default: from the file)")
    min_confidence: float = Field(0.05, ge=0.0, le=1.0, description="drop poses with a joint below it")
    weight: float = Field(1.0, gt=0.0, le=1e6, description="share of data.unpaired_batch drawn from this source, relative to the others")

    @model_validator(mode="before")
    @classmethod
    def _research_sets(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("source" in data or "stride" in data):
            named = f"source {data['source']!r}" if "source" in data else "stride"
            raise ValueError(
                f"{named}: data.extra takes keypoint files only (path, layout, min_confidence, weight); write the "
                "in-the-wild research sets as files with `python training/wild2d.py WILD2D_FOLDER --out runs/wild2d` "
                "and give one as path, e.g. runs/wild2d/lsp.npz"
            )
        return data


class DataConfig(_Strict):
    source: Literal["h36m", "keypoints"] = "h36m"
    path: str | None = Field(None, description="h36m folder or keypoint file/folder; default $POSELIFT_DATA/h36m")
    subjects: list[str] = Field(default_factory=lambda: list(TRAIN_SUBJECTS))
    val_subjects: list[str] = Field(default_factory=lambda: list(VALIDATION_SUBJECTS), description="held out, 3D for validation only")
    inputs: Literal["gt", "detected"] = "gt"
    correction: bool = Field(False, description="inputs 'detected': pass the detections through the shipped learned correction")
    multiview: bool = Field(
        False, description="load all calibrated cameras of each instant (needed by loss.cross_view; Human3.6M only)"
    )
    target: Literal["inputs", "gt"] = Field(
        "inputs", description="multiview: cross-view 2D targets from the inputs, or from the ground-truth projections"
    )
    input_mix: float = Field(
        0.0, ge=0.0, le=1.0,
        description="multiview with target 'gt': share of input poses drawn from the ground-truth projections instead "
        "of the detections (a lifter for both clean and detected 2D)",
    )
    labelled: dict[str, int] = Field(
        default_factory=dict,
        description="SEMI-SUPERVISED: {subject: every} keeps the 3D of every n-th frame of those subjects for "
        "loss.supervised (e.g. {S1: 20}: 5 % of S1); empty for unsupervised recipes",
    )
    stride: int = Field(1, ge=1, description="keep every stride-th frame for training")
    val_stride: int = Field(16, ge=1)
    layout: str | None = Field(None, description="joint layout of a keypoint file (source=keypoints)")
    min_confidence: float = Field(0.05, ge=0.0, le=1.0, description="keypoint files: drop poses with a joint below it")
    extra: list[ExtraData] = Field(
        default_factory=list,
        description="more unpaired 2D, adapted to the lifter layout (geometric mapping + the shipped learned "
        "correction, Chen et al.'s DA) and mixed in; outside any sequence, so never in temporal pairs. With "
        "data.multiview they are a separate stream for the single-view losses (see unpaired_batch)",
    )
    input_noise: float = Field(
        0.0, ge=0.0, le=0.2, description="detector-like input noise: each input pose gets Gaussian noise of a standard "
        "deviation drawn uniformly from [0, input_noise] x its 2D height (per pose, all joints); targets stay clean",
    )
    unpaired_batch: int = Field(
        0, ge=0, description="data.multiview with data.extra: poses per step drawn from data.extra (by their weights) "
        "for the single-view losses (loss.l2d, l3d, adversarial, symmetry) beside the cross-view batch",
    )
    cmu_val: bool = Field(
        False, description="also validate on the CMU validation clips (poselift.evaluation.cmu.VALIDATION_CLIPS) "
        "and select checkpoints by the mean of their P-MPJPE and the val_subjects' P-MPJPE",
    )
    cmu_path: str | None = Field(None, description="CMU clip folder for cmu_val (default $POSELIFT_DATA/cmu_bvh)")

    @model_validator(mode="after")
    def _no_test_subjects(self) -> "DataConfig":
        for s in (*self.subjects, *self.val_subjects):
            if s in TEST_SUBJECTS:
                raise ValueError(f"{s} is a Human3.6M test subject: never train or select models on it")
        return self


#: Recipe keys that are no longer settings (no shipped recipe or released model set them), and
#: what holds instead; a recipe that still sets one fails naming it.
REMOVED_KEYS = {
    "grad_clip": "every optimiser step clips its gradients to norm 10 (poselift.training.trainer.GRAD_CLIP)",
    "azimuth": "the random view's azimuth about the vertical is uniform in [-pi, pi]",
    "elevation": "the random view's elevation is uniform in [-pi/9, pi/9]",
    "roll": "the random view has no roll",
    "discriminator.dropout": "discriminators have no dropout",
    "scale_module.prior": "the prior is measured on the training subjects' 3D, N(0, 0.1) without Human3.6M data",
}


def _refuse_removed(data: Any, section: str) -> Any:
    if isinstance(data, dict):
        for key in data:
            name = f"{section}.{key}" if section else str(key)
            if name in REMOVED_KEYS:
                raise ValueError(f"{name} is no longer a setting ({REMOVED_KEYS[name]}): delete it from the recipe")
    return data


class DiscriminatorConfig(_Strict):
    width: int = Field(1024, ge=8)
    blocks: int = Field(2, ge=0)
    every: int = Field(1, ge=1, description="update the discriminator every N lifter steps")

    @model_validator(mode="before")
    @classmethod
    def _no_removed_keys(cls, data: Any) -> Any:
        return _refuse_removed(data, "discriminator")


class LossConfig(_Strict):
    """Loss weights; 0 disables a term. Distances are mean per-joint Euclidean, GAN losses LSGAN."""

    adversarial: float = Field(1.0, ge=0.0, description="2D pose discriminator (Chen et al.)")
    l2d: float = Field(10.0, ge=0.0, description="lift-reproject-lift 2D consistency (Chen et al.)")
    l3d: float = Field(1.0, ge=0.0, description="lift-reproject-lift 3D consistency (Chen et al.)")
    temporal: float = Field(0.0, ge=0.0, description="temporal discriminator on 2D differences (Chen et al.)")
    symmetry: float = Field(0.0, ge=0.0, description="left/right bone-length symmetry (ablation)")
    motion: float = Field(0.0, ge=0.0, description="Yu et al.'s multi-view motion consistency Ltmc (needs sequences)")
    scale_kl: float = Field(0.0, ge=0.0, description="Yu et al.'s scale module: KL of its log-scales to the prior")
    scale_bone: float = Field(0.0, ge=0.0, description="Yu et al.'s scale module: bone lengths agree between frames t and t+l")
    cross_view: float = Field(0.0, ge=0.0, description="Wang et al.'s cross-view re-projection (needs data.multiview)")
    cross_view_3d: float = Field(0.0, ge=0.0, description="lifts of two views agree after the camera rotation (data.multiview)")
    reprojection: float = Field(0.0, ge=0.0, description="the lift re-projects onto its input (for lifter.head 'kinematic')")
    supervised: float = Field(0.0, ge=0.0, description="SEMI-SUPERVISED 3D loss on data.labelled rows")
    flow: float = Field(
        0.0, ge=0.0, description="negative log-likelihood of the random-view 2D under a normalising flow fitted to the "
        "training 2D (poselift.training.flow; ElePose's prior), beside or instead of the discriminator",
    )
    anchor: float = Field(
        0.0, ge=0.0, description="distance of each lift to the starting model's lift of the same 2D (needs init_from): "
        "fine-tuning keeps what the model knew",
    )


class ScaleModuleConfig(_Strict):
    """Yu et al.'s scale-estimation module (used when loss.scale_kl or loss.scale_bone > 0). Its
    prior (mean and std of the log reference scale) is measured on the training subjects' 3D
    (two dataset-level numbers, recorded in the model card); N(0, 0.1) without Human3.6M."""

    width: int = Field(256, ge=8, le=8192)
    blocks: int = Field(1, ge=0, le=64)
    every: int = Field(4, ge=1, description="iterative schedule: one scale-module step per this many lifter steps")

    @model_validator(mode="before")
    @classmethod
    def _no_removed_keys(cls, data: Any) -> Any:
        return _refuse_removed(data, "scale_module")


class FlowPriorConfig(_Strict):
    """The normalising-flow prior on 2D poses (used when loss.flow > 0), fitted before the lifter trains."""

    layers: int = Field(8, ge=1, le=64, description="affine coupling layers")
    width: int = Field(256, ge=8, le=8192, description="hidden width of each coupling's network")
    steps: int = Field(2000, ge=1, description="maximum-likelihood steps on the training 2D")
    batch_size: int = Field(1024, ge=2)
    lr: float = Field(1e-3, gt=0.0)
    noise: float = Field(0.02, ge=0.0, le=1.0, description="Gaussian noise on the fitting batches (units of c * x, RMS size 1)")


class TrainConfig(_Strict):
    """A training recipe (YAML). Unknown keys, wrong types and impossible values fail here."""

    name: str = "run"
    seed: int = 0
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(1024, ge=2)
    lr: float = Field(2e-4, gt=0.0)
    d_lr: float | None = Field(None, gt=0.0, description="discriminator lr (default: lr)")
    betas: tuple[float, float] = (0.5, 0.9)
    lr_decay: float = Field(0.95, gt=0.0, le=1.0, description="multiply lr by this every decay_every steps")
    decay_every: int = Field(1000, ge=1)
    flip: bool = Field(True, description="mirror half of the training 2D poses (left/right swapped)")
    temporal_gap: int = Field(4, ge=1, description="frames between the two poses of a temporal pair (TD, Ltmc, scale_bone)")
    init_from: str | None = Field(None, description="start from these lifter weights (folder or released name): fine-tuning")
    lifter: LifterConfig = Field(default_factory=LifterConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    scale_module: ScaleModuleConfig = Field(default_factory=ScaleModuleConfig)
    flow_prior: FlowPriorConfig = Field(default_factory=FlowPriorConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    val_every: int = Field(500, ge=1)
    ckpt_every: int = Field(500, ge=1)
    log_every: int = Field(50, ge=1)
    device: str = "auto"
    threads: int | None = Field(None, ge=1, description="CPU threads (default: torch's choice)")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA")
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _no_removed_keys(cls, data: Any) -> Any:
        return _refuse_removed(data, "")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        for i, b in enumerate(betas):
            if not (math.isfinite(b) and 0.0 <= b < 1.0):
                raise ValueError(f"Adam betas must each lie in [0, 1), e.g. [0.5, 0.9]; beta{i + 1} is {b}")
        return betas

    @field_validator("device")
    @classmethod
    def _device_exists(cls, device: str) -> str:
        return check_device(device)

    @model_validator(mode="after")
    def _networks_fit(self) -> "TrainConfig":
        n = self.lifter.num_joints
        sizes = {
            "lifter": _mlp_parameters(2 * n, n, self.lifter.width, self.lifter.blocks, self.lifter.input_skip),
            "discriminator": _mlp_parameters(2 * n, 1, self.discriminator.width, self.discriminator.blocks, False),
        }
        if self.lifter.completion is not None:
            c = self.lifter.completion
            sizes["lifter.completion"] = _mlp_parameters(3 * n, 2 * n, c.width, c.blocks, False)
        for key, count in sizes.items():
            if count > MAX_PARAMETERS:
                raise ValueError(
                    f"{key}: width and blocks give {count / 1e9:.1f} billion parameters "
                    f"({count * 16 / 2**30:.0f} GiB with Adam's state); at most {MAX_PARAMETERS / 1e6:.0f} million "
                    f"are allowed. Lower {key}.width or {key}.blocks."
                )
        return self

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if all(v == 0 for v in self.loss.model_dump().values()):
            raise ValueError("loss: every loss weight is 0; nothing would be trained")
        w, d = self.loss, self.data
        sequential = [k for k in ("temporal", "motion", "scale_bone") if getattr(w, k) > 0]
        if sequential and d.source != "h36m":
            raise ValueError(f"loss.{sequential[0]} needs sequences (frame pairs): use data.source 'h36m'")
        if (w.cross_view > 0 or w.cross_view_3d > 0) and not d.multiview:
            raise ValueError("loss.cross_view needs camera pairs: set data.multiview: true (Human3.6M's calibrated cameras)")
        if d.multiview and (d.source != "h36m" or self.lifter.skeleton != "h36m17"):
            raise ValueError("data.multiview: camera pairs exist only for data.source 'h36m' with lifter.skeleton 'h36m17'")
        if d.multiview and d.extra and d.unpaired_batch == 0:
            raise ValueError("data.extra with data.multiview: set data.unpaired_batch (poses per step from data.extra)")
        if d.unpaired_batch and not (d.multiview and d.extra):
            raise ValueError("data.unpaired_batch applies to data.multiview runs with data.extra")
        if d.unpaired_batch and sequential:
            raise ValueError(f"loss.{sequential[0]} needs frame pairs, which unpaired 2D has none of: drop it or data.extra")
        if d.unpaired_batch and w.l2d == w.l3d == w.adversarial == w.symmetry == 0:
            raise ValueError("data.extra with data.multiview: no loss uses the unpaired 2D; set loss.l2d, l3d, "
                             "adversarial or symmetry")
        if w.anchor > 0 and not self.init_from:
            raise ValueError("loss.anchor keeps a fine-tuned lifter near its starting weights: set init_from")
        if w.supervised > 0 and not d.labelled:
            raise ValueError("loss.supervised needs labelled 3D: set data.labelled (e.g. {S1: 20}); the data has no 3D otherwise")
        if d.labelled and w.supervised == 0:
            raise ValueError("data.labelled is set but loss.supervised is 0: drop data.labelled for an unsupervised run")
        if d.labelled and not d.multiview:
            raise ValueError("data.labelled: semi-supervised runs load Human3.6M through data.multiview: true")
        if d.input_mix > 0 and not (d.multiview and d.target == "gt" and d.inputs == "detected"):
            raise ValueError("data.input_mix mixes ground-truth 2D into detected inputs: it needs multiview, inputs "
                             "'detected' and target 'gt'")
        if d.target == "gt" and not d.multiview:
            raise ValueError("data.target 'gt' applies to multi-view training: set data.multiview: true")
        outside = [s for s in d.labelled if s not in d.subjects]
        if outside:
            raise ValueError(f"data.labelled names {outside}, not among data.subjects {d.subjects}")
        return self


#: Largest recipe file read (the shipped recipes are about 1 KB).
MAX_RECIPE_BYTES = 1 << 20

#: Largest network (parameters) a recipe may ask for; the released lifters have about 1.4 million.
MAX_PARAMETERS = 200_000_000

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _mlp_parameters(inputs: int, outputs: int, width: int, blocks: int, input_skip: bool) -> int:
    """Parameter count of a :class:`~poselift.nets.ResidualMLP` (two layers per block), roughly."""
    extra = inputs if input_skip else 0
    per_block = 2 * (width + extra) * width + width * width
    return inputs * width + blocks * per_block + width * outputs


def check_device(device: str) -> str:
    """``device`` if it names a device this machine has (``auto``, ``cpu``, ``cuda[:N]``, ``mps``)."""
    if not _DEVICE.match(device):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if device in ("auto", "cpu"):
        return device
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} but this machine has no usable CUDA GPU; use 'cpu' or 'auto'")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' but Apple's Metal backend is not available here; use 'cpu' or 'auto'")
    return device


def _format(e: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid training recipe"]
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a recipe dict."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set steps=100")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({_yaml_problem(e)})") from None
        check_expanded_size(node[parts[-1]], f"--set {item!r}")
    return data


#: Most values a recipe may hold with every YAML alias expanded (the shipped recipes hold about 80).
MAX_RECIPE_NODES = 10_000


def check_expanded_size(obj: Any, source: str, limit: int = MAX_RECIPE_NODES) -> None:
    """Raise :class:`ConfigError` if ``obj`` (parsed YAML) holds more than ``limit`` values once
    its aliases are expanded, or refers to itself. ``yaml.safe_load`` builds aliases as shared
    references, so a 1 KB "billion laughs" loads at once, but validating it walks every
    expanded value (minutes); counted here with a memo, in time linear in the file."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(o: Any) -> int:
        if not isinstance(o, (dict, list)):
            return 1
        key = id(o)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{source}: a YAML alias refers to the mapping or list that holds it; recipes are finite trees")
        active.add(key)
        children = [v for kv in o.items() for v in kv] if isinstance(o, dict) else o
        n = 1 + sum(size(c) for c in children)
        active.discard(key)
        if n > limit:
            raise ConfigError(
                f"{source}: with its YAML aliases (*name) expanded the recipe holds more than {limit:,} values; "
                "a recipe needs a few dozen (an alias bomb?)"
            )
        sizes[key] = n
        return n

    try:
        size(obj)
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a recipe") from None


def _yaml_problem(e: Exception) -> str:
    """A one-line description of a YAML error, with its line and column."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if "!!python" in str(e) or "could not determine a constructor" in str(e):
        problem = f"{problem}; recipes are plain YAML, tags such as !!python/... are not allowed"
    return where + problem


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML recipe (``yaml.safe_load``), apply ``--set`` overrides, validate."""
    from ..errors import require

    yaml = require("yaml", "train")
    data: dict[str, Any] = {}
    source = "recipe"
    if path is not None:
        path = Path(path)
        source = str(path)
        if path.is_dir() or not path.exists():
            raise ConfigError(f"recipe {path.resolve()} " + ("is a folder" if path.is_dir() else "does not exist"))
        try:
            loaded = yaml.safe_load(read_capped(path, MAX_RECIPE_BYTES).decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason})") from None
        except ValueError as e:  # a FIFO or device (would block or never end), or far too large
            raise ConfigError(f"recipe {e}; a recipe is a small YAML file") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe is a YAML mapping, got {type(loaded).__name__}")
        check_expanded_size(loaded, str(path))
        data = loaded or {}
    data = apply_overrides(data, overrides or [])
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, source)) from None
