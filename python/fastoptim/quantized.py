"""int8 optimizer state (``state_dtype="int8"``): 8-bit codes in blocks, one float32 scale each."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core

__all__ = ["Int8State", "BLOCK"]

#: Elements per block: each block of a tensor's state has its own scale.
BLOCK: int = _core.INT8_BLOCK


def blocks(size: int) -> int:
    """How many blocks (and scales) a tensor of `size` elements has."""
    return -(-size // BLOCK)


class Int8State:
    """One state array of an optimizer with ``state_dtype="int8"``.

    The values are kept in blocks of :data:`BLOCK` consecutive elements (in C order), each an
    8-bit code per element (``codes``, uint8, the parameter's shape) and one float32 scale
    (``scales``, one per block): the block's largest magnitude. A code is a small float, 0 for
    zero and the top code for the scale. A block holding a negative value uses a signed map
    (sign, 3 exponent and 4 mantissa bits: magnitudes down to 2^-8 of the scale); a block of
    values >= 0 (second moments) the unsigned map (5 exponent and 3 mantissa bits: down to
    2^-32 of the scale, since their range is the gradient's squared), and stores its scale
    negated to say so. Values round to the nearest code.

    ``np.asarray(state)`` (or :meth:`numpy`) dequantizes it to float32. In ``opt.state`` the
    codes and scales are live views of the optimizer's buffers; ``state_dict()`` holds copies.
    """

    __slots__ = ("codes", "scales")

    def __init__(self, codes: NDArray[np.uint8], scales: NDArray[np.float32]) -> None:
        codes, scales = np.asarray(codes), np.asarray(scales)
        if codes.dtype != np.uint8 or scales.dtype != np.float32 or scales.ndim != 1:
            raise TypeError("Int8State takes uint8 codes and a 1-D float32 array of scales")
        if scales.size != blocks(codes.size):
            raise ValueError(f"Int8State: {codes.size} codes need {blocks(codes.size)} block "
                             f"scales, got {scales.size}")
        self.codes, self.scales = codes, scales

    @classmethod
    def quantize(cls, x: Any) -> Int8State:
        """The int8 state of float values `x` (each block rounded to its nearest codes)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = cls(np.zeros(x.shape, np.uint8), np.zeros(blocks(x.size), np.float32))
        out.assign(x)
        return out

    def assign(self, source: Any) -> None:
        """Sets the values in place: from another Int8State exactly, else quantized."""
        if isinstance(source, Int8State):
            self.codes[...] = source.codes.reshape(self.codes.shape)
            self.scales[...] = source.scales
            return
        x = np.ascontiguousarray(source, dtype=np.float32)
        if x.size != self.codes.size:
            raise ValueError(f"cannot assign {x.size} values to int8 state of {self.codes.size}")
        if self.codes.flags.c_contiguous:
            _core.quantize_int8(x, self.codes, self.scales)
        else:
            codes = np.empty(self.codes.shape, np.uint8)
            _core.quantize_int8(x, codes, self.scales)
            self.codes[...] = codes

    def numpy(self) -> NDArray[np.float32]:
        """The values, dequantized to a new float32 array of the parameter's shape."""
        out = np.empty(self.codes.shape, np.float32)
        _core.dequantize_int8(np.ascontiguousarray(self.codes), np.ascontiguousarray(self.scales),
                              out)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        out = self.numpy()
        return out if dtype is None else out.astype(dtype)

    def copy(self) -> Int8State:
        return Int8State(self.codes.copy(), self.scales.copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return self.codes.shape

    @property
    def size(self) -> int:
        return int(self.codes.size)

    @property
    def nbytes(self) -> int:
        """Bytes of state: one per element and four per block."""
        return int(self.codes.nbytes + self.scales.nbytes)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Int8State) and self.codes.shape == other.codes.shape
                and np.array_equal(self.codes, other.codes)
                and np.array_equal(self.scales.view(np.uint32), other.scales.view(np.uint32)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Int8State(shape={self.shape}, blocks={self.scales.size})"
