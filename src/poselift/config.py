"""``config.json`` of a lifter or a learned correction: everything needed to prepare inputs
and rebuild the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._files import DIGEST_FIELD, GRAPHS_FIELD  # keys of the folder's config.json, not of the architecture
from .errors import ConfigError
from .skeleton import BONE_RATIOS, SKELETONS, get_skeleton

__all__ = ["LifterConfig", "CompletionConfig", "CorrectionConfig", "FORMAT_VERSION", "DIGEST_FIELD", "GRAPHS_FIELD"]

#: The config format this version of poselift writes and reads.
FORMAT_VERSION = 1
def _check_version(data: Any, source: str, what: str) -> None:
    """The ``format_version`` of a config dict must be exactly the integer this poselift reads."""
    version = data.get("format_version")
    if version is None:
        raise ConfigError(f"{source}: no 'format_version'; this is not a poselift {what} config")
    if type(version) is not int:  # 1.0 and true equal 1 in Python, but are not a format version
        raise ConfigError(
            f"{source}: config format_version {version!r} is not supported: it must be the integer "
            f"{FORMAT_VERSION}, not a {type(version).__name__}; re-export the model with save_pretrained()"
        )
    if version != FORMAT_VERSION:
        hint = (
            "it was written by a newer poselift: upgrade with `pip install -U poselift`"
            if version > FORMAT_VERSION
            else "re-export the model with this poselift version"
        )
        raise ConfigError(
            f"{source}: config format_version {version!r} is not supported "
            f"(this poselift reads version {FORMAT_VERSION}); {hint}"
        )


#: Option values earlier poselift versions accepted and no shipped model or recipe used.
REMOVED_OPTIONS: dict[str, tuple[str, ...]] = {"activation": ("relu", "gelu"), "scale_mode": ("head",)}


def _refuse_removed_options(data: Any) -> Any:
    """Name a removed option value in the error, instead of pydantic's list of allowed values."""
    if isinstance(data, dict):
        for key, removed in REMOVED_OPTIONS.items():
            if data.get(key) in removed:
                raise ValueError(
                    f"{key} {data[key]!r} was removed from poselift (no released model or recipe used it); "
                    f"use {key} {LifterConfig.model_fields[key].default!r}"
                )
    return data


