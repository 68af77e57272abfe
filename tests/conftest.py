"""The one table of rules (RULES) and the helpers of the shared suites.

RULES drives the parametrized suites, tests/fuzz.py and bench/rules.py: adding a rule to the
tests is one row here (and its reference in reference.py)."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pytest

import fastoptim as fo
from fastoptim import _core

import reference as ref


def _product(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


def _sgd_configs():
    out = []
    for c in _product(momentum=[0.0, 0.9], dampening=[0.0, 0.5], weight_decay=[0.0, 0.1],
                      nesterov=[False, True], maximize=[False, True]):
        if c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0):
            continue  # invalid in torch too (tested in test_errors)
        out.append(c)
    return out


class Rule(NamedTuple):
    """One rule's row: everything the shared suites and bench/rules.py need to know of it."""

    cls: type  # the fastoptim class
    reference: type  # its float64 oracle in reference.py
    torch: str | None  # the torch.optim class of the same name (None: torch has none)
    lr: float  # the learning rate of the tests
    configs: list  # every option combination (test_rules, test_torch_parity, ...)
    core: list  # a few representative ones, for the heavier suites (sizes x targets x threads)
    # Options under which the rule keeps every state array it has (state dict round trips; the
    # variant rows of bench/rules.py, which move more memory).
    full_state: dict
    # Convergence (test_convergence.py), by variant ("" the rule's defaults): quadratic options,
    # its bound after 500 steps, Rosenbrock options, its bound after 5000 steps.
    converge: dict


RULES = {
    "SGD": Rule(
        fo.SGD, ref.SGD, "SGD", 0.05, _sgd_configs(),
        core=[{}, dict(momentum=0.9, dampening=0.1, weight_decay=0.01),
              dict(momentum=0.9, nesterov=True, maximize=True)],
        full_state=dict(momentum=0.9),
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=1e-3), 0.05),
                  "momentum": (dict(lr=0.01, momentum=0.9), 1e-8,
                               dict(lr=2e-4, momentum=0.9), 1e-3),
                  "nesterov": (dict(lr=0.01, momentum=0.9, nesterov=True), 1e-8,
                               dict(lr=2e-4, momentum=0.9, nesterov=True), 1e-3)}),
    "Adam": Rule(
        fo.Adam, ref.Adam, "Adam", 0.01,
        _product(amsgrad=[False, True], maximize=[False, True], weight_decay=[0.0, 0.1],
                 decoupled_weight_decay=[False, True]) + [dict(betas=(0.5, 0.8), eps=1e-3)],
        core=[{}, dict(amsgrad=True, weight_decay=0.1, maximize=True),
              dict(decoupled_weight_decay=True, weight_decay=0.1, betas=(0.8, 0.95))],
        full_state=dict(amsgrad=True),
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=0.02), 1e-6),
                  "amsgrad": (dict(lr=0.05, amsgrad=True), 1e-6,
                              dict(lr=0.02, amsgrad=True), 1e-3)}),
    "AdamW": Rule(
        fo.AdamW, ref.AdamW, "AdamW", 0.01,
        _product(amsgrad=[False, True], maximize=[False, True], weight_decay=[0.0, 0.1]),
        core=[dict(amsgrad=True)],
        full_state=dict(amsgrad=True),
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=0.02, weight_decay=0.0), 1e-6)}),
    "Adagrad": Rule(
        fo.Adagrad, ref.Adagrad, "Adagrad", 0.05,
        _product(lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.1],
                 initial_accumulator_value=[0.0, 0.5], maximize=[False, True]),
        core=[dict(lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=0.5), 1e-8, dict(lr=0.3), 0.05)}),
    "RMSprop": Rule(
        fo.RMSprop, ref.RMSprop, "RMSprop", 0.01,
        _product(centered=[False, True], momentum=[0.0, 0.9], weight_decay=[0.0, 0.1],
                 maximize=[False, True]) + [dict(alpha=0.5, eps=1e-3)],
        core=[dict(centered=True, momentum=0.9, maximize=True), dict(weight_decay=0.1)],
        full_state=dict(centered=True, momentum=0.9),
        converge={"": (dict(lr=0.01), 1e-8, dict(lr=1e-3), 0.01),
                  "centered": (dict(lr=0.01, centered=True, momentum=0.5), 1e-6,
                               dict(lr=1e-3, centered=True), 0.05)}),
    "Adadelta": Rule(
        fo.Adadelta, ref.Adadelta, "Adadelta", 1.0,
        _product(rho=[0.9, 0.5], weight_decay=[0.0, 0.1], maximize=[False, True]),
        core=[dict(weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=10.0), 1.0, dict(lr=2.5), 2.5)}),
    "Adamax": Rule(
        fo.Adamax, ref.Adamax, "Adamax", 0.01,
        _product(betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.0, 0.1],
                 maximize=[False, True]),
        core=[dict(maximize=True, weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=0.05), 1e-6)}),
    "NAdam": Rule(
        fo.NAdam, ref.NAdam, "NAdam", 0.01,
        _product(momentum_decay=[4e-3, 0.1], weight_decay=[0.0, 0.1],
                 decoupled_weight_decay=[False, True], maximize=[False, True]),
        core=[dict(decoupled_weight_decay=True, weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=0.02), 5e-3)}),
    "RAdam": Rule(
        fo.RAdam, ref.RAdam, "RAdam", 0.01,
        _product(betas=[(0.9, 0.999), (0.8, 0.9)], weight_decay=[0.0, 0.1],
                 decoupled_weight_decay=[False, True], maximize=[False, True]),
        core=[dict(betas=(0.8, 0.9), weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=0.05), 1e-8, dict(lr=0.01), 0.02)}),
    "Lion": Rule(
        fo.Lion, ref.Lion, None, 1e-3,
        _product(betas=[(0.9, 0.99), (0.5, 0.7)], weight_decay=[0.0, 0.1],
                 maximize=[False, True]),
        core=[dict(weight_decay=0.1)],
        full_state={},
        converge={"": (dict(lr=0.005), 1e-8, dict(lr=0.003), 0.04)}),
    "ProximalSGD": Rule(
        fo.ProximalSGD, ref.ProximalSGD, None, 0.05,
        _product(l1=[0.0, 0.1], l2=[0.0, 0.5], maximize=[False, True]),
        core=[dict(l1=0.1, l2=0.5)],
        full_state={},
        converge={"": (dict(lr=0.05, l2=0.01), 1e-8, dict(lr=1e-3), 0.05)}),
    "ProximalAdagrad": Rule(
        fo.ProximalAdagrad, ref.ProximalAdagrad, None, 0.05,
        _product(l1=[0.0, 0.1], l2=[0.0, 0.5], initial_accumulator_value=[0.1, 1.0],
                 maximize=[False, True]),
        core=[dict(l1=0.1, l2=0.5)],
        full_state={},
        converge={"": (dict(lr=0.5, l1=1e-4), 1e-6, dict(lr=0.3), 0.05)}),
}
# Rules torch.optim also has (the others are checked against the float64 references only).
TORCH_RULES = [name for name, rule in RULES.items() if rule.torch is not None]

