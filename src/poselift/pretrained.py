"""``Pretrained``: the one model-folder surface of every network kind poselift ships.

A model folder is ``config.json`` + ``model.safetensors`` + model card ``README.md`` (+ the
ONNX graphs that serve it without torch). Loading (resolve the name, read and validate the
config, check the stored size, open a runner, verify the digest), saving, the model card
and publishing are written once here; a kind of network (:class:`~poselift.lifter.Lifter`
with its completion network, :class:`~poselift.correction.LearnedCorrection`) gives four
hooks: its config class, how to load its runner, its card and how to export its graphs.
Which backend runs a folder (:func:`default_backend`, :func:`check_backend`) is decided here
too, the same for every kind; the runners themselves live beside the model they run
(:mod:`poselift.runners` for the lifter, :mod:`poselift.correction` for the correction).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from .errors import InvalidArgumentError, MissingDependencyError, PoseliftError, TorchModulesError, install_hint, torch_available
from .weights import (
    CARD_NAME,
    CONFIG_NAME,
    DIGEST_FIELD,
    ONNX_NAME,
    WEIGHTS_NAME,
    check_stored_size,
    graph_digests,
    pop_digest,
    read_config,
    resolve_model,
    state_digest,
    verify_weights,
)

__all__ = ["Pretrained", "Backend", "Runner", "default_backend", "check_backend", "save_folder", "push_folder", "model_card"]

#: What runs a model's networks: onnxruntime sessions or torch modules.
Backend = Literal["torch", "onnx"]

logger = logging.getLogger(__name__)


class Runner(Protocol):
    """What every runner has: the backend that runs it and a line for ``repr``. A runner takes
    and returns numpy float32 arrays of flat batches; the model that holds it does the rest."""

    backend: Backend

    def describe(self) -> str:
        """``"device='cpu'"``, ``"providers=[...]"``: where the networks run."""


def default_backend(folder: Path | None = None, graphs: tuple[str, ...] = (ONNX_NAME,)) -> Backend:
    """``"onnx"`` when ``folder`` ships the ONNX ``graphs`` its ``config.json`` records (they run
    without torch, and faster per call), else ``"torch"`` when torch is installed, else ``"onnx"``."""
    if folder is not None and _ships_graphs(folder, graphs) and importlib.util.find_spec("onnxruntime") is not None:
        return "onnx"
    return "torch" if torch_available() else "onnx"


def _ships_graphs(folder: Path, graphs: tuple[str, ...]) -> bool:
    try:
        recorded = graph_digests(folder)
    except PoseliftError:
        return False
    return all(name in recorded and (folder / name).is_file() for name in graphs)


def check_backend(backend: str | None, folder: Path | None = None, graphs: tuple[str, ...] = (ONNX_NAME,)) -> Backend:
    """The backend to load ``folder`` on: ``backend`` checked, or :func:`default_backend` for ``None``."""
    if backend is None:
        return default_backend(folder, graphs)
    if backend not in ("torch", "onnx"):
        raise InvalidArgumentError(f"backend must be 'torch', 'onnx' or None (ONNX where the folder ships graphs); got {backend!r}")
    if backend == "torch" and not torch_available():
        raise MissingDependencyError(
            f'backend="torch" needs torch, which is not installed. Install it with: {install_hint("torch")}, '
            'or use backend="onnx" (the default without torch).'
        )
    return backend  # type: ignore[return-value]


class Pretrained:
    """Load, save and publish a model folder; subclasses hold ``config`` and a ``runner``."""

    #: The pydantic config class of ``config.json`` (with ``from_dict`` and ``to_json``).
    config_class: ClassVar[Any]
    #: What the network is called in messages ("lifter", "correction network").
    kind: ClassVar[str]
    #: The name ``from_pretrained()`` loads when given none (``None``: a name is required).
    default_name: ClassVar[str | None] = None

    config: Any
    runner: Runner

    # ------------------------------------------------------------------ hooks
    @classmethod
    def _stored_parameters(cls, config: Any) -> int:
        """A lower bound on the parameters ``model.safetensors`` must hold for ``config``."""
        raise NotImplementedError

    @classmethod
    def _load_runner(cls, folder: Path, config: Any, backend: Backend | None, **options: Any) -> tuple[Any, str]:
        """``(runner, state digest)`` for the folder's weights on ``backend``."""
        raise NotImplementedError

    def card(self) -> str:
        """The model card ``README.md``."""
        raise NotImplementedError

    def _export_graphs(self, folder: Path) -> None:
        """Write the ONNX graphs of ``folder``, which this model was just loaded from (their weights are read from it)."""
        raise NotImplementedError

    def modules(self) -> dict[str, Any]:
        """The torch networks by their key prefix in ``model.safetensors``."""
        return self._torch_runner().modules()

    # ------------------------------------------------------------------ torch access
    def _torch_runner(self) -> Any:
        """The torch runner; an ONNX-served model loaded with the default backend switches to torch
        here (from its folder) when torch is installed, so its modules can be trained or saved."""
        if self.runner.backend == "torch":
            return self.runner
        if not torch_available():
            raise MissingDependencyError(
                f"this {self.kind} runs on the {self.runner.backend} backend because torch is not installed; training, "
                f"saving, moving or exporting it needs torch. Install it with: {install_hint('torch')}, "
                "then load it again."
            )
        folder = getattr(self, "_folder", None)
        if folder is None:
            raise TorchModulesError(
                f"this {self.kind} runs on the {self.runner.backend} backend and holds no torch modules; "
                "load it with backend='torch' to train, save or move it."
            )
        logger.info("loading the torch modules of %s: the %s switches to the torch backend", folder, self.kind)
        self.runner, _ = self._load_runner(folder, self.config, "torch")
        self._folder = None
        return self.runner

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        backend: Backend | None = None,
        **runner_options: Any,
    ) -> Any:
        """Load from a folder, a released name bundled in the wheel, or the hub (see
        :func:`poselift.weights.resolve_model`); ``backend`` and ``runner_options`` go to
        :meth:`from_folder`."""
        if name_or_path is None:
            if cls.default_name is None:
                raise InvalidArgumentError(f"{cls.__name__}.from_pretrained() needs a name or a folder")
            name_or_path = cls.default_name
        folder = resolve_model(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        return cls.from_folder(folder, backend=backend, **runner_options)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, backend: Backend | None = None, **runner_options: Any) -> Any:
        """Load ``config.json`` and the weights of a model folder onto a backend.

        ``backend=None`` serves the folder's ONNX graphs with onnxruntime (torch is not
        needed); with torch installed, asking for the torch modules (``.net``, training,
        ``save_pretrained``) loads them from the folder then. ``"torch"`` loads the torch
        modules at once; ``"onnx"`` never switches.
        """
        folder = Path(folder)
        source = str(folder / CONFIG_NAME)
        data = read_config(folder)
        digest = pop_digest(data, source)
        config = cls.config_class.from_dict(data, source=source)
        check_stored_size(folder, cls._stored_parameters(config), cls.kind)  # before any network is built
        runner, found = cls._load_runner(folder, config, backend, **runner_options)
        verify_weights(folder, digest, found)  # after the loader's more specific checks (keys, shapes, NaN)
        logger.info("loaded %s from %s (%s backend)", cls.kind, folder, runner.backend)
        model = cls(config, runner=runner)
        if backend is None and runner.backend != "torch":
            model._folder = folder  # torch modules come from here when asked for
        return model

    # ------------------------------------------------------------------ saving and publishing
    def save_pretrained(self, folder: str | os.PathLike, *, dtype: Any = None, onnx: bool = False) -> Path:
        """Write ``model.safetensors``, ``config.json`` and the model card ``README.md`` (needs torch).

        ``dtype=torch.float16`` stores floating-point weights at half size (loaded back into
        float32). ``onnx=True`` also writes the ONNX graphs, so the folder serves without torch.
        """
        folder = save_folder(
            folder, self.modules(), self.config.to_json(), self.card(), dtype=dtype,
            metadata={"poselift_format_version": str(self.config.format_version)},
        )  # fmt: skip
        if onnx:  # from the weights as stored (dtype), so the graphs' digests match the folder's
            type(self).from_folder(folder, backend="torch")._export_graphs(folder)
        return folder

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str | None = None) -> str:
        """Upload the ``save_pretrained(folder, onnx=True)`` folder to a hub repository; returns the commit URL."""
        message = commit_message or f"Upload poselift {self.kind}"
        return push_folder(lambda f: self.save_pretrained(f, onnx=True), repo_id, private=private, token=token, commit_message=message)


