"""RAdam."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam, Adam with a rectified adaptive rate (Liu et al., 2020), as ``torch.optim.RAdam``.

    .. math::
        m_t &\leftarrow m_{t-1} + (1-\beta_1)(g_t - m_{t-1}), \qquad
              v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2 \\
        \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
              \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
        r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
              \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma\,m_t}{1-\beta_1^t}\,
              \frac{r_t\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}
              \quad\text{if } \rho_t > 5, \text{ else }
              \theta_{t-1} - \frac{\gamma\,m_t}{1-\beta_1^t}

    with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps`` (on :math:`\sqrt{v_t}`, not on the bias-corrected value), L2 ``weight_decay`` or
    decoupled with ``decoupled_weight_decay``. State: ``exp_avg``, ``exp_avg_sq``, ``step``.
    """

    _native = _core.RAdam

    def __init__(self, params: ParamsLike, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
