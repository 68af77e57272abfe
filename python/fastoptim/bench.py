"""Microbenchmark fastoptim's optimizer step on the machine it runs on.

    python -m fastoptim.bench            # sgd, adam, adamw at 2^12..2^24, 1 and all threads
    python -m fastoptim.bench --quick    # a smaller, shorter run (under 30 s on 2 cores)
    python -m fastoptim.bench --rules adam,lion --sizes 16,20,1000000 --threads 1,2 --out results/
    python -m fastoptim.bench --state-dtype bfloat16   # fastoptim with bfloat16 optimizer state

Times one optimizer step on one float32 tensor of each size and reports throughput in Gelem/s
(parameters updated per second) for these contenders, all stepping the same parameter and
gradient buffers (each with its own state):

  fastoptim        the fastoptim optimizer on a FlatParams store (SIMD + OpenMP kernels)
  NumPy in-place   the same formulas as NumPy ufuncs with out= and one preallocated scratch array
                   (fastoptim._numpy_rules)
  NumPy textbook   the formulas as plain NumPy expressions (m = b1 * m + (1 - b1) * g, ...): every
                   expression allocates a temporary
  torch default    torch.optim's for-loop step (foreach=False), if torch is installed
  torch fused      torch.optim's fused CPU kernel (fused=True), where torch has one
  ceiling          the bandwidth ceiling, measured where the benchmark runs: a native kernel
                   that moves the rule's memory traffic (reads p, g and the state arrays, writes p
                   and the state arrays) and does no arithmetic

--state-dtype bfloat16 (or bfloat16-nearest) times fastoptim with its state arrays in bfloat16
(state_dtype="bfloat16", rounded stochastically as written, or to nearest even): 2 bytes per
state element instead of 4, so Adam moves 20 bytes per element instead of 28. The ceiling then
moves bfloat16 state too (written back rounded to nearest: it leaves out the stochastic
rounding's random bits, which are arithmetic, not traffic), and one more contender is timed:

  fastoptim fp32   fastoptim with float32 state (the default), for the speedup of bfloat16 state

NumPy and torch keep float32 state.

Before timing, every contender is checked to compute the same parameters as fastoptim after a
few steps from the same start (to float32 rounding: 1e-6 + 1e-5 |p|). With bfloat16 state,
fastoptim's results cannot match float32 ones that closely: each state value written keeps 8
significant bits (a relative error up to 2^-8 rounded to nearest, 2^-7 stochastically), so each
step's update is off by about that much. Then NumPy and torch are checked as above against
fastoptim with float32 state, and fastoptim with bfloat16 state against it loosely: the
distance between their parameters must be under 2^-4 (6.25%) of how far float32 state moved
them (Euclidean norms over the tensor). Measured, it is at most about 0.2%, except that Lion,
which steps by the sign of its momentum, can differ by a few % on other data where bfloat16
flips the sign of a momentum near zero. This catches a wrong or unused state, not a subtle
rounding error: the bit-exact tests of the rounding are the package's own tests.

Each contender is warmed up, then the contenders are timed in interleaved round-robin
repetitions (the order rotated each repetition), each a batch of consecutive steps of at least
a few milliseconds; the figure reported is the median over repetitions of the time per step.
On Linux, repetitions during which other processes used the CPU are left out when enough others
remain; rows still disturbed are marked † in the table and hollow in the plot. NumPy is
single-threaded: it is measured at the fewest threads asked for, and fastoptim's speedups over
NumPy at every thread count compare with that.

Prints a table per rule; with --out, also writes DIR/results.json (machine, configuration,
every median and sample, the agreement check), DIR/results.md (the table) and DIR/results.png
(throughput against size, one panel per rule and thread count; needs matplotlib).
Run it on an otherwise idle machine: other processes disturb the timings, most at as many
threads as cores.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Union

import ml_dtypes
import numpy as np

import fastoptim as fo
from fastoptim import _core
from fastoptim import _numpy_rules as inplace
from fastoptim.flat import aligned_zeros

__all__ = ["RULES", "AgreementError", "check_agreement", "main", "measure", "parse_sizes"]

Step = Callable[[], None]


# ---------------------------------------------------------------------------------------------
# NumPy textbook: each rule's formulas as plain NumPy expressions. Every expression allocates a
# new array, as code written straight from the paper does. Each class takes a store (anything
# with .data and .grad, the flat parameter and gradient buffers) and the hyperparameters of the
# fastoptim class of the same name (defaults included); step() updates store.data in place.
# ---------------------------------------------------------------------------------------------
class _Textbook:
    lr = 0.0
    weight_decay = 0.0
    decoupled = False  # weight decay on p (AdamW) rather than on g

    def __init__(self, store: Any) -> None:
        self.p, self.g, self.t = store.data, store.grad, 0

    def decay(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g with L2 weight decay added, or (decoupled) p decayed in place and g as it is."""
        if self.decoupled and self.weight_decay:
            p -= self.lr * self.weight_decay * p
        elif self.weight_decay:
            g = g + self.weight_decay * p
        return g

    def step(self) -> None:
        self.t += 1
        self.update(self.p, self.g, self.t)

    def update(self, p: np.ndarray, g: np.ndarray, t: int) -> None:
        raise NotImplementedError


