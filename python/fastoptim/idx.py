"""Reads IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian. Malformed files raise ``ValueError``
naming the file and what is wrong, rather than returning an array of the wrong shape.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "read_idx"]

# IDX type code -> element type (big-endian).
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzipped (recognised by content, not name)."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzipped or not), in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _TYPES or ndim == 0:
        raise ValueError(f"{path}: not an IDX file (magic number 0x{data[:4].hex()}; expected "
                         "0x0000, a type code in 08 09 0b 0c 0d 0e, and at least one dimension)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: IDX header truncated ({len(data)} bytes, {ndim} dimensions "
                         f"need {header})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    dtype = np.dtype(_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX data of shape {shape} ({dtype.name}) needs {expected} "
                         f"bytes, the file has {len(data) - header}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, name: str) -> Path:
    """`directory/name` or `directory/name.gz`, whichever exists."""
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory}: no {name} or {name}.gz (MNIST-style IDX files "
                            "expected: train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz)")


def _images_and_labels(directory: Path, prefix: str) -> tuple:
    """(images as float32 rows in [0, 1], labels as int64) of one MNIST split."""
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{directory}: {prefix} images must be uint8 of shape (n, rows, cols), "
                         f"got {images.dtype.name} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{directory}: {prefix} labels must be uint8 of shape (n,), got "
                         f"{labels.dtype.name} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} {prefix} images but {len(labels)} labels")
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int64)


def load_mnist(directory: os.PathLike | str) -> tuple:
    """(x_train, y_train, x_test, y_test) from MNIST-style IDX files in `directory`.

    Reads ``train-*`` and ``t10k-*`` images and labels (MNIST, Fashion-MNIST, and any dataset
    in their layout); images come back as float32 rows scaled to [0, 1].
    """
    directory = Path(directory)
    x, y = _images_and_labels(directory, "train")
    xt, yt = _images_and_labels(directory, "t10k")
    if x.shape[1] != xt.shape[1]:
        raise ValueError(f"{directory}: train images have {x.shape[1]} pixels, t10k images "
                         f"{xt.shape[1]}")
    return x, y, xt, yt
