"""Every fastoptim rule in plain float32 NumPy: the baseline of ``python -m fastoptim.demo``.

Written from the update formulas (``torch.optim``'s single-tensor path, the papers for the rest)
as one would write them without fastoptim: each line of a formula is a NumPy ufunc working in
place (``out=``) on the whole flat buffer of a :class:`~fastoptim.FlatParams` store, with the
scalars computed in double precision and rounded to float32 where they meet the arrays. The demo
trains the same network with these and with the native kernels: the loss curves must agree to
float32 rounding, and the step times say what the kernels buy.

Each class takes the store and the keyword arguments (and defaults) of the fastoptim class of
the same name, except ``maximize`` and ``max_grad_norm``; ``step()`` updates ``store.data`` in
place from ``store.grad``. Every parameter of a store is stepped together, so the per-parameter
step counts of fastoptim are one count here.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Lookahead",
    "NAdam",
    "ProximalAdagrad",
    "ProximalSGD",
    "RAdam",
    "RMSprop",
]


class _Rule:
    """Holds the flat parameter and gradient buffers, the step count and one scratch buffer."""

    def __init__(self, store):
        self.p, self.g = store.data, store.grad
        self.t = 0
        self._tmp = np.empty_like(self.p)

    def step(self) -> None:
        """Updates the parameters in place from the gradients."""
        self.t += 1
        self._update(self.t)

    def _zeros(self) -> np.ndarray:
        return np.zeros_like(self.p)

    def _decayed_grad(self, weight_decay: float) -> np.ndarray:
        """g, or g + weight_decay * p (coupled L2 decay) as a new array."""
        if weight_decay == 0:
            return self.g
        return self.g + weight_decay * self.p

    def _adam_grad_and_moments(self) -> np.ndarray:
        """The Adam family's common start: weight decay (decoupled: p <- p (1 - lr wd), else
        coupled), then exp_avg and exp_avg_sq updated in place; returns the gradient used."""
        if self.decoupled:
            self.p *= 1.0 - self.lr * self.weight_decay
            g = self.g
        else:
            g = self._decayed_grad(self.weight_decay)
        b1, b2 = self.betas
        self._lerp(self.exp_avg, g, 1.0 - b1)
        self._ema_sq(self.exp_avg_sq, g, b2)
        return g

    def _lerp(self, m: np.ndarray, g: np.ndarray, w: float) -> None:
        """m <- m + w * (g - m), in place (uses the scratch buffer)."""
        np.subtract(g, m, out=self._tmp)
        self._tmp *= w
        m += self._tmp

    def _ema_sq(self, v: np.ndarray, g: np.ndarray, beta: float) -> None:
        """v <- beta * v + (1 - beta) * g * g, in place (uses the scratch buffer)."""
        v *= beta
        np.multiply(g, g, out=self._tmp)
        self._tmp *= 1.0 - beta
        v += self._tmp


class SGD(_Rule):
    """SGD with optional (Nesterov) momentum; the first step copies g into the buffer."""

    def __init__(self, store, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(store)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buf = self._zeros() if momentum else None

    def _update(self, t):
        g = self._decayed_grad(self.weight_decay)
        if self.momentum:
            if t == 1:
                self.buf[...] = g
            else:
                self.buf *= self.momentum
                np.multiply(g, 1.0 - self.dampening, out=self._tmp)
                self.buf += self._tmp
            if self.nesterov:
                np.multiply(self.buf, self.momentum, out=self._tmp)
                g = np.add(g, self._tmp, out=self._tmp)
            else:
                g = self.buf
        np.multiply(g, self.lr, out=self._tmp)
        self.p -= self._tmp


class Adagrad(_Rule):
    """Adagrad: p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(sum g^2) + eps)."""

    def __init__(self, store, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10):
        super().__init__(store)
        self.lr, self.lr_decay, self.weight_decay, self.eps = lr, lr_decay, weight_decay, eps
        self.sum = np.full_like(self.p, initial_accumulator_value)

    def _update(self, t):
        g = self._decayed_grad(self.weight_decay)
        clr = self.lr / (1 + (t - 1) * self.lr_decay)
        np.multiply(g, g, out=self._tmp)
        self.sum += self._tmp
        np.sqrt(self.sum, out=self._tmp)
        self._tmp += self.eps
        np.divide(g, self._tmp, out=self._tmp)
        self._tmp *= clr
        self.p -= self._tmp


class RMSprop(_Rule):
    """RMSprop, optionally centered and with momentum; eps added after the square root."""

    def __init__(self, store, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False):
        super().__init__(store)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.square_avg = self._zeros()
        self.grad_avg = self._zeros() if centered else None
        self.buf = self._zeros() if momentum > 0 else None

    def _update(self, t):
        g = self._decayed_grad(self.weight_decay)
        self._ema_sq(self.square_avg, g, self.alpha)
        avg = self._tmp
        if self.centered:
            self._lerp(self.grad_avg, g, 1.0 - self.alpha)
            np.multiply(self.grad_avg, self.grad_avg, out=avg)
            np.subtract(self.square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(self.square_avg, out=avg)
        avg += self.eps
        np.divide(g, avg, out=avg)  # now the unscaled step g / avg
        if self.momentum > 0:
            self.buf *= self.momentum
            self.buf += avg
            avg[...] = self.buf
        avg *= self.lr
        self.p -= avg


class Adadelta(_Rule):
    """Adadelta: delta = sqrt(acc + eps) / sqrt(sq + eps) * g; p -= lr * delta."""

    def __init__(self, store, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        super().__init__(store)
        self.lr, self.rho, self.eps, self.weight_decay = lr, rho, eps, weight_decay
        self.square_avg = self._zeros()
        self.acc_delta = self._zeros()
        self._delta = self._zeros()

    def _update(self, t):
        g = self._decayed_grad(self.weight_decay)
        self._ema_sq(self.square_avg, g, self.rho)
        delta = self._delta
        np.add(self.acc_delta, self.eps, out=delta)
        np.sqrt(delta, out=delta)
        np.add(self.square_avg, self.eps, out=self._tmp)
        np.sqrt(self._tmp, out=self._tmp)
        delta /= self._tmp
        delta *= g
        self._ema_sq(self.acc_delta, delta, self.rho)
        delta *= self.lr
        self.p -= delta


class Adam(_Rule):
    """Adam (AMSGrad optional): p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)."""

    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, decoupled_weight_decay=False):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.amsgrad, self.decoupled = amsgrad, decoupled_weight_decay
        self.exp_avg, self.exp_avg_sq = self._zeros(), self._zeros()
        self.max_exp_avg_sq = self._zeros() if amsgrad else None

    def _update(self, t):
        b1, b2 = self.betas
        self._adam_grad_and_moments()
        v = self.exp_avg_sq
        if self.amsgrad:
            np.maximum(self.max_exp_avg_sq, v, out=self.max_exp_avg_sq)
            v = self.max_exp_avg_sq
        denom = self._tmp
        np.sqrt(v, out=denom)
        denom /= math.sqrt(1.0 - b2**t)
        denom += self.eps
        np.divide(self.exp_avg, denom, out=denom)
        denom *= self.lr / (1.0 - b1**t)
        self.p -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(store, lr, betas, eps, weight_decay, amsgrad,
                         decoupled_weight_decay=True)


class Adamax(_Rule):
    """Adamax: u = max(b2 * u, |g| + eps); p -= lr / (1 - b1^t) * m / u."""

    def __init__(self, store, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.exp_avg, self.exp_inf = self._zeros(), self._zeros()

    def _update(self, t):
        b1, b2 = self.betas
        g = self._decayed_grad(self.weight_decay)
        self._lerp(self.exp_avg, g, 1.0 - b1)
        self.exp_inf *= b2
        np.abs(g, out=self._tmp)
        self._tmp += self.eps
        np.maximum(self.exp_inf, self._tmp, out=self.exp_inf)
        np.divide(self.exp_avg, self.exp_inf, out=self._tmp)
        self._tmp *= self.lr / (1.0 - b1**t)
        self.p -= self._tmp


class NAdam(_Rule):
    """NAdam: Adam with Nesterov momentum and the momentum schedule mu_t (Dozat, 2016)."""

    def __init__(self, store, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.momentum_decay, self.decoupled = momentum_decay, decoupled_weight_decay
        self.exp_avg, self.exp_avg_sq = self._zeros(), self._zeros()
        self.mu_product = np.float32(1.0)  # float32 as torch keeps it: rounded at every step
        self._denom = self._zeros()

    def _update(self, t):
        b1, b2 = self.betas
        g = self._adam_grad_and_moments()
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        self.mu_product = np.float32(float(self.mu_product) * mu)
        prod = float(self.mu_product)
        denom = self._denom
        np.divide(self.exp_avg_sq, 1.0 - b2**t, out=denom)
        np.sqrt(denom, out=denom)
        denom += self.eps
        np.divide(g, denom, out=self._tmp)
        self._tmp *= self.lr * (1.0 - mu) / (1.0 - prod)
        self.p -= self._tmp
        np.divide(self.exp_avg, denom, out=self._tmp)
        self._tmp *= self.lr * mu_next / (1.0 - prod * mu_next)
        self.p -= self._tmp


class RAdam(_Rule):
    """RAdam: Adam's step scaled by the variance rectification r_t once rho_t > 5, else SGD
    with momentum."""

    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.decoupled = decoupled_weight_decay
        self.exp_avg, self.exp_avg_sq = self._zeros(), self._zeros()

    def _update(self, t):
        b1, b2 = self.betas
        self._adam_grad_and_moments()
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2**t / bc2
        step = self._tmp
        if rho_t > 5.0:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            np.sqrt(self.exp_avg_sq, out=step)
            step += self.eps
            np.divide(self.exp_avg, step, out=step)
            step *= self.lr / bc1 * r * math.sqrt(bc2)
        else:
            np.multiply(self.exp_avg, self.lr / bc1, out=step)
        self.p -= step


class Lion(_Rule):
    """Lion: p = p * (1 - lr * wd) - lr * sign(lerp(m, g, 1 - b1)); m = lerp(m, g, 1 - b2)."""

    def __init__(self, store, lr=1e-4, betas=(0.9, 0.99), weight_decay=0):
        super().__init__(store)
        self.lr, self.betas, self.weight_decay = lr, betas, weight_decay
        self.exp_avg = self._zeros()

    def _update(self, t):
        b1, b2 = self.betas
        c = self._tmp
        np.subtract(self.g, self.exp_avg, out=c)
        c *= 1.0 - b1
        c += self.exp_avg
        if self.weight_decay:
            self.p *= 1.0 - self.lr * self.weight_decay
        np.sign(c, out=c)
        c *= self.lr
        self.p -= c
        self._lerp(self.exp_avg, self.g, 1.0 - b2)


def _proximal(p: np.ndarray, q: np.ndarray, a, l1: float, l2: float) -> None:
    """p <- sign(q) * max(|q| - a * l1, 0) / (1 + a * l2), overwriting q (`a`: scalar or array)."""
    np.sign(q, out=p)
    np.abs(q, out=q)
    q -= a * l1
    np.maximum(q, 0.0, out=q)
    p *= q
    p /= 1.0 + a * l2


class ProximalSGD(_Rule):
    """Proximal gradient descent: q = p - lr * g, soft-thresholded by lr * l1, shrunk by
    1 + lr * l2."""

    def __init__(self, store, lr=1e-3, l1=0.0, l2=0.0):
        super().__init__(store)
        self.lr, self.l1, self.l2 = lr, l1, l2

    def _update(self, t):
        q = self._tmp
        np.multiply(self.g, self.lr, out=q)
        np.subtract(self.p, q, out=q)
        _proximal(self.p, q, self.lr, self.l1, self.l2)


class ProximalAdagrad(_Rule):
    """Proximal Adagrad: the proximal step with the per-element rate lr / sqrt(sum g^2)."""

    def __init__(self, store, lr=1e-2, l1=0.0, l2=0.0, initial_accumulator_value=0.1):
        super().__init__(store)
        self.lr, self.l1, self.l2 = lr, l1, l2
        self.sum = np.full_like(self.p, initial_accumulator_value)
        self._rate = self._zeros()

    def _update(self, t):
        np.multiply(self.g, self.g, out=self._tmp)
        self.sum += self._tmp
        a = self._rate
        np.sqrt(self.sum, out=a)
        np.divide(self.lr, a, out=a)
        q = self._tmp
        np.multiply(a, self.g, out=q)
        np.subtract(self.p, q, out=q)
        _proximal(self.p, q, a, self.l1, self.l2)


class Lookahead:
    """Lookahead around an inner rule: every k steps, slow += alpha * (p - slow); p = slow."""

    def __init__(self, optimizer: _Rule, k: int = 5, alpha: float = 0.5):
        self.optimizer, self.k, self.alpha = optimizer, k, alpha
        self.slow = optimizer.p.copy()
        self._counter = 0

    def step(self) -> None:
        """One inner step; every k-th, the slow weights move towards the fast ones."""
        self.optimizer.step()
        self._counter += 1
        if self._counter % self.k == 0:
            p = self.optimizer.p
            self.slow += self.alpha * (p - self.slow)
            p[...] = self.slow