class _TextbookMoments(_Textbook):
    """The Adam family's hyperparameters and its two moving averages of g and g^2."""

    def __init__(self, store, lr, betas, eps, weight_decay):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = self.v = 0.0

    def moments(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Updates m and v from the decayed gradient, which it returns."""
        b1, b2 = self.betas
        g = self.decay(p, g)
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        return g


class TextbookSGD(_Textbook):
    def __init__(self, store, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(store)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def update(self, p, g, t):
        g = self.decay(p, g)
        if self.momentum:
            if t == 1:
                self.buf = g.copy()
            else:
                self.buf = self.momentum * self.buf + (1 - self.dampening) * g
            g = g + self.momentum * self.buf if self.nesterov else self.buf
        p -= self.lr * g


class TextbookAdam(_TextbookMoments):
    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(store, lr, betas, eps, weight_decay)

    def update(self, p, g, t):
        b1, b2 = self.betas
        self.moments(p, g)
        m_hat = self.m / (1 - b1**t)
        v_hat = self.v / (1 - b2**t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class TextbookAdamW(TextbookAdam):
    decoupled = True

    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(store, lr, betas, eps, weight_decay)


class TextbookAdagrad(_Textbook):
    def __init__(self, store, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10):
        super().__init__(store)
        self.lr, self.lr_decay, self.weight_decay, self.eps = lr, lr_decay, weight_decay, eps
        self.sum = initial_accumulator_value

    def update(self, p, g, t):
        g = self.decay(p, g)
        self.sum = self.sum + g * g
        clr = self.lr / (1 + (t - 1) * self.lr_decay)
        p -= clr * g / (np.sqrt(self.sum) + self.eps)


class TextbookRMSprop(_Textbook):
    def __init__(self, store, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False):
        super().__init__(store)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.square_avg = self.grad_avg = self.buf = 0.0

    def update(self, p, g, t):
        a = self.alpha
        g = self.decay(p, g)
        self.square_avg = a * self.square_avg + (1 - a) * g * g
        if self.centered:
            self.grad_avg = a * self.grad_avg + (1 - a) * g
            avg = np.sqrt(self.square_avg - self.grad_avg * self.grad_avg) + self.eps
        else:
            avg = np.sqrt(self.square_avg) + self.eps
        if self.momentum > 0:
            self.buf = self.momentum * self.buf + g / avg
            p -= self.lr * self.buf
        else:
            p -= self.lr * g / avg


class TextbookAdadelta(_Textbook):
    def __init__(self, store, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        super().__init__(store)
        self.lr, self.rho, self.eps, self.weight_decay = lr, rho, eps, weight_decay
        self.square_avg = self.acc_delta = 0.0

    def update(self, p, g, t):
        rho, eps = self.rho, self.eps
        g = self.decay(p, g)
        self.square_avg = rho * self.square_avg + (1 - rho) * g * g
        delta = np.sqrt(self.acc_delta + eps) / np.sqrt(self.square_avg + eps) * g
        self.acc_delta = rho * self.acc_delta + (1 - rho) * delta * delta
        p -= self.lr * delta


class TextbookAdamax(_Textbook):
    def __init__(self, store, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(store)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = self.u = 0.0

    def update(self, p, g, t):
        b1, b2 = self.betas
        g = self.decay(p, g)
        self.m = b1 * self.m + (1 - b1) * g
        self.u = np.maximum(b2 * self.u, np.abs(g) + self.eps)
        p -= self.lr / (1 - b1**t) * self.m / self.u


class TextbookNAdam(_TextbookMoments):
    def __init__(self, store, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3):
        super().__init__(store, lr, betas, eps, weight_decay)
        self.momentum_decay = momentum_decay
        self.mu_product = 1.0

    def update(self, p, g, t):
        b1, b2 = self.betas
        g = self.moments(p, g)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        self.mu_product *= mu
        denom = np.sqrt(self.v / (1 - b2**t)) + self.eps
        p -= self.lr * (1 - mu) / (1 - self.mu_product) * g / denom
        p -= self.lr * mu_next / (1 - self.mu_product * mu_next) * self.m / denom


class TextbookRAdam(_TextbookMoments):
    def __init__(self, store, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(store, lr, betas, eps, weight_decay)

    def update(self, p, g, t):
        b1, b2 = self.betas
        self.moments(p, g)
        m_hat = self.m / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p -= self.lr * m_hat * r * math.sqrt(1 - b2**t) / (np.sqrt(self.v) + self.eps)
        else:
            p -= self.lr * m_hat


class TextbookLion(_Textbook):
    decoupled = True

    def __init__(self, store, lr=1e-4, betas=(0.9, 0.99), weight_decay=0):
        super().__init__(store)
        self.lr, self.betas, self.weight_decay = lr, betas, weight_decay
        self.m = 0.0

    def update(self, p, g, t):
        b1, b2 = self.betas
        c = b1 * self.m + (1 - b1) * g
        self.decay(p, g)
        p -= self.lr * np.sign(c)
        self.m = b2 * self.m + (1 - b2) * g


class TextbookProximalSGD(_Textbook):
    def __init__(self, store, lr=1e-3, l1=0.0, l2=0.0):
        super().__init__(store)
        self.lr, self.l1, self.l2 = lr, l1, l2

    def update(self, p, g, t):
        q = p - self.lr * g
        p[...] = np.sign(q) * np.maximum(np.abs(q) - self.lr * self.l1, 0) / (1 + self.lr * self.l2)


class TextbookProximalAdagrad(_Textbook):
    def __init__(self, store, lr=1e-2, l1=0.0, l2=0.0, initial_accumulator_value=0.1):
        super().__init__(store)
        self.lr, self.l1, self.l2 = lr, l1, l2
        self.sum = initial_accumulator_value

    def update(self, p, g, t):
        self.sum = self.sum + g * g
        a = self.lr / np.sqrt(self.sum)
        q = p - a * g
        p[...] = np.sign(q) * np.maximum(np.abs(q) - a * self.l1, 0) / (1 + a * self.l2)


# ---------------------------------------------------------------------------------------------
# The rules: name -> the fastoptim class, the options benchmarked, torch's class of the same
# name, and the two NumPy implementations.
# ---------------------------------------------------------------------------------------------
class Rule(NamedTuple):
    name: str  # the fastoptim class name
    options: dict  # beyond the defaults, for every contender
    torch: Optional[str]  # torch.optim's class (None: torch has no such rule)
    textbook: type  # NumPy textbook class
    inplace: type  # NumPy in-place class (fastoptim._numpy_rules)


def _rule(name: str, torch_name: Optional[str], **options: Any) -> Rule:
    return Rule(name, options, torch_name, globals()["Textbook" + name], getattr(inplace, name))


RULES: Dict[str, Rule] = {r.name.lower(): r for r in [
    _rule("SGD", "SGD", momentum=0.9),
    _rule("Adam", "Adam"),
    _rule("AdamW", "AdamW"),
    _rule("Adagrad", "Adagrad"),
    _rule("RMSprop", "RMSprop"),
    _rule("Adadelta", "Adadelta"),
    _rule("Adamax", "Adamax"),
    _rule("NAdam", "NAdam"),
    _rule("RAdam", "RAdam"),
    _rule("Lion", None),
    _rule("ProximalSGD", None),
    _rule("ProximalAdagrad", None),
]}
DEFAULT_RULES = "sgd,adam,adamw"
NOT_BENCHMARKED = {"lbfgs": "LBFGS is not an element-wise rule (its step evaluates a closure)",
                   "lookahead": "Lookahead wraps another optimizer",
                   "ema": "EMA is not an optimizer"}

# Contenders: key, display name. The key is what results.json uses.
CONTENDERS = [
    ("fastoptim", "fastoptim"),
    ("fastoptim_fp32", "fastoptim fp32"),  # only with --state-dtype other than float32
    ("numpy_inplace", "NumPy in-place"),
    ("numpy_textbook", "NumPy textbook"),
    ("torch_default", "torch default"),
    ("torch_fused", "torch fused"),
    ("ceiling", "ceiling"),
]
NAMES = dict(CONTENDERS)
NUMPY = ("numpy_inplace", "numpy_textbook")
SPEEDUPS = [k for k, _ in CONTENDERS if k not in ("fastoptim", "ceiling")]
# The speedup columns' headers: "× in-place", ...
SHORT = {"fastoptim_fp32": "fp32", "numpy_inplace": "in-place", "numpy_textbook": "textbook",
         "torch_default": "torch", "torch_fused": "fused"}


def hyperparameters(rule: Rule) -> dict:
    """Every hyperparameter of the rule as benchmarked: the class defaults and the options."""
    sig = inspect.signature(getattr(fo, rule.name).__init__)
    hp = {k: p.default for k, p in sig.parameters.items()
          if p.kind is p.POSITIONAL_OR_KEYWORD and k not in ("self", "params")}
    hp.update(rule.options)
    return hp


def state_arrays(rule: Rule) -> int:
    """How many state arrays of the parameters' size fastoptim keeps for the rule."""
    store = fo.FlatParams([4])
    opt = getattr(fo, rule.name)(store, **rule.options)
    opt.step()
    return sum(isinstance(v, np.ndarray) for v in opt.state_dict()["state"].get(0, {}).values())


def traffic_bytes(slots: int, state_bytes: int = 4) -> int:
    """Bytes moved per element by one step: read p, g and the state; write p and the state
    (float32 p and g; state elements of `state_bytes` bytes: 4 float32, 2 bfloat16)."""
    return 4 * 2 + state_bytes * slots + 4 + state_bytes * slots


class StateFormat(NamedTuple):
    options: dict  # the fastoptim optimizer's keyword arguments
    bytes: int  # bytes per state element
    ceiling: int  # _core.Traffic's state_format (0 float32, 1 bfloat16 stochastic, 2 nearest)
    label: str  # for the report


# --state-dtype: how fastoptim keeps its state. The bfloat16 ceiling writes the state back
# rounded to nearest (state_format 2) for both roundings: the ceiling is bytes, and the
# stochastic rounding's random bits (a hash per element) are arithmetic.
STATE_DTYPES: Dict[str, StateFormat] = {
    "float32": StateFormat({}, 4, 0, "float32 state"),
    "bfloat16": StateFormat(dict(state_dtype="bfloat16"), 2, 2,
                            "bfloat16 state, rounded stochastically"),
    "bfloat16-nearest": StateFormat(dict(state_dtype="bfloat16", state_rounding="nearest"), 2,
                                    2, "bfloat16 state, rounded to nearest even"),
}
BF16_RTOL = 2.0**-4  # the agreement check's tolerance for bfloat16 state (see the docstring)


# ---------------------------------------------------------------------------------------------
# Contenders: each a factory that takes a store (its .data and .grad are the shared buffers)
# and returns a step function. The benchmark calls every factory on one store; the agreement
# check calls each on a store of its own.
# ---------------------------------------------------------------------------------------------
def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


_FUSED: Dict[str, bool] = {}


def torch_has_fused(torch: Any, name: str) -> bool:
    """Whether torch.optim.<name> has a fused CPU kernel (tried once on a small tensor)."""
    if name not in _FUSED:
        t = torch.zeros(4, requires_grad=True)
        t.grad = torch.ones(4)
        try:
            getattr(torch.optim, name)([t], fused=True).step()
            _FUSED[name] = True
        except (RuntimeError, TypeError, ValueError):
            _FUSED[name] = False
    return _FUSED[name]


def factories(rule: Rule, torch: Any = None,
              state: str = "float32") -> Dict[str, Callable[[Any], Step]]:
    """Contender key -> factory(store) -> step(), for the rule (torch ones if torch is given);
    fastoptim keeps its state as `state` says (a key of STATE_DTYPES), and with state other
    than float32 "fastoptim_fp32" is fastoptim with float32 state."""
    opts = rule.options
    cls = getattr(fo, rule.name)
    out: Dict[str, Callable[[Any], Step]] = {
        "fastoptim": lambda store: cls(store, **opts, **STATE_DTYPES[state].options).step}
    if state != "float32":
        out["fastoptim_fp32"] = lambda store: cls(store, **opts).step
    out["numpy_inplace"] = lambda store: rule.inplace(store, **opts).step
    out["numpy_textbook"] = lambda store: rule.textbook(store, **opts).step
    if torch is not None and rule.torch is not None:
        make = getattr(torch.optim, rule.torch)

        def torch_step(store: Any, **kw: Any) -> Step:
            t = torch.from_numpy(store.data).requires_grad_(True)  # shares the buffers
            t.grad = torch.from_numpy(store.grad)
            return make([t], **opts, **kw).step

        out["torch_default"] = lambda store: torch_step(store, foreach=False)
        if torch_has_fused(torch, rule.torch):
            out["torch_fused"] = lambda store: torch_step(store, fused=True)
    return out


def ceiling(store: Any, slots: int, state: str = "float32") -> Step:
    """The bandwidth ceiling: a native step with `slots` state arrays and no arithmetic (state
    in the format of `state`, a key of STATE_DTYPES; bfloat16 as its bits, uint16 arrays)."""
    fmt = STATE_DTYPES[state]
    n = store.data.size
    states = [[aligned_zeros(n) if fmt.bytes == 4 else aligned_zeros(n, ml_dtypes.bfloat16)
               .view(np.uint16)] if k < slots else None for k in range(3)]
    plan = _core.Traffic([{"slots": slots}], [store.data], [0], states, np.zeros(1, np.int64),
                         None, [], fmt.ceiling, 0)
    grads = [store.grad]
    return lambda: plan.step(grads)


def new_store(n: int, rng: np.random.Generator) -> Any:
    """A one-tensor FlatParams store of n elements: parameters ~ N(0, 1), gradients ~ N(0, 0.01)."""
    store = fo.FlatParams([n])
    store.data[...] = rng.standard_normal(n, dtype=np.float32)
    store.grad[...] = rng.standard_normal(n, dtype=np.float32) * np.float32(0.01)
    return store


# ---------------------------------------------------------------------------------------------
# Agreement: every contender computes fastoptim's parameters
# ---------------------------------------------------------------------------------------------
class AgreementError(RuntimeError):
    """A contender's parameters differ from fastoptim's after the check's steps."""


def check_agreement(rules: Sequence[str], torch: Any = None, steps: int = 5, n: int = 1000,
                    rtol: float = 1e-5, atol: float = 1e-6, state: str = "float32",
                    bf16_rtol: float = BF16_RTOL) -> Dict[str, Dict[str, float]]:
    """Steps every contender of each rule `steps` times from the same parameters with the same
    gradients (a new one each step) and compares the parameters with fastoptim's.

    Returns rule -> contender -> max |p - p_fastoptim|; raises AgreementError when a contender
    is off by more than atol + rtol * |p_fastoptim| anywhere. With `state` other than float32
    (fastoptim with bfloat16 state), the reference is fastoptim with float32 state
    ("fastoptim_fp32"), and the entry "fastoptim" is instead the distance of bfloat16 state's
    parameters from it relative to how far float32 state moved them, ||p - p_ref|| /
    ||p_ref - p_start||, which must be at most bf16_rtol.
    """
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(steps)]
    diffs: Dict[str, Dict[str, float]] = {}
    for key in rules:
        rule = RULES[key]
        final = {}
        for name, make in factories(rule, torch, state).items():
            store = fo.FlatParams([n])
            store.data[...] = p0
            step = make(store)
            for g in grads:
                store.grad[...] = g
                step()
            final[name] = store.data.copy()
        ref = final.pop("fastoptim_fp32" if state != "float32" else "fastoptim")
        diffs[key] = {}
        if state != "float32":
            low = final.pop("fastoptim")
            moved = max(float(np.linalg.norm(ref - p0)), 1e-30)
            dev = float(np.linalg.norm(low - ref)) / moved
            diffs[key]["fastoptim"] = dev
            if not dev <= bf16_rtol:
                raise AgreementError(
                    f"{rule.name}: fastoptim with {STATE_DTYPES[state].label}, differs "
                    f"from float32 state after {steps} steps by {100 * dev:.3g}% of the "
                    f"parameters' displacement (tolerance {100 * bf16_rtol:g}%)")
        for name, p in final.items():
            diffs[key][name] = float(np.max(np.abs(p - ref)))
            if not np.allclose(p, ref, rtol=rtol, atol=atol):
                raise AgreementError(
                    f"{rule.name}: {NAMES[name]} differs from fastoptim"
                    f"{' with float32 state' if state != 'float32' else ''} after {steps} steps "
                    f"(max |difference| {diffs[key][name]:.3g}, tolerance {atol:g} + "
                    f"{rtol:g} |p|)")
    return diffs


