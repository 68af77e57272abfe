"""Convergence sanity, as optax's suite: every rule drives an ill-conditioned quadratic and the
Rosenbrock function below a stated bound (both start far above it)."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo

A = np.linspace(1, 10, 20).astype(np.float32)  # condition number 10


def quadratic(x):
    """0.5 * sum(a_i x_i^2): starts at 27.5 from x = 1, minimum 0 at x = 0."""
    return 0.5 * float(np.sum(A * x.astype(np.float64) ** 2)), (A * x).astype(np.float32)


def rosenbrock(p):
    """(1 - x)^2 + 100 (y - x^2)^2: starts at 12.5 from (-1.5, 2), minimum 0 at (1, 1)."""
    x, y = p.astype(np.float64)
    g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], np.float32)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, g


# rule: (quadratic options, bound after 500 steps, Rosenbrock options, bound after 5000 steps)
CASES = {
    "SGD": (dict(lr=0.05), 1e-8, dict(lr=1e-3), 0.05),
    "SGD-momentum": (dict(lr=0.01, momentum=0.9), 1e-8, dict(lr=2e-4, momentum=0.9), 1e-3),
    "SGD-nesterov": (dict(lr=0.01, momentum=0.9, nesterov=True), 1e-8,
                     dict(lr=2e-4, momentum=0.9, nesterov=True), 1e-3),
    "Adam": (dict(lr=0.05), 1e-8, dict(lr=0.02), 1e-6),
    "Adam-amsgrad": (dict(lr=0.05, amsgrad=True), 1e-6, dict(lr=0.02, amsgrad=True), 1e-3),
    "AdamW": (dict(lr=0.05), 1e-8, dict(lr=0.02, weight_decay=0.0), 1e-6),
    "Adagrad": (dict(lr=0.5), 1e-8, dict(lr=0.3), 0.05),
    "RMSprop": (dict(lr=0.01), 1e-8, dict(lr=1e-3), 0.01),
    "RMSprop-centered": (dict(lr=0.01, centered=True, momentum=0.5), 1e-6,
                         dict(lr=1e-3, centered=True), 0.05),
    "Adadelta": (dict(lr=10.0), 1.0, dict(lr=2.5), 2.5),
    "Adamax": (dict(lr=0.05), 1e-8, dict(lr=0.05), 1e-6),
    "NAdam": (dict(lr=0.05), 1e-8, dict(lr=0.02), 5e-3),
    "RAdam": (dict(lr=0.05), 1e-8, dict(lr=0.01), 0.02),
    "Lion": (dict(lr=0.005), 1e-8, dict(lr=0.003), 0.04),
    "ProximalSGD": (dict(lr=0.05, l2=0.01), 1e-8, dict(lr=1e-3), 0.05),
    "ProximalAdagrad": (dict(lr=0.5, l1=1e-4), 1e-6, dict(lr=0.3), 0.05),
}


def run(cls, kw, objective, x, steps):
    opt = cls([x], **kw)
    for _ in range(steps):
        opt.step([objective(x)[1]])
    return objective(x)[0]


@pytest.mark.parametrize("case", CASES)
def test_converges(case):
    cls = getattr(fo, case.split("-")[0])
    qkw, qbound, rkw, rbound = CASES[case]
    assert run(cls, qkw, quadratic, np.ones(20, np.float32), 500) < qbound
    assert run(cls, rkw, rosenbrock, np.array([-1.5, 2.0], np.float32), 5000) < rbound


def test_lookahead_converges():
    p = np.array([-1.5, 2.0], np.float32)
    opt = fo.Lookahead(fo.Adam([p], lr=0.02), k=5, alpha=0.5)
    for _ in range(5000):
        opt.step([rosenbrock(p)[1]])
    assert rosenbrock(p)[0] < 1e-4
