"""The flat parameter store: every parameter in one buffer, every gradient in another."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, Tuple, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FlatParams"]

# Alignment of every buffer fastoptim allocates: one cache line, a whole AVX-512 vector.
ALIGN_BYTES = 64

# Stores by id of their raw buffer, to recognise their views when handed to an optimizer.
_STORES: "weakref.WeakValueDictionary[int, FlatParams]" = weakref.WeakValueDictionary()


def aligned_zeros(n: int, dtype: Any = np.float32) -> NDArray[Any]:
    """Returns a zeroed array of n elements (float32 unless `dtype` says otherwise) whose data
    starts on a 64-byte boundary."""
    size = np.dtype(dtype).itemsize
    raw = np.zeros(n + ALIGN_BYTES // size, dtype=dtype)
    off = (-raw.ctypes.data % ALIGN_BYTES) // size
    return raw[off : off + n]


def split_views(buf: NDArray[np.float32],
                shapes: Sequence[tuple[int, ...]]) -> list[NDArray[np.float32]]:
    """Views of consecutive pieces of the flat `buf`, one per shape, without gaps."""
    views: list[NDArray[np.float32]] = []
    off = 0
    for shape in shapes:
        n = int(np.prod(shape, dtype=np.int64))
        views.append(buf[off : off + n].reshape(shape))
        off += n
    return views


class Views(Tuple[NDArray[np.float32], ...]):
    """A store's ``params`` or ``grads``: a tuple of NumPy views into its buffer.

    A tuple, because replacing an item would change nothing the optimizer reads (it steps the
    buffer): ``store.grads[0] = g`` raises ``TypeError`` saying to write into the view
    instead. In-place operators still work (``store.grads[0] += g`` writes into the view).
    """

    _name: str  # "params" or "grads", for the error message

    def __new__(cls, views: Iterable[NDArray[np.float32]], name: str = "params") -> Views:
        self = super().__new__(cls, views)
        self._name = name
        return self

    if not TYPE_CHECKING:  # so that type checkers flag item assignment as well
        def __setitem__(self, index, value):
            if isinstance(index, (int, np.integer)) and -len(self) <= index < len(self) \
                    and value is self[index]:
                return  # `store.grads[i] += g`: the view itself, updated in place
            raise TypeError(_replace_message(self._name, index))

        def __delitem__(self, index):
            raise TypeError(f"the arrays of FlatParams.{self._name} cannot be removed: a store's "
                            "parameters are fixed when it is made")


def _replace_message(name: str, index: object) -> str:
    """What `store.<name>[index] = value` says: the view is what to write into."""
    v = "g" if name == "grads" else "w"
    if isinstance(index, (int, np.integer)):
        shown = i = str(int(index))
    else:
        shown = (":".join("" if x is None else str(x) for x in (index.start, index.stop))
                 if isinstance(index, slice) else repr(index))
        i, v = "i", v + "_i"
    return (f"store.{name}[{shown}] = {v} replaces nothing: store.{name} holds views into the "
            f"store's buffer, which the optimizer reads. Write into the view: "
            f"np.copyto(store.{name}[{i}], {v}) or store.{name}[{i}][...] = {v}")


# FlatParams' attributes that are fixed once it is made (replacing one would change nothing the
# optimizers read).
_FIXED = {"data": "store.data[...] = w", "grad": "store.grad[...] = g",
          "params": "np.copyto(store.params[i], w)", "grads": "np.copyto(store.grads[i], g)"}


class FlatParams:
    """Parameters and gradients, each in one contiguous, 64-byte-aligned float32 buffer.

    ``FlatParams(arrays)`` copies the arrays (any real dtype, converted to float32) into the
    buffer ``data``; ``FlatParams([(784, 128), (128,)])`` makes zero-filled parameters of those
    shapes. ``params`` and ``grads`` are tuples of NumPy views (same shapes) into ``data`` and
    ``grad``: train with the views, write gradients into ``grads`` (``np.matmul(..., out=
    store.grads[0])`` or ``np.copyto(store.grads[0], g)``; ``store.grads[0] = g`` raises, as
    it would change nothing), and an optimizer built on the store steps every parameter in one
    native call over contiguous memory, with ``opt.step()`` and no arguments::

        store = fastoptim.FlatParams([W0, b0])
        W, b = store.params
        opt = fastoptim.Adam(store, lr=1e-3)
        ...                      # forward/backward writing store.grads[0], store.grads[1]
        opt.step()

    Param groups may take any of the views: ``Adam([{"params": store.params[:1], "lr": 0.1},
    {"params": store.params[1:]}])``.
    """

    def __init__(self, arrays: Iterable[Union[ArrayLike, int, Tuple[int, ...]]]) -> None:
        items = list(arrays)
        shapes: list[tuple[int, ...]] = []
        values: list[np.ndarray | None] = []
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
        self._data = aligned_zeros(total)
        self._grad = aligned_zeros(total)
        self._params = Views(split_views(self._data, shapes), "params")
        self._grads = Views(split_views(self._grad, shapes), "grads")
        for view, value in zip(self._params, values):
            if value is not None:
                view[...] = value
        self._offsets: dict[tuple[int, int], int] = {}
        off = 0
        for i, s in enumerate(shapes):
            self._offsets[off, int(np.prod(s, dtype=np.int64))] = i
            off += int(np.prod(s, dtype=np.int64))
        _STORES[id(self._data.base)] = self

    @property
    def data(self) -> NDArray[np.float32]:
        """Every parameter, one after the other, in one 64-byte-aligned float32 buffer."""
        return self._data

    @property
    def grad(self) -> NDArray[np.float32]:
        """Every gradient, laid out as ``data``."""
        return self._grad

    @property
    def params(self) -> Views:
        """The parameters: views into ``data``, in the order and shapes the store was made with."""
        return self._params

    @property
    def grads(self) -> Views:
        """The gradients: views into ``grad``, one per parameter, of the same shape."""
        return self._grads

    if not TYPE_CHECKING:  # type checkers flag assignment to the read-only properties
        def __setattr__(self, name, value):
            if name in _FIXED:
                raise AttributeError(
                    f"FlatParams.{name} cannot be replaced: optimizers hold the store's buffers. "
                    f"Write into it instead ({_FIXED[name]})")
            object.__setattr__(self, name, value)

    def zero_grad(self) -> None:
        """Sets every gradient to zero."""
        self._grad.fill(0.0)

    def grad_for(self, param: NDArray[Any]) -> NDArray[np.float32] | None:
        """The gradient view that belongs to ``param`` (a view of this store), else None."""
        if param.base is not self._data.base:
            return None
        off = (param.__array_interface__["data"][0] - self._data.ctypes.data) // 4
        i = self._offsets.get((off, param.size))
        return None if i is None else self._grads[i].reshape(param.shape)

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[NDArray[np.float32]]:
        return iter(self._params)

    @overload
    def __getitem__(self, i: int) -> NDArray[np.float32]: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[NDArray[np.float32], ...]: ...

    def __getitem__(
        self, i: int | slice
    ) -> NDArray[np.float32] | tuple[NDArray[np.float32], ...]:
        return self._params[i]

    def __repr__(self) -> str:
        return f"FlatParams({len(self.params)} arrays, {self.data.size} elements)"


def owning_store(param: object) -> FlatParams | None:
    """The FlatParams whose buffer `param` is a view of, if any."""
    base = getattr(param, "base", None)
    return None if base is None else _STORES.get(id(base))


def store_grads(params: Sequence[Any]) -> list[NDArray[np.float32] | None]:
    """The gradient view of each of `params` in its FlatParams store (None: not a store's)."""
    out: list[NDArray[np.float32] | None] = []
    for p in params:
        store = owning_store(p)
        out.append(None if store is None else store.grad_for(p))
    return out


def fewest_arrays(params: Sequence[Any],
                  grads: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
    """Arrays that together are exactly `grads` (the store gradients of distinct `params`): a
    store's whole ``grad`` buffer where all its parameters are among `params`, else the views.
    """
    count: dict[int, int] = {}
    for p in params:
        key = id(owning_store(p))
        count[key] = count.get(key, 0) + 1
    whole: dict[int, FlatParams] = {}
    views = []
    for p, g in zip(params, grads):
        store = owning_store(p)
        if store is not None and count[id(store)] == len(store):
            whole[id(store)] = store
        else:
            views.append(g)
    return [s.grad for s in whole.values()] + views
