"""NAdam."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam, Adam with Nesterov momentum (Dozat, 2016), as ``torch.optim.NAdam``.

    .. math::
        \mu_t &= \beta_1 \bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \qquad
              \Pi_t = \textstyle\prod_{i \le t} \mu_i \\
        m_t &\leftarrow m_{t-1} + (1-\beta_1)(g_t - m_{t-1}), \qquad
              v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2 \\
        d_t &= \sqrt{v_t / (1-\beta_2^t)} + \epsilon \\
        \theta_t &\leftarrow \theta_{t-1}
              - \gamma\,\frac{1-\mu_t}{1-\Pi_t}\,\frac{g_t}{d_t}
              - \gamma\,\frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m_t}{d_t}

    with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\psi` =
    ``momentum_decay``, :math:`\epsilon` = ``eps`` (added after the square root of the
    bias-corrected :math:`v`, unlike Adam), L2 ``weight_decay`` added to the gradient, or
    applied as :math:`\theta \leftarrow (1-\gamma\lambda)\theta` with
    ``decoupled_weight_decay`` (NAdamW). State: ``exp_avg``, ``exp_avg_sq``, ``mu_product``
    (:math:`\Pi_t`, kept in float32 as torch), ``step``.
    """

    _native = _core.NAdam

    def __init__(self, params: ParamsLike, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
