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


def _decay(p, g, h):
    """L2 (coupled) or decoupled weight decay; returns (p, g)."""
    wd = h.get("weight_decay", 0.0)
    if h.get("decoupled_weight_decay", False):
        return p * (1 - h["lr"] * wd), g
    return p, (g + wd * p if wd else g)


class Adagrad(Reference):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        clr = h["lr"] / (1 + (t - 1) * h["lr_decay"])
        s = state.get("sum", np.full_like(p, h["initial_accumulator_value"])) + g * g
        state["sum"] = s
        return p - clr * g / (np.sqrt(s) + h["eps"])


class RMSprop(Reference):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        a = h["alpha"]
        sq = a * state.get("square_avg", np.zeros_like(p)) + (1 - a) * g * g
        state["square_avg"] = sq
        if h["centered"]:
            ga = state.get("grad_avg", np.zeros_like(p))
            ga = ga + (1 - a) * (g - ga)
            state["grad_avg"] = ga
            avg = np.sqrt(sq - ga * ga) + h["eps"]
        else:
            avg = np.sqrt(sq) + h["eps"]
        if h["momentum"] > 0:
            buf = h["momentum"] * state.get("momentum_buffer", np.zeros_like(p)) + g / avg
            state["momentum_buffer"] = buf
            return p - h["lr"] * buf
        return p - h["lr"] * g / avg


class Adadelta(Reference):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        rho, eps = h["rho"], h["eps"]
        sq = rho * state.get("square_avg", np.zeros_like(p)) + (1 - rho) * g * g
        acc = state.get("acc_delta", np.zeros_like(p))
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        state["square_avg"] = sq
        state["acc_delta"] = rho * acc + (1 - rho) * delta * delta
        return p - h["lr"] * delta


class Adamax(Reference):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        b1, b2 = h["betas"]
        m = b1 * state.get("exp_avg", np.zeros_like(p)) + (1 - b1) * g
        u = np.maximum(b2 * state.get("exp_inf", np.zeros_like(p)), np.abs(g) + h["eps"])
        state["exp_avg"], state["exp_inf"] = m, u
        return p - h["lr"] / (1 - b1**t) * m / u


class NAdam(Reference):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        b1, b2 = h["betas"]
        psi, lr = h["momentum_decay"], h["lr"]
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod = state.get("mu_product", 1.0) * mu
        state["mu_product"] = prod
        m = b1 * state.get("exp_avg", np.zeros_like(p)) + (1 - b1) * g
        v = b2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - b2) * g * g
        state["exp_avg"], state["exp_avg_sq"] = m, v
        denom = np.sqrt(v / (1 - b2**t)) + h["eps"]
        p = p - lr * (1 - mu) / (1 - prod) * g / denom
        return p - lr * mu_next / (1 - prod * mu_next) * m / denom


class RAdam(Reference):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        p, g = _decay(p, g, h)
        b1, b2 = h["betas"]
        m = b1 * state.get("exp_avg", np.zeros_like(p)) + (1 - b1) * g
        v = b2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - b2) * g * g
        state["exp_avg"], state["exp_avg_sq"] = m, v
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        m_hat = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / bc2
        if rho_t > 5:
            r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return p - h["lr"] * m_hat * r * np.sqrt(bc2) / (np.sqrt(v) + h["eps"])
        return p - h["lr"] * m_hat


