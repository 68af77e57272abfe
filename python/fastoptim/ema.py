"""Exponential moving average of the weights."""

from __future__ import annotations

import contextlib
import copy
import numbers
from collections.abc import Mapping
from typing import Any, Iterable, Iterator, Union

import numpy as np
from numpy.typing import NDArray

from . import _core
from .flat import FlatParams, aligned_zeros, split_views
from .optimizer import Optimizer, _check_arrays, _param_list, _saved_arrays, _unit_interval

__all__ = ["EMA"]


class EMA:
    r"""An exponential moving average of parameters (Polyak averaging), updated natively.

    .. math::
        \bar\theta \leftarrow \bar\theta + (1 - \delta)\,(\theta - \bar\theta)

    with :math:`\delta` = ``decay`` in [0, 1]; the average starts equal to the parameters.
    ``update()`` after each optimizer step; ``swap()`` exchanges the parameters and the average
    in place (call it again to undo), and ``with ema.average_parameters():`` evaluates with the
    averaged weights and restores the trained ones on exit. ``params`` is a list of float32
    arrays, a :class:`FlatParams`, or an optimizer (its parameters).

    Example::

        ema = fastoptim.EMA(store, decay=0.999)
        for batch in data:
            ...; opt.step(); ema.update()
        with ema.average_parameters():
            evaluate()
    """

    def __init__(self, params: Union[Optimizer, FlatParams, NDArray[np.float32],
                                     Iterable[NDArray[np.float32]]],
                 decay: float = 0.999) -> None:
        if isinstance(params, Optimizer):
            params = params._params
        elif isinstance(params, FlatParams):
            params = params.params
        #: The parameters it averages (the arrays themselves).
        self.params: list[NDArray[np.float32]] = _param_list(params, "params")
        _check_arrays(self.params)
        self._decay = _unit_interval("decay", decay)
        self.shadow = split_views(aligned_zeros(sum(p.size for p in self.params)),
                                  [p.shape for p in self.params])
        for s, p in zip(self.shadow, self.params):
            s[...] = p
        self.num_updates = 0
        self._swapped = False

    @property
    def decay(self) -> float:
        return self._decay

    @decay.setter
    def decay(self, value: float) -> None:
        self._decay = _unit_interval("decay", value)

    def update(self) -> None:
        """Moves the average towards the current parameters (one native pass)."""
        if self._swapped:
            raise RuntimeError("EMA.update() while the averaged weights are swapped in")
        _core.ema_update(self.shadow, self.params, self._decay)
        self.num_updates += 1

    def swap(self) -> None:
        """Exchanges parameters and average in place (the optimizer sees the swapped values)."""
        _core.swap(self.params, self.shadow)
        self._swapped = not self._swapped

    def __enter__(self) -> "EMA":
        """``with ema:`` evaluates with the averaged weights, as average_parameters()."""
        self.swap()
        return self

    def __exit__(self, *exc: object) -> None:
        self.swap()

    @contextlib.contextmanager
    def average_parameters(self) -> Iterator[EMA]:
        """Context in which the parameters hold the average; the trained ones come back after."""
        self.swap()
        try:
            yield self
        finally:
            self.swap()

    def state_dict(self) -> dict[str, Any]:
        """``{"decay", "num_updates", "swapped", "shadow"}`` (the average's arrays copied)."""
        return {"decay": copy.deepcopy(self.decay), "num_updates": self.num_updates,
                "swapped": self._swapped, "shadow": [s.copy() for s in self.shadow]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores decay, counter and average; checked before anything changes."""
        if not isinstance(state_dict, Mapping):
            raise ValueError("EMA state_dict must be a dict")
        missing = {"decay", "num_updates", "shadow"} - set(state_dict)
        if missing:
            raise ValueError(f"EMA state_dict lacks {sorted(missing)}")
        decay = _unit_interval("decay", state_dict["decay"])
        n = state_dict["num_updates"]
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"EMA num_updates must be an int >= 0, got {n!r}")
        swapped = bool(state_dict.get("swapped", False))
        arrays = _saved_arrays(state_dict["shadow"], self.shadow, "EMA shadow")
        if swapped != self._swapped:
            raise ValueError("EMA state_dict was saved with the average swapped "
                             f"{'in' if swapped else 'out'}; swap() first")
        for mine, a in zip(self.shadow, arrays):
            mine[...] = a
        self._decay, self.num_updates = decay, int(n)
