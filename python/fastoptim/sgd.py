"""Stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        b_t &\leftarrow \begin{cases} g_t & t = 1 \\ \mu\,b_{t-1} + (1-\tau)\,g_t & t > 1
              \end{cases} \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma\,(g_t + \mu\,b_t \text{ if nesterov else } b_t)

    with :math:`\gamma` = ``lr``, :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening``,
    :math:`\lambda` = ``weight_decay`` and the gradient negated when ``maximize``. Without
    momentum, :math:`\theta_t = \theta_{t-1} - \gamma g_t`. The first momentum step copies the
    gradient into the buffer without dampening, as torch does. State: ``momentum_buffer``.

    Example::

        >>> import numpy as np, fastoptim as fo
        >>> w = np.ones(3, np.float32)
        >>> fo.SGD([w], lr=0.1, momentum=0.9).step([np.ones(3, np.float32)])
        >>> w
        array([0.9, 0.9, 0.9], dtype=float32)
    """

    _native = _core.SGD
    _step_in_state = False

    def __init__(self, params: ParamsLike, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