# Every option combination of every rule, as (rule, config) pairs.
ALL_CONFIGS = [(name, config) for name, rule in RULES.items() for config in rule.configs]

# A few representative combinations per rule for the heavier suites (sizes x targets).
CORE_CONFIGS = [(name, config) for name, rule in RULES.items() for config in rule.core]


def config_id(rule, config):
    return rule + ("-" + ",".join(f"{k}={v}" for k, v in config.items()) if config else "")


def assert_close(actual, desired, rtol=2e-5, err_msg="", scale=None):
    """Element-wise closeness for float32 results against float64 math or torch.

    The absolute tolerance scales with the largest magnitude the values took on their way: after
    many steps, an element that cancelled to near zero carries the rounding error of the large
    values that built it. `scale` is that magnitude when the caller tracked it over the run;
    without it, the final array's own largest magnitude stands in.
    """
    desired = np.asarray(desired)
    if scale is None:
        scale = float(np.abs(desired).max()) if desired.size else 1.0
    assert np.isfinite(scale), f"tolerance scale {scale}: the reference itself overflowed"
    scale = max(1.0, scale)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=2e-6 * scale, err_msg=err_msg)


class Reached:
    """How large each array of a reference optimizer has been during a run, for the tolerance.

    A parameter's float32 rounding error is relative to the largest magnitude it reached, not to
    a final value that may have cancelled to near zero: `scale(i)`. State arrays are averages
    (or sums) that forget their past at a rate of 0.9 per step or slower, and so does the error
    their past values left in them: `scale(i, name)` is the largest magnitude with each step's
    value discounted by 0.9 per step since. Call after every step.
    """

    STATE_DECAY = 0.9

    def __init__(self, reference):
        self.reference, self.largest = reference, {}

    def __call__(self):
        for i, r in enumerate(self.reference.params):
            self._see((i, None), r, 1.0)
            for name, value in self.reference.state[i].items():
                self._see((i, name), value, self.STATE_DECAY)

    def _see(self, key, value, decay):
        value = np.asarray(value)
        if value.size:  # np.max, not max(): a NaN must propagate, not be dropped
            self.largest[key] = float(np.max([decay * self.largest.get(key, 0.0),
                                              np.abs(value).max()]))

    def scale(self, i, name=None):
        return self.largest.get((i, name))


def adam_pair(state_dtype, size, steps=3, seed=5):
    """(Adam with `state_dtype` state, Adam with float32 state, the initial parameters), both
    stepped with the same `steps` random gradients from the same parameters of `size`."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(np.float32)
    low = fo.Adam([p.copy()], lr=0.01, state_dtype=state_dtype)
    f32 = fo.Adam([p.copy()], lr=0.01)
    for _ in range(steps):
        g = [rng.standard_normal(size).astype(np.float32)]
        low.step(g)
        f32.step(g)
    return low, f32, p


def grad_stream(rng, shapes, steps):
    """Non-zero float32 gradients of varied scale (1e-3 to 1e3), a list per step."""
    for _ in range(steps):
        yield [(rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
               for s in shapes]


@pytest.fixture(params=fo.available_targets())
def target(request):
    """Runs the test once per SIMD target this CPU supports."""
    before = fo.cpu_target()
    _core.set_target(request.param)
    yield request.param
    _core.set_target(before)


@pytest.fixture
def threads():
    """Restores the thread count after a test that changes it."""
    before = fo.get_num_threads()
    yield fo.set_num_threads
    fo.set_num_threads(before)
