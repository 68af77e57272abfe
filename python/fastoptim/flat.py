"""The flat parameter store: every parameter in one buffer, every gradient in another."""

from __future__ import annotations

import weakref
from typing import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["FlatParams"]

# Alignment of every buffer fastoptim allocates: one cache line, a whole AVX-512 vector.
ALIGN_BYTES = 64

# Stores by id of their raw buffer, to recognise their views when handed to an optimizer.
_STORES: "weakref.WeakValueDictionary[int, FlatParams]" = weakref.WeakValueDictionary()


def aligned_zeros(n: int) -> np.ndarray:
    """Returns a zeroed float32 array of n elements whose data starts on a 64-byte boundary."""
    pad = ALIGN_BYTES // 4
    raw = np.zeros(n + pad, dtype=np.float32)
    off = (-raw.ctypes.data % ALIGN_BYTES) // 4
    return raw[off : off + n]


def split_views(buf: np.ndarray, shapes: Sequence[tuple]) -> list:
    """Views of consecutive pieces of the flat `buf`, one per shape, without gaps."""
    views, off = [], 0
    for shape in shapes:
        n = int(np.prod(shape, dtype=np.int64))
        views.append(buf[off : off + n].reshape(shape))
        off += n
    return views


class FlatParams:
    """Parameters and gradients, each in one contiguous, 64-byte-aligned float32 buffer.

    ``FlatParams(arrays)`` copies the arrays (any real dtype, converted to float32) into the
    buffer ``data``; ``FlatParams([(784, 128), (128,)])`` makes zero-filled parameters of those
    shapes. ``params`` and ``grads`` are lists of NumPy views (same shapes) into ``data`` and
    ``grad``: train with the views, write gradients into ``grads`` (``np.matmul(..., out=
    store.grads[0])``), and an optimizer built on the store steps every parameter in one native
    call over contiguous memory, with ``opt.step()`` and no arguments::

        store = fastoptim.FlatParams([W0, b0])
        W, b = store.params
        opt = fastoptim.Adam(store, lr=1e-3)
        ...                      # forward/backward writing store.grads[0], store.grads[1]
        opt.step()

    Param groups may take any of the views: ``Adam([{"params": store.params[:1], "lr": 0.1},
    {"params": store.params[1:]}])``.
    """

    def __init__(self, arrays: Iterable):
        items = list(arrays)
        shapes, values = [], []
        for i, a in enumerate(items):
            if isinstance(a, (int, np.integer)) or (
                isinstance(a, tuple) and all(isinstance(d, (int, np.integer)) for d in a)
            ):
                shape = (int(a),) if isinstance(a, (int, np.integer)) else tuple(int(d) for d in a)
                if any(d < 0 for d in shape):
                    raise ValueError(f"FlatParams: shape {i} has a negative dimension: {shape}")
                shapes.append(shape)
                values.append(None)
                continue
            arr = np.asarray(a)
            if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
                raise TypeError(f"FlatParams: arrays[{i}] must be real numbers, got {arr.dtype}")
            shapes.append(arr.shape)
            values.append(arr)
        total = sum(int(np.prod(s, dtype=np.int64)) for s in shapes)
        self.data = aligned_zeros(total)
        self.grad = aligned_zeros(total)
        self.params = split_views(self.data, shapes)
        self.grads = split_views(self.grad, shapes)
        for view, value in zip(self.params, values):
            if value is not None:
                view[...] = value
        self._offsets = {}
        off = 0
        for i, s in enumerate(shapes):
            self._offsets[off, int(np.prod(s, dtype=np.int64))] = i
            off += int(np.prod(s, dtype=np.int64))
        _STORES[id(self.data.base)] = self

    def zero_grad(self) -> None:
        """Sets every gradient to zero."""
        self.grad.fill(0.0)

    def grad_for(self, param: np.ndarray):
        """The gradient view that belongs to ``param`` (a view of this store), else None."""
        if param.base is not self.data.base:
            return None
        off = (param.__array_interface__["data"][0] - self.data.ctypes.data) // 4
        i = self._offsets.get((off, param.size))
        return None if i is None else self.grads[i].reshape(param.shape)

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.params)

    def __getitem__(self, i):
        return self.params[i]

    def __repr__(self) -> str:
        return f"FlatParams({len(self.params)} arrays, {self.data.size} elements)"


def owning_store(param) -> "FlatParams | None":
    """The FlatParams whose buffer `param` is a view of, if any."""
    base = getattr(param, "base", None)
    return None if base is None else _STORES.get(id(base))
