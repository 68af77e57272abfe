"""Proximal methods: exact zeros from the soft-threshold, and L1 recovering a sparse support."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo


@pytest.mark.parametrize("cls", [fo.ProximalSGD, fo.ProximalAdagrad])
def test_soft_threshold_gives_exact_zeros(target, cls):
    p = np.array([0.05, -0.05, 0.5, -0.5, 0.0] * 7, np.float32)  # 35: body and tail
    cls([p], lr=0.1, l1=1.0).step([np.zeros_like(p)])
    small = np.abs(np.array([0.05, -0.05, 0.5, -0.5, 0.0] * 7)) <= 0.1 * 1.0
    assert np.all(p[small[: p.size]] == 0.0)  # exactly zero, not tiny
    assert np.all(p[~small] != 0.0)


def test_without_penalties_proximal_sgd_is_sgd():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(100).astype(np.float32)
    b = a.copy()
    g = rng.standard_normal(100).astype(np.float32)
    fo.ProximalSGD([a], lr=0.1).step([g])
    fo.SGD([b], lr=0.1).step([g])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls,lr,steps", [(fo.ProximalSGD, 0.05, 600),
                                          (fo.ProximalAdagrad, 0.5, 600)])
def test_l1_recovers_the_support_of_a_sparse_regression(cls, lr, steps):
    """y = X w* with 5 of 60 weights non-zero: L1 finds exactly those, plain least squares
    does not."""
    rng = np.random.default_rng(1)
    n, d = 200, 60
    X = rng.standard_normal((n, d)).astype(np.float32)
    w_true = np.zeros(d, np.float32)
    support = rng.choice(d, 5, replace=False)
    w_true[support] = rng.choice([-2.0, 2.0], 5) * rng.uniform(0.5, 1.5, 5)
    y = X @ w_true + 0.01 * rng.standard_normal(n).astype(np.float32)

    def fit(l1):
        w = np.zeros(d, np.float32)
        opt = cls([w], lr=lr, l1=l1)
        for _ in range(steps):
            opt.step([(X.T @ (X @ w - y) / n).astype(np.float32)])
        return w

    w = fit(l1=0.1)
    assert set(np.flatnonzero(w)) == set(support)
    np.testing.assert_allclose(w[support], w_true[support], rtol=0.1)
    dense = fit(l1=0.0)
    assert np.count_nonzero(dense) > 50
