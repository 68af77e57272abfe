"""Adam and AdamW."""

from __future__ import annotations

from . import _core
from .optimizer import (MasterWeights, Nonfinite, Optimizer, ParamsLike, StateDtype,
                        StateRounding)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as ``torch.optim.Adam``, with AMSGrad and decoupled decay.

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\,\theta_{t-1}
              \quad(\text{or } \theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1}
              \text{ if decoupled}) \\
        m_t &\leftarrow m_{t-1} + (1-\beta_1)(g_t - m_{t-1}) \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
              \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps`` (added *after* the bias-corrected square root, as torch), :math:`\lambda` =
    ``weight_decay`` (L2, added to the gradient, unless ``decoupled_weight_decay``), the gradient
    negated when ``maximize``. State: ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad),
    ``step``. One pass over memory per step: p, g, m, v read once; p, m, v written once.

    Example::

        >>> import numpy as np, fastoptim as fo
        >>> w = np.zeros(2, np.float32)
        >>> fo.Adam([w], lr=0.1).step([np.array([1.0, -2.0], np.float32)])
        >>> w
        array([-0.1,  0.1], dtype=float32)
    """

    _native = _core.Adam

    def __init__(self, params: ParamsLike, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, max_grad_norm: float | None = None,
                 nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay),
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Before the Adam update, :math:`\theta \leftarrow \theta\,(1 - \gamma\lambda)`; the gradient
    itself is not decayed. Same math, state and arguments as :class:`Adam`, with
    ``weight_decay=1e-2`` by default.
    """

    def __init__(self, params: ParamsLike, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32",
                 state_rounding: StateRounding = "stochastic", seed: int = 0,
                 master_weights: MasterWeights = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True,
                         max_grad_norm=max_grad_norm,
                         nonfinite=nonfinite, state_dtype=state_dtype,
                         state_rounding=state_rounding, seed=seed,
                         master_weights=master_weights)
