"""Proximal gradient methods with L1/L2 regularization (TF1 semantics)."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["ProximalSGD", "ProximalAdagrad"]


class ProximalSGD(Optimizer):
    r"""Proximal gradient descent with L1 and L2 penalties (TF1 ``ProximalGradientDescent``).

    .. math::
        q &\leftarrow \theta_{t-1} - \gamma\,g_t \\
        \theta_t &\leftarrow \mathrm{sign}(q)\,\frac{\max(|q| - \gamma\,\ell_1,\ 0)}
              {1 + \gamma\,\ell_2}

    with :math:`\gamma` = ``lr``, :math:`\ell_1` = ``l1``, :math:`\ell_2` = ``l2``. The
    soft-threshold sets small weights to exactly zero, so L1 yields sparse solutions. With
    ``l1 = l2 = 0`` this is plain SGD. No state besides ``step``.
    """

    _native = _core.ProximalSGD

    def __init__(self, params: ParamsLike, lr: float = 1e-3, l1: float = 0.0, l2: float = 0.0, *,
                 maximize: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, l1=l1, l2=l2, maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)


class ProximalAdagrad(Optimizer):
    r"""Proximal Adagrad with L1 and L2 penalties (TF1 ``ProximalAdagrad``).

    .. math::
        s_t &\leftarrow s_{t-1} + g_t^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        a_t &= \gamma / \sqrt{s_t}, \qquad q \leftarrow \theta_{t-1} - a_t\,g_t \\
        \theta_t &\leftarrow \mathrm{sign}(q)\,\frac{\max(|q| - a_t\,\ell_1,\ 0)}
              {1 + a_t\,\ell_2}

    with :math:`\gamma` = ``lr``, :math:`\ell_1` = ``l1``, :math:`\ell_2` = ``l2`` and the
    accumulator starting at ``initial_accumulator_value`` (> 0; 0.1 as in TF1). State: ``sum``,
    ``step``.
    """

    _native = _core.ProximalAdagrad

    def __init__(self, params: ParamsLike, lr: float = 1e-2, l1: float = 0.0, l2: float = 0.0,
                 initial_accumulator_value: float = 0.1, *, maximize: bool = False,
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, l1=l1, l2=l2,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
