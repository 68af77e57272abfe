"""Lookahead around fastoptim optimizers, against a NumPy reference of the algorithm."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
import reference as ref
from conftest import assert_close, grad_stream

SHAPES = [(33,), (4, 5), (1,)]


def init(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("k,alpha", [(1, 0.5), (5, 0.5), (3, 0.8), (4, 0.0), (2, 1.0)])
@pytest.mark.parametrize("inner", ["SGD", "Adam"])
def test_matches_reference(target, inner, k, alpha):
    params = init()
    kw = dict(lr=0.05, momentum=0.9) if inner == "SGD" else dict(lr=0.01)
    opt = fo.Lookahead(getattr(fo, inner)(params, **kw), k=k, alpha=alpha)
    reference = getattr(ref, inner)([p.copy() for p in params], **kw)
    slow = [p.astype(np.float64) for p in params]
    rng = np.random.default_rng(1)
    for t, grads in enumerate(grad_stream(rng, SHAPES, 23), start=1):
        opt.step(grads)
        reference.step(grads)
        if t % k == 0:
            for i in range(len(slow)):
                slow[i] = slow[i] + alpha * (reference.params[i] - slow[i])
                reference.params[i] = slow[i].copy()
    for p, r in zip(params, reference.params):
        assert_close(p, r)
    for s, r in zip(opt.state_dict()["lookahead"]["slow"], slow):
        assert_close(s, r)


def test_works_with_the_flat_store_and_state_dict_round_trip():
    store = fo.FlatParams(init())
    opt = fo.Lookahead(fo.Adam(store, lr=0.01), k=3)
    twin_params = [p.copy() for p in init()]
    twin = fo.Lookahead(fo.Adam(twin_params, lr=0.01), k=3)
    rng = np.random.default_rng(2)
    stream = list(grad_stream(rng, SHAPES, 20))
    for grads in stream[:7]:
        for v, g in zip(store.grads, grads):
            np.copyto(v, g)
        opt.step()
        twin.step(grads)
    sd = twin.state_dict()
    assert set(sd) == {"optimizer", "lookahead"} and sd["lookahead"]["counter"] == 7
    resumed_params = [p.copy() for p in twin_params]
    resumed = fo.Lookahead(fo.Adam(resumed_params, lr=0.5), k=9, alpha=0.1)
    resumed.load_state_dict(sd)
    assert resumed.k == 3 and resumed.alpha == 0.5
    for grads in stream[7:]:
        for v, g in zip(store.grads, grads):
            np.copyto(v, g)
        opt.step()
        twin.step(grads)
        resumed.step(grads)
    for a, b, c in zip(store.params, twin_params, resumed_params):
        assert np.array_equal(a, b) and np.array_equal(b, c)


def test_param_groups_are_the_inner_optimizers():
    opt = fo.Lookahead(fo.SGD(init(), lr=0.1))
    opt.param_groups[0]["lr"] = 0.2
    assert opt.optimizer.param_groups[0]["lr"] == 0.2


@pytest.mark.parametrize("kw,err,match", [
    (dict(k=0), ValueError, "k"),
    (dict(k=2.5), TypeError, "k"),
    (dict(alpha=1.5), ValueError, "alpha"),
    (dict(alpha=-0.1), ValueError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"),
])
def test_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        fo.Lookahead(fo.SGD(init()), **kw)


def test_wraps_only_fastoptim_optimizers():
    with pytest.raises(TypeError, match="fastoptim optimizer"):
        fo.Lookahead(object())


def test_bad_state_dict_changes_nothing():
    params = init()
    opt = fo.Lookahead(fo.Adam(params, lr=0.01), k=2)
    rng = np.random.default_rng(3)
    for grads in grad_stream(rng, SHAPES, 3):
        opt.step(grads)
    before = opt.state_dict()
    bad = opt.state_dict()
    bad["lookahead"]["slow"][1] = np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["optimizer"]["state"][0]["exp_avg"] = np.zeros(2, np.float32)
    bad["lookahead"]["counter"] = 99
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["lookahead"]["counter"] == before["lookahead"]["counter"]
    for a, b in zip(after["lookahead"]["slow"], before["lookahead"]["slow"]):
        assert np.array_equal(a, b)


def test_a_skipped_inner_step_does_not_count_toward_k():
    shapes = [(5, 3), (17,)]
    stream = list(grad_stream(np.random.default_rng(3), shapes, 7))
    init = [np.random.default_rng(4).standard_normal(s).astype(np.float32) for s in shapes]
    params, twin_params = [p.copy() for p in init], [p.copy() for p in init]
    la = fo.Lookahead(fo.Adam(params, lr=0.01, nonfinite="skip"), k=3)
    twin = fo.Lookahead(fo.Adam(twin_params, lr=0.01), k=3)
    for j, gs in enumerate(stream):
        if j in (1, 4):  # skipped: as if these steps were never taken
            bad = [g.copy() for g in gs]
            bad[1][-1] = np.nan
            la.step(bad)
        la.step(gs)
        twin.step(gs)
        for a, b in zip(params, twin_params):
            assert np.array_equal(a, b)
    assert la.optimizer.skipped_steps == 2
