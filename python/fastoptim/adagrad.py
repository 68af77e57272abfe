"""Adagrad."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), as ``torch.optim.Adagrad``.

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        \tilde\gamma_t &\leftarrow \gamma / (1 + (t - 1)\,\eta) \\
        s_t &\leftarrow s_{t-1} + g_t^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{s_t} + \epsilon)

    with :math:`\gamma` = ``lr``, :math:`\eta` = ``lr_decay``, :math:`\lambda` =
    ``weight_decay``, :math:`\epsilon` = ``eps``. State: ``sum``, ``step``.

    Example::

        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2, np.float32)
        >>> fo.Adagrad([w], lr=0.1).step([np.array([3.0, -4.0], np.float32)])
        >>> w
        array([-0.1,  0.1], dtype=float32)
    """

    _native = _core.Adagrad

    def __init__(self, params: ParamsLike, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10,
                 *, maximize: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