class Lion(Reference):
    """Chen et al. 2023, Algorithm 2 (with decoupled weight decay)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay,
                         maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        b1, b2 = h["betas"]
        m = state.get("exp_avg", np.zeros_like(p))
        c = b1 * m + (1 - b1) * g
        state["exp_avg"] = b2 * m + (1 - b2) * g
        return p * (1 - h["lr"] * h["weight_decay"]) - h["lr"] * np.sign(c)


def _prox(q, a, l1, l2):
    return np.sign(q) * np.maximum(np.abs(q) - a * l1, 0.0) / (1 + a * l2)


class ProximalSGD(Reference):
    def __init__(self, params, lr=1e-3, l1=0.0, l2=0.0, maximize=False):
        super().__init__(params, lr=lr, l1=l1, l2=l2, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        return _prox(p - h["lr"] * g, h["lr"], h["l1"], h["l2"])


class ProximalAdagrad(Reference):
    def __init__(self, params, lr=1e-2, l1=0.0, l2=0.0, initial_accumulator_value=0.1,
                 maximize=False):
        super().__init__(params, lr=lr, l1=l1, l2=l2,
                         initial_accumulator_value=initial_accumulator_value, maximize=maximize)

    @staticmethod
    def update(p, g, state, t, h):
        acc = state.get("sum", np.full_like(p, h["initial_accumulator_value"])) + g * g
        state["sum"] = acc
        a = h["lr"] / np.sqrt(acc)
        return _prox(p - a * g, a, h["l1"], h["l2"])


# ---- bfloat16 state (state_dtype="bfloat16"), written from the definitions -------------------
def mix32(x):
    """The 32-bit integer hash ("lowbias32") that keys stochastic rounding, on uint32 arrays."""
    x = np.asarray(x, np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def bf16_random_bits(seed, step, slot, index):
    """The 16 random bits stochastic rounding adds below a state element's kept half: from
    h = hash(element index mod 2**32 ^ key), where the key hashes the optimizer's seed and the
    tensor's step count, slot 0 takes h's low half, slot 1 its high half, slot 2 the high half
    of hash(h); a bfloat16 parameter without master weights (slot 3) its low half."""
    with np.errstate(over="ignore"):
        key = mix32(mix32(mix32(np.uint32(step)) ^ np.uint32(seed)))
        index = (np.asarray(index, np.int64) & 0xFFFFFFFF).astype(np.uint32)
        h = mix32(index ^ key)
        if slot >= 2:
            h = mix32(h)
        if slot in (0, 3):
            return h & np.uint32(0xFFFF)
        return h >> np.uint32(16)


def bf16_round(x, random16=None):
    """float32 -> bfloat16 bits (uint16). Stochastic with the given 16 random bits per element:
    up with probability (dropped low half) / 2**16; else to nearest, ties to even. NaN stays
    NaN (its quiet bit set)."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    if random16 is None:
        bits = bits + 0x7FFF + ((bits >> 16) & 1)
    else:
        bits = bits + np.asarray(random16, np.uint64)
    out = ((bits >> 16) & 0xFFFF).astype(np.uint16)
    nan = np.isnan(np.asarray(x, np.float32))
    quiet = ((np.asarray(x, np.float32).view(np.uint32) | 0x00400000) >> 16).astype(np.uint16)
    return np.where(nan, quiet, out)


# int8 state: blocks of 256 elements, a float32 scale (the block's largest magnitude) each; a
# code is a small float relative to the scale, magnitude 0 for +0. Blocks holding a negative
# value: sign bit and 7 bits (4 of mantissa), top code 127 = the scale (so code a >= 1 is the
# float with bits (a + 1905) << 19, times the scale); blocks of values >= 0: 8 bits (3 of
# mantissa), top code 255 (bits (a + 761) << 20), the scale stored negated. Rounding to the
# nearest code happens on the bit pattern of value / scale: add half of the last kept bit, keep
# the top bits.
INT8_BLOCK = 256
# signed: (top, bias, shift)
_INT8_MAPS = {True: (0x7F, 2032 - 127, 19), False: (0xFF, 1016 - 255, 20)}


def int8_quantize(x):
    """float32 values (any shape, C order) -> (uint8 codes of x's shape, float32 scales)."""
    x = np.ascontiguousarray(x, np.float32)
    flat = x.ravel()
    nblocks = -(-flat.size // INT8_BLOCK)
    codes = np.zeros(flat.size, np.uint8)
    scales = np.zeros(nblocks, np.float32)
    for b in range(nblocks):
        block = flat[b * INT8_BLOCK:(b + 1) * INT8_BLOCK]
        bits = block.view(np.uint32)
        largest = np.uint32((bits & 0x7FFFFFFF).max()).view(np.float32)  # NaN if any is NaN
        signed = bool(np.bitwise_or.reduce(bits) >> 31)
        scales[b] = largest if signed else -largest
        inv = np.float32(1) / largest if largest > 0 else np.float32(0)
        with np.errstate(invalid="ignore"):
            y = (block * inv).astype(np.float32)
        top, bias, shift = _INT8_MAPS[signed]
        ybits = y.view(np.uint32).astype(np.int64)
        a = np.clip((((ybits & 0x7FFFFFFF) + (1 << (shift - 1))) >> shift) - bias, 0, top)
        if signed:
            a |= (ybits >> 24) & 0x80
        codes[b * INT8_BLOCK:(b + 1) * INT8_BLOCK] = a
    return codes.reshape(x.shape), scales


def int8_dequantize(codes, scales):
    """uint8 codes and float32 block scales -> float32 values of the codes' shape."""
    codes = np.asarray(codes, np.uint8)
    flat = codes.ravel().astype(np.int64)
    out = np.zeros(flat.size, np.float32)
    for b, scale in enumerate(np.asarray(scales, np.float32)):
        c = flat[b * INT8_BLOCK:(b + 1) * INT8_BLOCK]
        signed = not np.signbit(scale)
        top, bias, shift = _INT8_MAPS[signed]
        a = c & top
        sign = (c & 0x80) << 24 if signed else 0
        bits = np.where(a > 0, ((a + bias) << shift) | sign, 0)  # magnitude 0: +0.0
        with np.errstate(invalid="ignore"):
            out[b * INT8_BLOCK:(b + 1) * INT8_BLOCK] = (
                bits.astype(np.uint32).view(np.float32) * np.abs(scale))
    return out.reshape(codes.shape)
