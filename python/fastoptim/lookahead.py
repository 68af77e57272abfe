"""Lookahead: slow weights that follow any optimizer's fast weights."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from .flat import aligned_zeros, split_views
from .optimizer import (GradsLike, Optimizer, ParamGroup, StateDict, _saved_arrays, _StateView,
                        _unit_interval)

__all__ = ["Lookahead"]


class Lookahead:
    r"""Lookahead (Zhang, Lucas, Hinton & Ba, 2019) around any fastoptim optimizer.

    The inner optimizer updates the (fast) parameters at every step; every ``k`` steps the slow
    weights, kept by the wrapper, move towards them and the fast weights restart from there:

    .. math::
        \phi \leftarrow \phi + \alpha\,(\theta - \phi), \qquad \theta \leftarrow \phi

    with :math:`\alpha` = ``alpha`` in [0, 1] and ``k`` >= 1. The slow weights start equal to
    the parameters; the interpolation is one native pass over all parameters. ``param_groups``
    are the inner optimizer's (so learning-rate schedules work through the wrapper), and
    ``state_dict()`` holds both the inner state and the slow weights.

    Example::

        opt = fastoptim.Lookahead(fastoptim.Adam(params, lr=1e-3), k=5, alpha=0.5)
        opt.step(grads)
    """

    _k: int
    _alpha: float

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError("Lookahead wraps a fastoptim optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.k = k
        self.alpha = alpha  # validated by the setter
        self._counter = 0
        self._params: list[NDArray[np.float32]] = []
        self._slow: list[NDArray[np.float32]] = []
        self._attach()

    # Hyperparameters, validated on assignment.
    @property
    def k(self) -> int:
        return self._k

    @k.setter
    def k(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"Lookahead k must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"Invalid k: {value} (must be >= 1)")
        self._k = int(value)

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = _unit_interval("alpha", value)

    @property
    def param_groups(self) -> list[ParamGroup]:
        """The inner optimizer's param groups."""
        return self.optimizer.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        """The inner optimizer's defaults."""
        return self.optimizer.defaults

    @property
    def state(self) -> _StateView:
        """The inner optimizer's per-parameter state."""
        return self.optimizer.state

    def _attach(self) -> None:
        """(Re)binds the slow weights to the inner optimizer's parameters; new ones start equal."""
        params = self.optimizer._params
        old = {id(p): s for p, s in zip(self._params, self._slow)}
        slow = split_views(aligned_zeros(sum(p.size for p in params)), [p.shape for p in params])
        for p, s in zip(params, slow):
            s[...] = old.get(id(p), p)
        self._params, self._slow = params, slow

    def step(self, grads: GradsLike = None) -> None:
        """One inner step; every k-th step, the slow/fast synchronisation (one native pass).

        A step the inner optimizer skips (``nonfinite="skip"``) does not count toward k.
        """
        if self.optimizer._params is not self._params:  # a param group was added
            self._attach()
        skipped = self.optimizer.skipped_steps
        self.optimizer.step(grads)
        if self.optimizer.skipped_steps != skipped:
            return
        self._counter += 1
        if self._counter % self._k == 0:
            _core.lookahead_sync(self._slow, self._params, self._alpha)

    def zero_grad(self) -> None:
        """The inner optimizer's zero_grad() (RuntimeError where it has no gradients to zero)."""
        self.optimizer.zero_grad()

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        self.optimizer.add_param_group(param_group)
        self._attach()

    def state_dict(self) -> StateDict:
        """``{"optimizer": inner state dict, "lookahead": {"k", "alpha", "counter", "slow"}}``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "lookahead": {"k": self._k, "alpha": copy.deepcopy(self.alpha),
                          "counter": self._counter, "slow": [s.copy() for s in self._slow]},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores inner state, slow weights, k, alpha and the step counter (all checked first)."""
        if not isinstance(state_dict, Mapping) or "lookahead" not in state_dict \
                or "optimizer" not in state_dict:
            raise ValueError("Lookahead state_dict must have 'optimizer' and 'lookahead'")
        la = state_dict["lookahead"]
        probe = Lookahead.__new__(Lookahead)  # validates k and alpha without touching self
        probe.k, probe.alpha = la.get("k"), la.get("alpha")
        counter = la.get("counter")
        if isinstance(counter, bool) or not isinstance(counter, numbers.Integral) or counter < 0:
            raise ValueError(f"Lookahead state_dict counter must be an int >= 0, got {counter!r}")
        arrays = _saved_arrays(la.get("slow"), self._slow, "Lookahead slow")
        self.optimizer.load_state_dict(state_dict["optimizer"])  # checks itself before changing
        for mine, a in zip(self._slow, arrays):
            mine[...] = a
        self._k, self._alpha, self._counter = probe.k, probe.alpha, int(counter)

    def __repr__(self) -> str:
        return f"Lookahead(k={self._k}, alpha={self.alpha}, optimizer={self.optimizer!r})"
