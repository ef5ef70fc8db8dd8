"""Keypoints in ``.npy`` and ``.npz`` arrays, read without unpickling and within size limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._files import check_regular
from ..errors import InputFileError, PoseliftError, ShapeError

from .data import _check_some_joint, MAX_ARRAY_BYTES, KeypointData

__all__ = ["_read_numpy"]


def _check_npy_size(path: Path) -> None:
    """Refuse an ``.npy`` whose header promises more data than the file holds (truncated or
    corrupt), before numpy allocates an array of the promised size."""
    with open(path, "rb") as fh:
        _, _, _, needed = _npy_header(fh, str(path))
        left = path.stat().st_size - fh.tell()
    if needed > left:
        raise InputFileError(f"{path}: the header announces {needed:,} bytes of data but the file holds {left:,}: it is truncated")


def _npy_header(fh: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data bytes)`` of the ``.npy`` header at ``fh``; refuses
    object arrays (pickles) and arrays over :data:`MAX_ARRAY_BYTES`."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, fortran, dtype = read_header(fh)
    if dtype.hasobject:
        raise InputFileError(
            f"{where} cannot be read as a numeric numpy file: it holds Python objects (they would need pickle); "
            "write it with numpy.save / numpy.savez from a numeric array"
        )
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize  # float: no int64 overflow for absurd shapes
    if needed > MAX_ARRAY_BYTES:
        raise InputFileError(f"{where}: the header announces {needed:,.0f} bytes of data, more than the {MAX_ARRAY_BYTES:,} poselift reads")
    return shape, fortran, dtype, int(needed)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, each member's header checked before any data is read, and the
    data read as it decompresses: a member whose header promises more than it holds is refused
    without allocating the promised size (numpy's own reader allocates it first)."""
    import zipfile

    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            where = f"{path}, member {info.filename}"
            with archive.open(info) as fh:
                shape, fortran, dtype, needed = _npy_header(fh, where)
                parts, got = [], 0
                while got < needed:
                    block = fh.read(min(needed - got, 1 << 24))
                    if not block:
                        break
                    parts.append(block)
                    got += len(block)
            if got < needed:
                raise InputFileError(f"{where}: the header announces {needed:,} bytes of data but the member holds {got:,}: it is truncated")
            data = bytearray().join(parts)  # writable, one allocation of what the member really held
            del parts
            array = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)))
            out[info.filename[: -len(".npy")]] = array.reshape(shape, order="F" if fortran else "C")
    return out


def _read_numpy(path: Path, layout: str | None) -> KeypointData:
    frames = None
    try:
        check_regular(path)  # a FIFO would block numpy forever, a device never end
        if path.suffix.lower() == ".npy":
            _check_npy_size(path)
            kp, conf = np.load(path, allow_pickle=False), None
        else:
            data = _load_npz(path)
            keys = set(data)
            if "keypoints" not in keys:
                raise InputFileError(
                    f"{path}: an .npz needs a 'keypoints' array (and optionally 'confidence', 'frames', "
                    f"'layout'); it holds {sorted(keys)}"
                )
            kp = data["keypoints"]
            conf = data["confidence"] if "confidence" in keys else None
            if "frames" in keys:
                frames = [str(f) for f in np.atleast_1d(data["frames"])]
            if layout is None and "layout" in keys:
                layout = str(data["layout"])
    except PoseliftError:
        raise
    except Exception as e:  # numpy and zipfile raise many types (ValueError, EOFError, SyntaxError, ...)
        # object arrays (would need pickle), truncated or corrupt files and headers, bad zip members
        raise InputFileError(
            f"{path}: cannot be read as a numeric numpy file ({type(e).__name__}: {e}); "
            "write it with numpy.save / numpy.savez from a numeric array"
        ) from None
    try:
        out = KeypointData.from_array(kp, conf, layout=layout, frames=frames)
    except ShapeError as e:
        raise type(e)(f"{path}: {e}") from None
    _check_some_joint(out.confidence, out.num_people, str(path))
    return out
