"""Gradient clipping against torch.nn.utils, and the fused max_grad_norm optimizer option."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from fastoptim import _core
from conftest import RULES, grad_stream

torch = pytest.importorskip("torch")

SHAPES = [(40, 33), (17,), (3, 5, 7), (1,)]


def grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours = grads()
    theirs = [torch.tensor(g.copy(), requires_grad=False) for g in ours]
    params = [torch.zeros_like(t, requires_grad=True) for t in theirs]
    for p, t in zip(params, theirs):
        p.grad = t
    total = fo.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    assert total == pytest.approx(float(ttotal), rel=2e-6)
    for a, p in zip(ours, params):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=2e-6, atol=1e-9)


def test_clip_grad_norm_is_identical_for_any_thread_count(threads):
    big = [np.random.default_rng(1).standard_normal(300_001).astype(np.float32)]
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(fo.clip_grad_norm_([big[0].copy()], 1.0))
    assert results[0] == results[1] == results[2]


def test_clip_grad_norm_nonfinite():
    gs = grads()
    gs[1][3] = np.nan
    before = [g.copy() for g in gs]
    with pytest.raises(RuntimeError, match="non-finite"):
        fo.clip_grad_norm_(gs, 1.0, error_if_nonfinite=True)
    for a, b in zip(gs, before):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(fo.clip_grad_norm_(gs, 1.0))
    gs = grads()
    gs[0][0] = np.inf
    assert fo.clip_grad_norm_(gs, 1.0, norm_type=float("inf")) == np.inf


@pytest.mark.parametrize("kw,err,match", [
    (dict(max_norm=-1.0), ValueError, "max_norm"),
    (dict(max_norm="1"), TypeError, "max_norm"),
    (dict(max_norm=1.0, norm_type=0), ValueError, "norm_type"),
    (dict(max_norm=1.0, norm_type="two"), TypeError, "norm_type"),
])
def test_clip_grad_norm_bad_arguments(kw, err, match):
    gs = grads()
    with pytest.raises(err, match=match):
        fo.clip_grad_norm_(gs, **kw)


def test_clip_grad_norm_rejects_bad_arrays_before_changing_any():
    gs = grads(scale=100.0)
    before = [g.copy() for g in gs]
    with pytest.raises(TypeError, match="float32"):
        fo.clip_grad_norm_(gs + [np.zeros(3)], 1.0)
    for a, b in zip(gs, before):
        np.testing.assert_array_equal(a, b)


def test_clip_grad_value_matches_torch():
    ours = grads(scale=3.0)
    params = [torch.zeros(g.shape, requires_grad=True) for g in ours]
    for p, g in zip(params, ours):
        p.grad = torch.tensor(g.copy())
    fo.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(params, 1.5)
    for a, p in zip(ours, params):
        np.testing.assert_array_equal(a, p.grad.numpy())


@pytest.mark.parametrize("rule", RULES)
def test_fused_max_grad_norm_equals_clipping_then_stepping(rule):
    cls, lr = RULES[rule].cls, RULES[rule].lr
    rng = np.random.default_rng(3)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    fused, separate = [p.copy() for p in init], [p.copy() for p in init]
    opt = cls(fused, lr=lr, max_grad_norm=2.0)
    ref = cls(separate, lr=lr)
    for gs in grad_stream(rng, SHAPES, 12):
        kept = [g.copy() for g in gs]
        opt.step(gs)
        for a, b in zip(gs, kept):
            np.testing.assert_array_equal(a, b)  # the fused path leaves the grads alone
        norm = fo.clip_grad_norm_(gs, 2.0)
        assert opt.last_grad_norm == pytest.approx(norm, rel=1e-6)
        ref.step(gs)
    for a, b in zip(fused, separate):
        np.testing.assert_array_equal(a, b)


def test_max_grad_norm_can_be_changed_and_validated():
    p = np.zeros(4, np.float32)
    opt = fo.SGD([p], lr=1.0)
    assert opt.max_grad_norm is None and np.isnan(opt.last_grad_norm)
    opt.max_grad_norm = 1.0
    opt.step([np.full(4, 10.0, np.float32)])
    np.testing.assert_allclose(p, -0.5, rtol=1e-6)  # norm 20 -> scaled to 1
    with pytest.raises(ValueError, match="max_grad_norm"):
        opt.max_grad_norm = -3
    assert opt.max_grad_norm == 1.0
    with pytest.raises(ValueError, match="max_grad_norm"):
        fo.Adam([np.zeros(2, np.float32)], max_grad_norm=float("nan"))


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, 4.0, 2.5, float("inf")])
def test_norm_is_the_same_bits_on_every_target_and_thread_count(norm_type, threads):
    """The reductions run per SIMD target with a fixed lane order: every target and thread count
    gives the same bits, and they match float64 NumPy (exactly, for the largest magnitude).
    Integer norm types take exact powers by repeated multiplication, others pow per element."""
    rng = np.random.default_rng(5)
    gs = [(rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
          for n in (1, 15, 17, 4096 * 3 + 5, 100_003)]
    gs[2][16] = -np.float32(7e5)  # the largest magnitude sits in the tail of a 16-lane group
    seen, before = set(), fo.cpu_target()
    try:
        for target in fo.available_targets():
            _core.set_target(target)
            for n in (1, 2, 3):
                threads(n)
                seen.add(fo.clip_grad_norm_([g.copy() for g in gs], 1e30, norm_type))
    finally:
        _core.set_target(before)
    assert len(seen) == 1
    flat = np.concatenate(gs).astype(np.float64)
    expected = (np.abs(flat).max() if norm_type == np.inf
                else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type))
    if norm_type == np.inf:
        assert seen.pop() == 7e5
    else:
        assert seen.pop() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("where", [0, 15, 16, 4100, -1])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_norms_see_a_nonfinite_anywhere(where, bad):
    g = np.random.default_rng(2).standard_normal(4200).astype(np.float32)  # two 4096-blocks
    g[where] = bad
    before = fo.cpu_target()
    try:
        for target in fo.available_targets():
            _core.set_target(target)
            for norm_type in (1.0, 2.0, 3.0, 2.5, float("inf")):
                total = fo.clip_grad_norm_([g.copy()], 1.0, norm_type)
                assert np.isnan(total) if np.isnan(bad) else total == np.inf, (target, norm_type)
    finally:
        _core.set_target(before)


def test_dot_is_the_same_bits_on_every_target_and_matches_float64():
    rng = np.random.default_rng(9)
    for n in (0, 1, 17, 4096 + 31, 70_001):
        x = rng.standard_normal(n).astype(np.float32)
        y = (rng.standard_normal(n) * 1e3).astype(np.float32)
        results, before = set(), fo.cpu_target()
        try:
            for target in fo.available_targets():
                _core.set_target(target)
                results.add(_core.dot(x, y))
        finally:
            _core.set_target(before)
        assert len(results) == 1
        exact = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
        scale = 1 + float(np.abs(y).sum())  # a float: pytest >= 9.2 rejects NumPy tolerances
        assert results.pop() == pytest.approx(exact, rel=1e-12, abs=1e-9 * scale)