# ---------------------------------------------------------------------------- folder writing, shared by every kind
def save_folder(
    folder: str | os.PathLike,
    modules: Mapping[str, Any],
    config_json: str,
    card: str,
    *,
    dtype: Any = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``model.safetensors`` (the ``{key prefix: torch module}`` weights), ``config.json``
    and the model card ``README.md`` into ``folder``; returns the folder.

    ``dtype`` (e.g. ``torch.float16``) stores floating-point weights at that precision.
    """
    from safetensors.torch import save_file

    from ._files import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        prefix + k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
        for prefix, module in modules.items()
        for k, v in module.state_dict().items()
    }
    config = json.loads(config_json)
    config[DIGEST_FIELD] = state_digest(state)  # of the values as stored (dtype), checked on load
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", **(metadata or {})})
    with atomic_path(folder / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    with atomic_path(folder / CARD_NAME) as tmp:
        tmp.write_text(card, encoding="utf-8")
    return folder


def push_folder(save: Any, repo_id: str, *, private: bool = False, token: str | None = None, commit_message: str) -> str:
    """Create ``repo_id`` on the hub and upload what ``save(folder)`` writes; returns the commit URL."""
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(info)


def model_card(
    *, title: str, summary: str, usage: str, metadata: Mapping[str, Any], joint_names: list[str] | None = None
) -> str:
    """A model card (``README.md``): front matter, summary, usage, provenance from ``metadata``."""
    meta = dict(metadata)
    lines = [
        "---",
        "library_name: poselift",
        f"license: {meta.get('license', 'other')}",
        "tags: [3d-human-pose, pose-lifting, poselift]",
        "---",
        "",
        f"# {meta.get('name', title)}",
        "",
        summary,
        "",
        "```python",
        usage,
        "```",
        "",
    ]
    sections = (("training_data", "Training data"), ("source_data", "Source data"), ("target_data", "Target data"),
                ("data_terms", "Data terms"), ("recipe", "Recipe"), ("command", "Command"))
    for key, heading in sections:
        if key in meta:
            lines += [f"## {heading}", "", str(meta[key]), ""]
    results = meta.get("results")
    if isinstance(results, dict) and results:
        lines += ["## Measured accuracy", "", "| evaluation | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in results.items()]
        lines.append("")
    if joint_names:
        lines += ["## Joint order", "", ", ".join(f"{i} {n}" for i, n in enumerate(joint_names)), ""]
    return "\n".join(lines)
