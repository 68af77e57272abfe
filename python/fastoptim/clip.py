"""Gradient clipping, by global norm and by value (torch.nn.utils' semantics, in place)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence, Union

import numpy as np
from numpy.typing import NDArray

from . import _core
from .optimizer import _TORCH_GRADS, _check_arrays, _is_torch

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


#: The gradients clipping takes: one float32 array or a list (tuple) of them, changed in place.
GradsArg = Union[NDArray[np.float32], Sequence[NDArray[np.float32]]]


def _as_list(grads: object) -> list[Any]:
    if isinstance(grads, np.ndarray):
        return [grads]
    if isinstance(grads, (list, tuple)):
        return list(grads)
    if _is_torch(grads):
        raise TypeError(f"grads is a torch.Tensor: {_TORCH_GRADS}, or clip tensors with "
                        "torch.nn.utils.clip_grad_norm_")
    raise TypeError(f"grads must be an array or a list of arrays, got {type(grads).__name__}")


def _real(value: object, name: str) -> float:
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid {name}: {value} (must be finite and >= 0)")
    return value


def clip_grad_norm_(grads: GradsArg, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Scales ``grads`` in place so that their global ``norm_type``-norm is at most ``max_norm``.

    .. math::
        n = \Bigl(\sum_{\text{all elements}} |g|^p\Bigr)^{1/p}, \qquad
        g \leftarrow g \cdot \min\Bigl(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Bigr)

    as ``torch.nn.utils.clip_grad_norm_`` (``norm_type=inf``: the largest magnitude). Returns
    the total norm before clipping. The norm is accumulated in double over fixed blocks, so it is
    identical for any thread count. ``error_if_nonfinite``: raise ``RuntimeError`` (and change
    nothing) if the norm is NaN or infinite.
    """
    arrays = _as_list(grads)
    max_norm = _real(max_norm, "max_norm")
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError(f"norm_type must be a number, got {norm_type!r}") from None
    if not p > 0:
        raise ValueError(f"Invalid norm_type: {norm_type} (must be > 0 or inf)")
    _check_arrays(arrays, "grads")  # writable float32 arrays, before anything is read/changed
    if not arrays:
        return 0.0
    total = _core.norm(arrays, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients is non-finite, so it cannot be clipped. "
            "To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    coef = _core.clip_coefficient(max_norm, total)
    if coef != 1.0:
        _core.scale(arrays, coef)
    return total


def clip_grad_value_(grads: GradsArg, clip_value: float) -> None:
    """Clamps every gradient element into ``[-clip_value, clip_value]``, in place (one pass)."""
    arrays = _as_list(grads)
    c = _real(clip_value, "clip_value")
    _check_arrays(arrays, "grads")
    for a in arrays:
        np.clip(a, -c, c, out=a)
