"""Write files atomically: to a temporary file beside the target, renamed when complete."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import FolderBusyError, InputFileError, OutputExistsError, OutputPathError

#: Key of ``config.json`` holding the digest of the folder's ``model.safetensors``: it belongs
#: to the saved folder, not to the architecture, so the configs ignore it and
#: :func:`poselift.weights.verify_weights` checks it on load.
DIGEST_FIELD = "weights_digest"
#: Key of ``config.json`` holding the SHA-256 of each ONNX graph shipped in the folder
#: (``{"model.onnx": ...}``), recorded when a graph is exported there; like the weights
#: digest it belongs to the folder, and :func:`poselift.onnx.open_graph` checks it.
GRAPHS_FIELD = "graph_digests"

__all__ = [
    "atomic_path", "atomic_dir", "install_dir", "install_file", "folder_lock", "file_sha256", "read_capped", "check_regular",
    "natural_key", "output_file",
]


def natural_key(name: str) -> list:
    """Sort key for file names in natural order (``frame2`` before ``frame10``), case ignored."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` if the block succeeds.

    On any error the temporary file is removed, so a failed write leaves neither a partial
    file nor a stray temporary one. The folder must exist (``OSError`` otherwise). The file
    gets the permissions a plain ``open(path, "w")`` would give it (``mkstemp`` makes it
    private to the owner). ``replace=False``: the final step is a hard link, which fails with
    ``FileExistsError`` if ``path`` exists by then (written meanwhile by another process),
    instead of silently replacing it.
    """
    path = Path(path)
    # the temporary name keeps the suffix: writers such as matplotlib pick the format from it
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # after the write: some writers (safetensors) recreate the file
        install_file(tmp, path, replace)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False, own: str = "*") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` if the block succeeds, and
    is removed on any error, so readers never see a half-written folder. The folder gets the
    permissions a plain ``mkdir`` would give it.

    An existing ``path`` raises ``FileExistsError`` (an empty folder is simply replaced), unless
    ``replace`` is true and it holds only regular files whose names match the glob ``own`` (the
    writer's own files): then it is replaced. Anything else in it, a link or a sub-folder, is
    never deleted: ``FileExistsError`` names it and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes the folder private to the owner
        yield tmp
        install_dir(tmp, path, replace, own)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def output_file(path: str | os.PathLike, overwrite: bool) -> Iterator[Path]:
    """:func:`atomic_path` for an output file, one that appeared meanwhile (without
    ``overwrite``) raised as :class:`~poselift.errors.OutputExistsError`."""
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            yield tmp
    except FileExistsError:
        raise OutputExistsError(
            f"{Path(path).resolve()} exists (written by another process meanwhile?) and was not replaced", option="overwrite=True"
        ) from None


def _link_exclusive(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that exists (``FileExistsError``), atomically."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a small window)
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} exists") from None
        os.rename(tmp, path)
        return
    tmp.unlink()


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the block (``flock`` on the folder itself, so
    no lock file is left behind and a killed process releases it). ``FileExistsError`` if
    another process holds it (:class:`FolderBusyError`). Without ``fcntl`` (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(f"another process is writing to {folder}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def foreign_entries(folder: Path, own: str) -> list[str]:
    """Names in ``folder`` that are not regular files matching the glob ``own``."""
    return sorted(
        p.name for p in folder.iterdir() if p.is_symlink() or not p.is_file() or not fnmatch.fnmatchcase(p.name, own)
    )


def install_file(tmp: Path, path: Path, replace: bool) -> None:
    """Give the complete file ``tmp`` the name ``path``: replacing it, or (``replace=False``)
    only if it does not exist (``FileExistsError``), by :func:`atomic_path`'s rules."""
    if replace:
        os.replace(tmp, path)
    else:
        _link_exclusive(Path(tmp), Path(path))


def install_dir(tmp: Path, path: Path, replace: bool, own: str = "*") -> None:
    """Give the complete folder ``tmp`` the name ``path``, by :func:`atomic_dir`'s rules."""
    tmp, path = Path(tmp), Path(path)
    try:
        os.rename(tmp, path)  # atomic; refuses a non-empty folder or a file at ``path``
        return
    except OSError as e:
        if not replace or path.is_symlink() or not path.is_dir():
            raise FileExistsError(f"{path} exists and was not replaced") from e
    if foreign_entries(path, own):
        raise FileExistsError(f"{path} holds {', '.join(foreign_entries(path, own)[:5])}, not written here: not replaced")
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
    os.replace(path, old)  # onto the empty ``old``: the previous folder moved aside whole
    foreign = foreign_entries(old, own)  # files added since the check above go back with it
    if foreign:
        os.rename(old, path)
        raise FileExistsError(f"{path} holds {', '.join(foreign[:5])}, not written here: not replaced")
    try:
        os.rename(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.rename(old, path)
        raise
    for p in old.iterdir():  # only regular files matching ``own``, checked above
        p.unlink()
    old.rmdir()


def read_capped(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises ``ValueError`` (a message naming the file) for anything but a regular file (a FIFO
    would block forever, ``/dev/zero`` never ends) and for a file over ``limit`` bytes;
    ``FileNotFoundError`` and ``IsADirectoryError`` as ``open`` would.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without waiting for a writer
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{path} is a folder")
        if not stat.S_ISREG(mode):
            raise InputFileError(f"{path} is {_kind(mode)}, not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputFileError(f"{path} is larger than {limit:,} bytes, more than a file of this kind can need")
    return data


def check_regular(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` unless ``path`` is a regular file (links followed); for files that
    another library opens."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{path} is {_kind(mode)}, not a regular file")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(path: Path) -> None:
    """Refuse ``path`` (a file or folder to write) if it cannot be created or written, without
    creating anything: its nearest existing ancestor must be a writable folder. Called before
    the work, so a bad location fails at once."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise OutputPathError(f"cannot create {path}: {existing} is a file, not a folder.")
    folder = existing if existing.is_dir() else existing.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {path}: {folder} is not writable.")
