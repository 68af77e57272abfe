"""Lion."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["Lion"]


class Lion(Optimizer):
    r"""Lion, EvoLved Sign Momentum (Chen et al., 2023, Algorithm 2; optax ``lion``).

    .. math::
        c_t &\leftarrow m_{t-1} + (1-\beta_1)(g_t - m_{t-1}) \\
        \theta_t &\leftarrow (1 - \gamma\lambda)\,\theta_{t-1} - \gamma\,\mathrm{sign}(c_t) \\
        m_t &\leftarrow m_{t-1} + (1-\beta_2)(g_t - m_{t-1})

    with :math:`\gamma` = ``lr`` (typically 3-10x smaller than AdamW's), :math:`(\beta_1,
    \beta_2)` = ``betas``, :math:`\lambda` = ``weight_decay`` (decoupled), and
    :math:`\mathrm{sign}(0) = 0`. Not in torch.optim: tested against the paper's algorithm.
    State: ``exp_avg``, ``step``.
    """

    _native = _core.Lion

    def __init__(self, params: ParamsLike, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0, *,
                 maximize: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
