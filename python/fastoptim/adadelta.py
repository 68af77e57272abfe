"""Adadelta."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        v_t &\leftarrow \rho v_{t-1} + (1-\rho)\,g_t^2 \\
        \Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t &\leftarrow \rho u_{t-1} + (1-\rho)\,\Delta_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma\,\Delta_t

    with :math:`\gamma` = ``lr`` (1.0 by default), :math:`\rho` = ``rho`` (in [0, 1]),
    :math:`\epsilon` = ``eps``, :math:`\lambda` = ``weight_decay``. State: ``square_avg``,
    ``acc_delta``, ``step``.
    """

    _native = _core.Adadelta

    def __init__(self, params: ParamsLike, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False,
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
