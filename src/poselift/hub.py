"""Where a model comes from: a local folder, the weights bundled in the wheel, or the hub.

Resolution is deterministic (never a guess):

1. an existing directory loads from disk;
2. a released name bundled inside the package (and no ``revision``) loads from the wheel;
3. ``namespace/name`` or ``namespace/name@revision`` is a Hugging Face hub id, fetched with
   ``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE``, ``revision``, ``token``);
4. anything else is a path that does not exist: :class:`~poselift.errors.ModelNotFoundError`
   (a ``FileNotFoundError``) naming the absolute path.
"""

from __future__ import annotations

import logging
import os
import re
from importlib import resources
from pathlib import Path

from .errors import ModelNotFoundError

__all__ = ["DEFAULT_MODEL", "BUNDLED", "CONFIG_NAME", "WEIGHTS_NAME", "CARD_NAME", "resolve_model", "parse_hub_id"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"

#: The model ``Lifter.from_pretrained()`` loads when given no name.
DEFAULT_MODEL = "poselift/h36m-17"

#: Released weights shipped inside the wheel: hub id -> folder under ``poselift/weights``.
BUNDLED: dict[str, str] = {
    "poselift/h36m-17": "h36m-17",
    "poselift/h36m-14": "h36m-14",
}

_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")


def parse_hub_id(name: str) -> tuple[str, str | None] | None:
    """``"ns/name@rev"`` -> ``("ns/name", "rev")``; ``None`` if ``name`` is not a hub id."""
    m = _HUB_ID.match(name)
    if m is None:
        return None
    return m.group("repo"), m.group("rev")


def _bundled_dir(folder: str) -> Path:
    return Path(str(resources.files("poselift") / "weights" / folder))


def resolve_model(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder holding ``config.json`` and ``model.safetensors``."""
    text = os.fspath(name_or_path)
    local = Path(text).expanduser()
    if local.is_dir():
        return local
    if local.is_file():
        raise ModelNotFoundError(
            f"{local.resolve()} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    parsed = parse_hub_id(text) if isinstance(name_or_path, str) else None
    if parsed is None:
        raise ModelNotFoundError(
            f"no model folder at {local.resolve()}; pass an existing folder, a released name "
            f"such as {DEFAULT_MODEL!r}, or a hub id 'namespace/name[@revision]'"
        )
    repo_id, rev_in_name = parsed
    if rev_in_name and revision and rev_in_name != revision:
        raise ValueError(f"two revisions given: {rev_in_name!r} in the name and revision={revision!r}")
    revision = revision or rev_in_name
    if repo_id in BUNDLED and revision is None:
        logger.debug("loading bundled weights %s", repo_id)
        return _bundled_dir(BUNDLED[repo_id])
    return _download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)


def _download(repo_id: str, *, revision, cache_dir, local_files_only, token) -> Path:
    from huggingface_hub import hf_hub_download

    def fetch(filename: str) -> Path:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
            )
        )

    try:
        config_path = fetch(CONFIG_NAME)
        weights_path = fetch(WEIGHTS_NAME)
    except Exception as e:  # huggingface_hub raises many types; all mean "not available here"
        where = f"{repo_id}@{revision}" if revision else repo_id
        offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
        hint = (
            "it is not in the local hub cache and downloads are off (offline mode): download it on a "
            f"connected machine with `hf download {repo_id}` (or one Lifter.from_pretrained call) and copy the cache, or pass a local folder"
            if offline
            else "check the name and revision, your network, or pass a local folder"
        )
        bundled = f" Bundled names (no network needed): {sorted(BUNDLED)}." if BUNDLED else ""
        raise ModelNotFoundError(f"could not get model {where!r} from the hub: {hint}.{bundled} ({type(e).__name__}: {e})") from e
    if config_path.parent != weights_path.parent:  # pragma: no cover - hub snapshots keep files together
        raise ModelNotFoundError(f"{repo_id}: config and weights resolved to different folders")
    return config_path.parent
