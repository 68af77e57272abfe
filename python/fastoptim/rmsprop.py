"""RMSprop."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012; centered: Graves, 2013), as ``torch.optim.RMSprop``.

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        v_t &\leftarrow \alpha v_{t-1} + (1-\alpha)\,g_t^2 \\
        \bar g_t &\leftarrow \bar g_{t-1} + (1-\alpha)(g_t - \bar g_{t-1})
              \quad(\text{centered only}) \\
        a_t &\leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon \text{ if centered else }
              \sqrt{v_t} + \epsilon \\
        b_t &\leftarrow \mu\,b_{t-1} + g_t / a_t, \quad
              \theta_t \leftarrow \theta_{t-1} - \gamma\,b_t \quad(\mu > 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma\,g_t / a_t \quad(\mu = 0)

    with :math:`\gamma` = ``lr``, :math:`\alpha` = ``alpha`` (in [0, 1]), :math:`\epsilon` =
    ``eps`` (outside the square root), :math:`\mu` = ``momentum``, :math:`\lambda` =
    ``weight_decay``. Keras' RMSprop differs: rho=0.9 and eps=1e-7 by default. State:
    ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered), ``step``.
    """

    _native = _core.RMSprop

    def __init__(self, params: ParamsLike, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False,
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