# ---------------------------------------------------------------------------------------------
# Timing: the one measuring loop
# ---------------------------------------------------------------------------------------------
class Timing(NamedTuple):
    warmup: int  # untimed steps of each contender first
    batch_s: float  # a timed batch: consecutive steps until this long
    budget_s: float  # seconds of timed repetitions per case, roughly
    min_reps: int
    max_reps: int


QUICK = Timing(warmup=1, batch_s=0.004, budget_s=0.3, min_reps=3, max_reps=15)
FULL = Timing(warmup=2, batch_s=0.02, budget_s=2.0, min_reps=5, max_reps=41)


def measure(contenders: Dict[str, Step], timing: Timing, threads: int = 1) -> Dict[str, Any]:
    """Median seconds per step of each contender.

    Each contender is warmed up and its step timed once (to size the run). Then, repetitions:
    in each, every contender runs a batch of consecutive steps until timing.batch_s has passed
    (one step when a step is longer), in round-robin order rotated every repetition, so that a
    slow drift of the machine hits every contender alike. The number of repetitions follows
    timing.budget_s, within timing.min_reps..max_reps.

    Other processes disturb the timings (most at as many threads as cores: a parallel region
    waits for its slowest thread, and a thread that loses its core costs milliseconds). On
    Linux, the CPU time other processes used is read from /proc during each repetition; a
    repetition is disturbed when they used more than the cores `threads` leaves idle, plus
    0.15. Disturbed repetitions are left out of the medians when at least 3 clean ones remain;
    otherwise every repetition counts and the case is marked disturbed.

    Returns {"per": key -> {"median_s", "samples_s"}, "reps", "clean_reps", "disturbed",
    "other_cores": per repetition (None off Linux)}.
    """
    clock = time.perf_counter
    names = list(contenders)
    first = {}
    for name in names:
        fn = contenders[name]
        for _ in range(timing.warmup):
            fn()
        t0 = clock()
        fn()
        first[name] = clock() - t0
    rep_s = sum(max(first[n], timing.batch_s) for n in names)
    reps = int(min(timing.max_reps, max(timing.min_reps, timing.budget_s // rep_s)))
    samples: Dict[str, List[float]] = {n: [] for n in names}
    others: List[Optional[float]] = []
    gc.collect()
    gc.disable()  # no collection pauses inside a batch
    try:
        for r in range(reps):
            before = _cpu_snapshot()
            for k in range(len(names)):
                name = names[(k + r) % len(names)]
                fn = contenders[name]
                calls, t0 = 0, clock()
                while True:
                    fn()
                    calls += 1
                    elapsed = clock() - t0
                    if elapsed >= timing.batch_s:
                        break
                samples[name].append(elapsed / calls)
            others.append(_other_cores(before, _cpu_snapshot()))
    finally:
        gc.enable()
    allowed = max(0, (os.cpu_count() or 1) - threads) + 0.15
    clean = [i for i, o in enumerate(others) if o is None or o < allowed]
    disturbed = len(clean) < min(3, reps)
    use = range(reps) if disturbed else clean
    per = {n: dict(median_s=statistics.median(s[i] for i in use), samples_s=s)
           for n, s in samples.items()}
    return dict(per=per, reps=reps, clean_reps=len(clean), disturbed=disturbed,
                other_cores=others)


def _cpu_snapshot() -> Optional[tuple]:
    """(time, jiffies the machine was busy, jiffies this process used); None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            s = f.read()
    except (OSError, ValueError):
        return None
    fields = s[s.rindex(")") + 2:].split()
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)  # incl. steal
    return time.perf_counter(), busy, int(fields[11]) + int(fields[12])


def _other_cores(a: Optional[tuple], b: Optional[tuple]) -> Optional[float]:
    """Cores busy with other processes (or the hypervisor) between two snapshots."""
    if a is None or b is None:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / hz / max(b[0] - a[0], 1e-9))


def set_threads(n: int, torch: Any) -> None:
    fo.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
def run(rules: Sequence[str], sizes: Sequence[int], threads: Sequence[int], timing: Timing,
        torch: Any = None, log: Callable[[str], None] = lambda s: None,
        state: str = "float32") -> List[dict]:
    """Measures every rule x size x thread count; returns one row per case (see main)."""
    rng = np.random.default_rng(0)
    numpy_threads = min(threads)
    rows = []
    for key in rules:
        rule = RULES[key]
        slots = state_arrays(rule)
        for n in sizes:
            store = new_store(n, rng)  # every contender steps these p and g buffers
            contenders = {name: make(store)
                          for name, make in factories(rule, torch, state).items()}
            contenders["ceiling"] = ceiling(store, slots, state)
            numpy_row: Dict[str, Any] = {}
            for t in threads:
                set_threads(t, torch)
                timed = {k: f for k, f in contenders.items()
                         if t == numpy_threads or k not in NUMPY}
                t0 = time.perf_counter()
                meas = measure(timed, timing, t)
                median = {k: v["median_s"] for k, v in meas["per"].items()}
                gelem = {k: n / s / 1e9 for k, s in median.items()}
                if t == numpy_threads:
                    numpy_row = {k: gelem[k] for k in NUMPY}
                base = dict(gelem, **numpy_row)  # NumPy: its (fewest threads) measurement
                row = dict(
                    rule=key, n=n, threads=t, median_s=median, gelem_s=gelem,
                    pct_of_ceiling={k: 100 * g / gelem["ceiling"] for k, g in gelem.items()},
                    speedup={k: gelem["fastoptim"] / base[k] for k in SPEEDUPS if k in base},
                    reps=meas["reps"], clean_reps=meas["clean_reps"],
                    disturbed=meas["disturbed"], other_cores=meas["other_cores"],
                    samples_s={k: v["samples_s"] for k, v in meas["per"].items()},
                )
                rows.append(row)
                log(f"{rule.name} {size_label(n)} {t} thr: fastoptim {gelem['fastoptim']:.2f} "
                    f"Gelem/s = {row['pct_of_ceiling']['fastoptim']:.0f}% of the ceiling "
                    f"({row['reps']} reps, {row['clean_reps']} undisturbed, "
                    f"{time.perf_counter() - t0:.1f} s)")
            del contenders, store
            gc.collect()
    return rows


# ---------------------------------------------------------------------------------------------
# Machine, table, plot
# ---------------------------------------------------------------------------------------------
def machine_info(torch: Any) -> dict:
    info: Dict[str, Any] = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
        fastoptim=fo.__version__, cpu_target=fo.cpu_target(),
        available_targets=fo.available_targets(), openmp=bool(_core.openmp),
        numpy=np.__version__, torch=None if torch is None else torch.__version__,
        python=platform.python_version(), platform=platform.platform(),
    )
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(("MemTotal", "MemAvailable")):
                    k, v = line.split(":")
                    info["mem_total_gib" if k == "MemTotal" else "mem_available_gib"] = round(
                        int(v.split()[0]) / 2**20, 1)
    except OSError:
        pass
    if "mem_available_gib" not in info:  # not Linux: physical memory, as an upper bound
        try:
            info["mem_available_gib"] = round(
                os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
        except (AttributeError, OSError, ValueError):
            pass
    for name, cache in (("l2_cache", "index2"), ("l3_cache", "index3")):
        try:
            path = Path(f"/sys/devices/system/cpu/cpu0/cache/{cache}/size")
            info[name] = path.read_text().strip()
        except OSError:
            pass
    if hasattr(os, "getloadavg"):
        info["loadavg_start"] = list(os.getloadavg())
    return info


def size_label(n: int) -> str:
    k = n.bit_length() - 1
    return f"2^{k}" if n == 1 << k else f"{n:,}"


def write_results(out: Union[str, Path], stem: str, doc: dict, text: str) -> List[Path]:
    """Writes a run's `doc` (JSON) and its rendered `text` (markdown) as out/stem.json and
    out/stem.md; returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(doc, indent=1, default=str) + "\n")
    paths[1].write_text(text if text.endswith("\n") else text + "\n")
    return paths


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    """A Markdown table with padded columns (readable in a terminal too); first column left."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    cell = lambda s, i: s.ljust(widths[i]) if i == 0 else s.rjust(widths[i])  # noqa: E731
    line = lambda r: "| " + " | ".join(cell(s, i) for i, s in enumerate(r)) + " |"  # noqa: E731
    rule = "|" + "|".join(("-" * (w + 1) + ":") if i else (":" + "-" * (w + 1))
                          for i, w in enumerate(widths)) + "|"
    return [line(header), rule] + [line(r) for r in rows]


def render(doc: dict) -> str:
    """The printed report: a header, then per rule a table of throughput and speedups."""
    m, cfg = doc["machine"], doc["config"]
    out = [f"# fastoptim {m['fastoptim']} benchmark — {m['cpu']} ({m['cores']} cores"
           + "".join(f", {k[:2].upper()} {m[k]}" for k in ("l2_cache", "l3_cache") if k in m)
           + f"), SIMD {m['cpu_target']}, NumPy {m['numpy']}, "
           + (f"torch {m['torch']}" if m["torch"] else "torch not installed"), ""]
    out += [f"Note: {note}" for note in doc["notes"]]
    state = STATE_DTYPES[cfg.get("state_dtype", "float32")]
    low = (f" fastoptim keeps {state.label} ({state.bytes} bytes per state element; the "
           "ceiling moves as many), fastoptim fp32 float32 state (4 bytes); NumPy and torch "
           "keep float32 state." if state.bytes != 4 else "")
    out += [f"Agreement: {doc['agreement']['summary']}", "",
            "One step on one float32 tensor." + low + " Cells: Gelem/s (parameters updated "
            "per second, median of the repetitions) and its % of the ceiling, the measured "
            "bandwidth for fastoptim's memory traffic at the same size and threads. ×: "
            "fastoptim's speedup. "
            f"NumPy is single-threaded: measured at {cfg['numpy_threads']} thread"
            f"{'s' if cfg['numpy_threads'] > 1 else ''} (— in other rows; × compares with that "
            "measurement); " + ("× fp32: over fastoptim with float32 state; "
                                if state.bytes != 4 else "")
            + "× in-place, × textbook: over NumPy; × torch, × fused: over "
            "torch.optim's default and fused steps. Higher is better.", ""]
    have = [k for k, _ in CONTENDERS if any(k in r["gelem_s"] for r in doc["results"])]
    for key in cfg["rules"]:
        rows = [r for r in doc["results"] if r["rule"] == key]
        hp = ", ".join(f"{k}={v}" for k, v in cfg["hyperparameters"][key].items())
        head = f"## {RULES[key].name} ({hp}): {cfg['bytes_per_elem'][key]} B/elem moved"
        if state.bytes != 4:
            head += (f" (fastoptim fp32: {traffic_bytes(cfg['state_arrays'][key])}), "
                     f"{cfg['state_bytes_per_param'][key]} B of state per parameter (fp32: "
                     f"{4 * cfg['state_arrays'][key]})")
        out.append(head)
        out.append("")
        cols = [k for k in have if k != "ceiling"]
        speed = [k for k in SPEEDUPS if k in have]
        header = (["size", "thr", "ceiling (GB/s)"] + [NAMES[k] for k in cols]
                  + [f"× {SHORT[k]}" for k in speed])
        body = []
        for r in rows:
            g, pct = r["gelem_s"], r["pct_of_ceiling"]
            cells = [size_label(r["n"]) + (" †" if r["disturbed"] else ""), str(r["threads"]),
                     f"{_g(g['ceiling'])} ({g['ceiling'] * cfg['bytes_per_elem'][key]:.0f})"]
            cells += [f"{_g(g[k])} ({pct[k]:.0f}%)" if k in g else "—" for k in cols]
            cells += [_x(r["speedup"][k]) if k in r["speedup"] else "—" for k in speed]
            body.append(cells)
        out += _table(header, body) + [""]
    if any(r["disturbed"] for r in doc["results"]):
        out.append("† disturbed: other processes used the CPU during most repetitions of this "
                   "row; its figures are unreliable (run again on an idle machine).")
    if cfg["torch"] and any(k not in r["gelem_s"] for r in doc["results"]
                            for k in ("torch_default", "torch_fused")):
        out.append("— in a torch column: torch.optim has no such rule, or no fused CPU kernel "
                   "for it.")
    out.append(f"Method: {doc['config']['method']}")
    return "\n".join(out) + "\n"


def _g(x: float) -> str:
    return f"{x:.2g}" if x < 0.01 else f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def _x(x: float) -> str:
    return f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


STYLE = {  # contender -> matplotlib line style
    "fastoptim": dict(color="#1f77b4", marker="o", lw=2.4, zorder=5),
    "fastoptim_fp32": dict(color="#17becf", marker="o", lw=1.6),
    "numpy_inplace": dict(color="#ff7f0e", marker="s", lw=1.6),
    "numpy_textbook": dict(color="#d62728", marker="v", lw=1.6),
    "torch_default": dict(color="#2ca02c", marker="^", lw=1.6),
    "torch_fused": dict(color="#9467bd", marker="D", lw=1.6),
    "ceiling": dict(color="black", marker="", lw=1.4, ls="--"),
}


def plot(doc: dict, path: Path) -> None:
    """Throughput against size per contender: one panel per rule (rows) and thread count."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    cfg, res = doc["config"], doc["results"]
    rules, threads, nt = cfg["rules"], cfg["threads"], cfg["numpy_threads"]
    state = cfg.get("state_dtype", "float32")
    fig = Figure(figsize=(4.6 * len(threads) + 0.4, 3.4 * len(rules) + 1.1), layout="constrained")
    axes = fig.subplots(len(rules), len(threads), squeeze=False, sharex=True, sharey="row")
    handles: Dict[str, Any] = {}
    for i, key in enumerate(rules):
        for j, t in enumerate(threads):
            ax = axes[i][j]
            rows = sorted((r for r in res if r["rule"] == key and r["threads"] == t),
                          key=lambda r: r["n"])
            for k, name in CONTENDERS:
                src = rows
                if k in NUMPY and t != nt:  # NumPy: its single measurement, in every panel
                    src = sorted((r for r in res if r["rule"] == key and r["threads"] == nt),
                                 key=lambda r: r["n"])
                src = [r for r in src if k in r["gelem_s"]]
                if not src:
                    continue
                label = name if k != "ceiling" else "ceiling (bandwidth, no arithmetic)"
                if k == "fastoptim" and state != "float32":
                    label += f" ({state} state)"
                if k in NUMPY:
                    label += f" ({nt} thread{'s' if nt > 1 else ''})"
                x, y = [r["n"] for r in src], [r["gelem_s"][k] for r in src]
                (line,) = ax.plot(x, y, label=label, ms=5, **STYLE[k])
                handles.setdefault(label, line)
                bad = [(a, b) for a, b, r in zip(x, y, src) if r["disturbed"]]
                if bad and STYLE[k]["marker"]:  # hollow: disturbed by other processes
                    ax.plot(*zip(*bad), ls="", ms=5, mfc="white", zorder=6,
                            **{a: v for a, v in STYLE[k].items() if a not in ("lw", "zorder")})
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(cfg["sizes"], [_tex_size(n) for n in cfg["sizes"]])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{RULES[key].name} · {t} thread{'s' if t > 1 else ''}")
            if i == len(rules) - 1:
                ax.set_xlabel("elements (one float32 tensor)")
            if j == 0:
                ax.set_ylabel("throughput, Gelem/s")
    m = doc["machine"]
    title = (f"fastoptim {m['fastoptim']}: one optimizer step, higher is better — "
             f"{m['cpu']}, {m['cores']} cores, SIMD {m['cpu_target']}")
    if state != "float32":
        title += f"\nfastoptim with {STATE_DTYPES[state].label}"
    if any(r["disturbed"] for r in res):
        title += "\nhollow markers: disturbed by other processes (unreliable)"
    fig.suptitle(title, fontsize=11)
    kw = dict(ncols=min(len(handles), 3), frameon=False)
    try:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", **kw)
    except ValueError:  # matplotlib < 3.7: no "outside" locations
        fig.legend(handles.values(), handles.keys(), loc="lower center", **kw)
    fig.savefig(path, dpi=110)


def _tex_size(n: int) -> str:
    k = n.bit_length() - 1
    return f"$2^{{{k}}}$" if n == 1 << k else f"{n:,}"


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_rules(text: str) -> List[str]:
    """Rule names, case-insensitive ("all": every rule); raises ValueError naming the valid ones."""
    out = []
    for tok in text.split(","):
        key = tok.strip().lower().replace("_", "").replace("-", "")
        if not key:
            continue
        if key == "all":
            out += [k for k in RULES if k not in out]
            continue
        if key not in RULES:
            why = NOT_BENCHMARKED.get(key, f"unknown rule {tok.strip()!r}")
            raise ValueError(f"{why}; valid rules: {', '.join(r.name for r in RULES.values())} "
                             "(case-insensitive), or all")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("no rules given")
    return out


def parse_sizes(text: str) -> List[int]:
    """Sizes: "20", "2^20" or "2**20" mean 2**20 elements; numbers above 40 are element counts."""
    out = []
    for tok in text.split(","):
        tok = tok.strip().lower().replace("_", "")
        if not tok:
            continue
        try:
            if tok.startswith(("2^", "2**")):
                n = 2 ** int(tok.lstrip("2").lstrip("^*"))
            else:
                k = int(float(tok)) if "e" in tok else int(tok)
                n = 2**k if 0 <= k <= 40 else k
        except ValueError:
            raise ValueError(f"bad size {tok!r}: give exponents (20 = 2^20 elements) or element "
                             "counts (above 40), e.g. 16,20,24 or 1000000") from None
        if n < 1:
            raise ValueError(f"bad size {tok!r}: at least one element")
        out.append(n)
    if not out:
        raise ValueError("no sizes given")
    return sorted(set(out))


def timing_of(quick: bool, budget: Optional[float] = None) -> Timing:
    """The timing of --quick (or the full one), with --budget's seconds per size if given."""
    timing = QUICK if quick else FULL
    return timing if budget is None else timing._replace(budget_s=budget)


def parse_threads(text: str) -> List[int]:
    try:
        out = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise ValueError(f"bad --threads {text!r}: thread counts such as 1,2") from None
    if not out or out[0] < 1:
        raise ValueError(f"bad --threads {text!r}: thread counts of at least 1")
    return out


def _parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1
    default_threads = "1" if cores == 1 else f"1,{cores}"
    ap = argparse.ArgumentParser(
        prog="python -m fastoptim.bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", default=DEFAULT_RULES, metavar="R,R,...",
                    help=f"rules to time, case-insensitive (default {DEFAULT_RULES}; 'all' for "
                         f"every one): {', '.join(r.name for r in RULES.values())}")
    ap.add_argument("--sizes", default=None, metavar="S,S,...",
                    help="tensor sizes: exponents (20 = 2^20 elements) or element counts (above "
                         "40); default 12,16,20,24 (--quick: 12,16,20)")
    ap.add_argument("--threads", default=default_threads, metavar="T,T,...",
                    help=f"thread counts for fastoptim and torch (default {default_threads})")
    ap.add_argument("--quick", action="store_true",
                    help="fewer sizes and shorter timing (the default run in under 30 s on 2 "
                         "cores); noisier")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="also write DIR/results.json, DIR/results.md and DIR/results.png")
    ap.add_argument("--budget", type=float, default=None, metavar="S",
                    help=f"seconds of timed repetitions per case (default {FULL.budget_s:g}; "
                         f"--quick {QUICK.budget_s:g})")
    ap.add_argument("--no-torch", action="store_true", help="leave torch out even if installed")
    ap.add_argument("--state-dtype", default="float32", choices=list(STATE_DTYPES),
                    help="how fastoptim keeps its optimizer state (default float32): bfloat16 "
                         "(state_dtype='bfloat16', rounded stochastically) or bfloat16-nearest "
                         "(state_rounding='nearest'); the ceiling moves that state's bytes and "
                         "fastoptim with float32 state is timed too ('fastoptim fp32'). The "
                         "agreement check then allows bfloat16's rounding: see above")
    return ap


def _memory_needed(rules: Sequence[str], n: int) -> int:
    """Bytes the largest case needs, roughly: the shared p and g, each contender's state
    (6 contenders, 7 with bfloat16 state: counted as float32), the scratch arrays and NumPy
    textbook's temporaries."""
    slots = max(state_arrays(RULES[k]) for k in rules)
    return 4 * n * (2 + 7 * slots + 8)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        rules = parse_rules(args.rules)
        sizes = parse_sizes(args.sizes or ("12,16,20" if args.quick else "12,16,20,24"))
        threads = parse_threads(args.threads)
    except ValueError as e:
        ap.error(str(e))
    timing = timing_of(args.quick, args.budget)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    start = time.perf_counter()

    notes = []
    torch = None if args.no_torch else _import_torch()
    if args.no_torch:
        notes.append("torch left out (--no-torch).")
    elif torch is None:
        notes.append("torch is not installed: the torch columns are skipped "
                     "(pip install torch to compare with torch.optim).")
    info = machine_info(torch)
    need = _memory_needed(rules, max(sizes))
    if "mem_available_gib" in info and need > 0.8 * info["mem_available_gib"] * 2**30:
        ap.error(f"the largest size needs about {need / 2**30:.1f} GiB, more than is free "
                 f"({info['mem_available_gib']} GiB): choose smaller --sizes")
    load = info.get("loadavg_start", [0.0])[0]
    if load > 0.5:
        notes.append(f"the machine was busy at the start (load average {load:.2f}): other "
                     "processes disturb the timings.")

    state = STATE_DTYPES[args.state_dtype]
    try:
        diffs = check_agreement(rules, torch, state=args.state_dtype)
    except AgreementError as e:
        print(f"error: agreement check failed: {e}", file=sys.stderr)
        return 1
    low = {k: per.pop("fastoptim") for k, per in diffs.items() if "fastoptim" in per}
    worst = max((d for per in diffs.values() for d in per.values()), default=0.0)
    checked = sorted({NAMES[k] for per in diffs.values() for k in per},
                     key=[n for _, n in CONTENDERS].index)
    names = ", ".join(RULES[k].name for k in rules)
    if low:
        summary = (f"after 5 steps from the same start, {', '.join(checked)} match fastoptim "
                   f"with float32 state on {names} (largest difference {worst:.1e}: float32 "
                   f"rounding); fastoptim with {state.label}, is within "
                   f"{100 * max(low.values()):.2g}% of float32 state's displacement of the "
                   f"parameters (relative Euclidean distance; tolerance {100 * BF16_RTOL:g}%: "
                   "bfloat16 keeps 8 significant bits).")
    else:
        summary = (f"after 5 steps from the same start, {', '.join(checked)} match fastoptim "
                   f"on {names} (largest difference {worst:.1e}: float32 rounding).")
    log(f"agreement: {summary}")

    saved = fo.get_num_threads(), (torch.get_num_threads() if torch is not None else None)
    try:
        results = run(rules, sizes, threads, timing, torch, log, args.state_dtype)
    finally:
        fo.set_num_threads(saved[0])
        if torch is not None:
            torch.set_num_threads(saved[1])

    if hasattr(os, "getloadavg"):
        info["loadavg_end"] = list(os.getloadavg())
    warm = f"{timing.warmup} step{'s' if timing.warmup > 1 else ''}"
    method = (f"each contender warmed up ({warm}), then interleaved round-robin "
              f"repetitions (order rotated each one), each a batch of consecutive steps of at "
              f"least {timing.batch_s * 1000:g} ms; median over {timing.min_reps}.."
              f"{timing.max_reps} repetitions (about {timing.budget_s:g} s per case); all "
              "contenders step the same p and g buffers, each with its own state.")
    doc = dict(
        machine=info,
        config=dict(
            command="python -m fastoptim.bench" + "".join(
                f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
            rules=rules, sizes=sizes, threads=threads, numpy_threads=min(threads),
            quick=args.quick, torch=torch is not None,
            hyperparameters={k: hyperparameters(RULES[k]) for k in rules},
            state_arrays={k: state_arrays(RULES[k]) for k in rules},
            state_dtype=args.state_dtype,
            state_bytes_per_param={k: state.bytes * state_arrays(RULES[k]) for k in rules},
            bytes_per_elem={k: traffic_bytes(state_arrays(RULES[k]), state.bytes)
                            for k in rules},
            timing=timing._asdict(), contenders=NAMES, method=method),
        agreement=dict(summary=summary, steps=5, max_abs_diff=diffs,
                       **({"bf16_relative_deviation": low, "bf16_tolerance": BF16_RTOL}
                          if low else {})),
        notes=notes,
        results=results,
        runtime_s=round(time.perf_counter() - start, 2),
    )
    text = render(doc)
    print(text)
    if args.out:
        out = Path(args.out)
        write_results(out, "results", doc, text)
        try:
            plot(doc, out / "results.png")
            log(f"wrote {out / 'results.json'}, {out / 'results.md'} and {out / 'results.png'}")
        except ImportError:
            log(f"wrote {out / 'results.json'} and {out / 'results.md'}; matplotlib is not "
                "installed, so no results.png (pip install matplotlib)")
    log(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
