"""Float64 NumPy references of every update rule, written from the formulas (shared/FORMULAS.md).

Each reference is a class with the optimizer's keyword arguments; ``step(params, grads)`` updates
float64 copies it keeps itself (``self.params``) from float32 gradients, so that after many steps
the native float32 results can be compared element by element with the exact math. Per-parameter
``None`` gradients skip that parameter, as in fastoptim and torch.
"""

from __future__ import annotations

import numpy as np


class Reference:
    """Per-parameter float64 copies, state dicts and step counts."""

    def __init__(self, params, **hyper):
        self.params = [np.array(p, dtype=np.float64) for p in params]
        self.state = [dict() for _ in params]
        self.steps = [0] * len(params)
        self.hyper = hyper

    def step(self, grads, **override):
        h = {**self.hyper, **override}
        for i, g in enumerate(grads):
            if g is None:
                continue
            self.steps[i] += 1
            g = np.asarray(g, dtype=np.float64)
            if h.get("maximize", False):
                g = -g
            self.params[i] = self.update(self.params[i], g, self.state[i], self.steps[i], h)


class SGD(Reference):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        mu = h["momentum"]
        if mu:
            if t == 1:
                buf = g.copy()
            else:
                buf = mu * state["momentum_buffer"] + (1 - h["dampening"]) * g
            state["momentum_buffer"] = buf
            g = g + mu * buf if h["nesterov"] else buf
        return p - h["lr"] * g


class Adam(Reference):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay)

    @staticmethod
    def update(p, g, state, t, h):
        b1, b2 = h["betas"]
        lr, wd = h["lr"], h["weight_decay"]
        if h["decoupled_weight_decay"]:
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        m = state.get("exp_avg", np.zeros_like(p))
        v = state.get("exp_avg_sq", np.zeros_like(p))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        state["exp_avg"], state["exp_avg_sq"] = m, v
        if h["amsgrad"]:
            v = np.maximum(state.get("max_exp_avg_sq", np.zeros_like(p)), v)
            state["max_exp_avg_sq"] = v
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        denom = np.sqrt(v) / np.sqrt(bc2) + h["eps"]
        return p - lr / bc1 * m / denom


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
