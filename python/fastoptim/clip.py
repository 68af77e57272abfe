"""Gradient clipping, by global norm and by value (torch.nn.utils' semantics, in place)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _as_list(grads) -> list:
    if isinstance(grads, np.ndarray):
        return [grads]
    if isinstance(grads, (list, tuple)):
        return list(grads)
    raise TypeError(f"grads must be an array or a list of arrays, got {type(grads).__name__}")


def _real(value, name: str) -> float:
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid {name}: {value} (must be finite and >= 0)")
    return value


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False) -> float:
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
    _core.check_params(arrays)  # writable float32 arrays, before anything is read or changed
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


def clip_grad_value_(grads, clip_value) -> None:
    """Clamps every gradient element into ``[-clip_value, clip_value]``, in place (one pass)."""
    arrays = _as_list(grads)
    c = _real(clip_value, "clip_value")
    _core.check_params(arrays)
    for a in arrays:
        np.clip(a, -c, c, out=a)
