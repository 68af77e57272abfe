"""Convergence sanity, as optax's suite: every rule drives an ill-conditioned quadratic and the
Rosenbrock function below a stated bound (both start far above it)."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from conftest import RULES

A = np.linspace(1, 10, 20).astype(np.float32)  # condition number 10


def quadratic(x):
    """0.5 * sum(a_i x_i^2): starts at 27.5 from x = 1, minimum 0 at x = 0."""
    return 0.5 * float(np.sum(A * x.astype(np.float64) ** 2)), (A * x).astype(np.float32)


def rosenbrock(p):
    """(1 - x)^2 + 100 (y - x^2)^2: starts at 12.5 from (-1.5, 2), minimum 0 at (1, 1)."""
    x, y = p.astype(np.float64)
    g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], np.float32)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, g


# Every rule's convergence cases (conftest's table, column `converge`), by id "rule" or
# "rule-variant": (rule, quadratic options, bound after 500 steps, Rosenbrock options, bound after
# 5000 steps).
CASES = {(name + "-" + variant if variant else name): (name, *case)
         for name, rule in RULES.items() for variant, case in rule.converge.items()}


def run(cls, kw, objective, x, steps):
    opt = cls([x], **kw)
    for _ in range(steps):
        opt.step([objective(x)[1]])
    return objective(x)[0]


@pytest.mark.parametrize("case", CASES)
def test_converges(case):
    rule, qkw, qbound, rkw, rbound = CASES[case]
    cls = RULES[rule].cls
    assert run(cls, qkw, quadratic, np.ones(20, np.float32), 500) < qbound
    assert run(cls, rkw, rosenbrock, np.array([-1.5, 2.0], np.float32), 5000) < rbound


def test_lookahead_converges():
    p = np.array([-1.5, 2.0], np.float32)
    opt = fo.Lookahead(fo.Adam([p], lr=0.02), k=5, alpha=0.5)
    for _ in range(5000):
        opt.step([rosenbrock(p)[1]])
    assert rosenbrock(p)[0] < 1e-4