class CompletionConfig(BaseModel):
    """The network that fills missing 2D joints before lifting (see :class:`poselift.nets.CompletionNet`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    width: int = Field(512, ge=8)
    blocks: int = Field(2, ge=0)
    min_visible: int = Field(8, ge=1, description="poses with fewer visible joints are refused")


class LifterConfig(BaseModel):
    """Architecture and input conventions of a lifter (``config.json``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    format_version: int = FORMAT_VERSION
    architecture: Literal["residual_mlp"] = "residual_mlp"
    skeleton: str = "h36m17"
    joint_names: list[str] = Field(default_factory=list, description="joint order; filled from the skeleton")
    width: int = Field(1024, ge=8)
    blocks: int = Field(4, ge=0)
    dropout: float = Field(0.25, ge=0.0, lt=1.0)
    batchnorm: bool = True
    activation: Literal["leaky_relu"] = Field("leaky_relu", description="the one activation (relu and gelu were removed)")
    input_skip: bool = Field(True, description="feed the 2D input into every residual block")
    head: Literal["depth", "kinematic"] = Field(
        "depth",
        description="output head: a depth per joint (the 3D projects exactly onto the input), or bone directions "
        "assembled by forward kinematics with the skeleton's bone-ratio table (symmetric limbs; Kundu et al.)",
    )
    bone_ratios: dict[str, float] | None = Field(
        None,
        exclude_if=lambda v: v is None,  # configs (and the ONNX graphs that embed them) without a table stay as they were
        description="head 'kinematic': length of each joint's bone to its parent, relative to body height "
        "(default: poselift.skeleton.BONE_RATIOS of the skeleton)",
    )
    c: float = Field(10.0, gt=1.0, description="depth of the normalised skeleton (Chen et al.)")
    scale_mode: Literal["rms"] = Field("rms", description="per-pose 2D size measure (the one kept: 'head' was removed)")
    flip_test: bool = Field(False, description="average depths over the pose and its mirror image")
    height: float = Field(1.70, gt=0.0, description="default body height (m) for metric output")
    confidence_threshold: float = Field(0.05, ge=0.0, le=1.0, description="joints below it are missing")
    completion: CompletionConfig | None = Field(None, description="missing-joint completion network, if shipped")
    metadata: dict[str, Any] = Field(default_factory=dict, description="free-form provenance")

    @model_validator(mode="before")
    @classmethod
    def _refuse_removed(cls, data: Any) -> Any:
        return _refuse_removed_options(data)

    @model_validator(mode="after")
    def _check_skeleton(self) -> "LifterConfig":
        if self.skeleton not in SKELETONS:
            raise ValueError(f"unknown skeleton {self.skeleton!r}; known: {sorted(SKELETONS)}")
        names = list(get_skeleton(self.skeleton).joints)
        if not self.joint_names:
            self.joint_names = names
        elif self.joint_names != names:
            raise ValueError(f"joint_names do not match skeleton {self.skeleton!r}: expected {names}")
        if self.bone_ratios is not None:
            sk = get_skeleton(self.skeleton)
            needed = {sk.joints[j] for j, p in enumerate(sk.parents) if p >= 0}
            if set(self.bone_ratios) != needed or not all(v > 0 for v in self.bone_ratios.values()):
                raise ValueError(
                    f"bone_ratios needs one positive ratio for each joint with a parent bone: {sorted(needed)}; "
                    f"got {sorted(self.bone_ratios)}"
                )
        if self.head == "kinematic" and self.bone_ratios is None and self.skeleton not in BONE_RATIOS:
            raise ValueError(f"head 'kinematic' needs a bone-ratio table; there is one for {sorted(BONE_RATIOS)}, not {self.skeleton!r}")
        return self

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "LifterConfig":
        """Validate a config dict, checking the format version first."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        _check_version(data, source, "lifter")
        data = {k: v for k, v in data.items() if k not in (DIGEST_FIELD, GRAPHS_FIELD)}
        try:  # strict: "512" is not a width, true is not a version; Infinity is no number
            return cls.model_validate(data, strict=True)
        except ValidationError as e:
            raise ConfigError(f"{source}: invalid lifter config:\n{e}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "LifterConfig":
        from ._files import read_capped

        path = Path(path)
        try:
            data = json.loads(read_capped(path, 1 << 20).decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e}); the download may be corrupt") from None
        except ValueError as e:  # a FIFO or device, or far too large for a config
            raise ConfigError(f"{e}: a config.json is a small JSON file written by save_pretrained()") from None
        return cls.from_dict(data, source=str(path))


class CorrectionConfig(BaseModel):
    """A learned 2D correction from layout ``source`` (after the geometric mapping) to ``target``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    format_version: int = FORMAT_VERSION
    kind: Literal["correction"] = "correction"
    source: str
    target: str
    width: int = Field(256, ge=8)
    blocks: int = Field(2, ge=0)
    c: float = Field(10.0, gt=1.0)
    scale_mode: Literal["rms"] = "rms"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _refuse_removed(cls, data: Any) -> Any:
        return _refuse_removed_options(data)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "CorrectionConfig":
        """Validate a config dict, checking its kind and format version first."""
        if not isinstance(data, dict) or data.get("kind") != "correction":
            kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"{source}: not a correction config (kind={kind!r})")
        _check_version(data, source, "correction")
        data = {k: v for k, v in data.items() if k not in (DIGEST_FIELD, GRAPHS_FIELD)}
        try:
            return cls.model_validate(data, strict=True)
        except ValidationError as e:
            raise ConfigError(f"{source}: invalid correction config:\n{e}") from None
