"""EMA of the weights against a NumPy reference; swapping; state."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo

SHAPES = [(20, 3), (7,), (1,)]


def params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


@pytest.mark.parametrize("decay", [0.9, 0.999, 0.0, 1.0])
def test_matches_reference(target, decay):
    ps = params()
    ema = fo.EMA(ps, decay=decay)
    avg = [p.astype(np.float64) for p in ps]
    rng = np.random.default_rng(1)
    for _ in range(30):
        for p in ps:
            p += rng.standard_normal(p.shape).astype(np.float32)
        ema.update()
        avg = [a + (1 - decay) * (p - a) for a, p in zip(avg, ps)]
    for s, a in zip(ema.shadow, avg):
        np.testing.assert_allclose(s, a, rtol=1e-5, atol=1e-5)
    assert ema.num_updates == 30


def test_swap_and_context_manager_restore_the_trained_weights():
    ps = params()
    ema = fo.EMA(ps, decay=0.5)
    for p in ps:
        p += 1.0
    ema.update()
    trained = [p.copy() for p in ps]
    with ema.average_parameters():
        for p, t in zip(ps, trained):
            np.testing.assert_allclose(p, t - 0.5, rtol=1e-6, atol=1e-6)
        with pytest.raises(RuntimeError, match="swapped"):
            ema.update()
    for p, t in zip(ps, trained):
        np.testing.assert_array_equal(p, t)
    with ema:  # the EMA itself is a context manager too
        np.testing.assert_allclose(ps[0], trained[0] - 0.5, rtol=1e-6, atol=1e-6)
    for p, t in zip(ps, trained):
        np.testing.assert_array_equal(p, t)


def test_on_an_optimizer_and_a_flat_store_and_state_dict():
    store = fo.FlatParams(params())
    opt = fo.SGD(store, lr=0.1)
    ema = fo.EMA(opt, decay=0.9)
    store.grad[:] = 1.0
    for _ in range(3):
        opt.step()
        ema.update()
    sd = ema.state_dict()
    ema2 = fo.EMA(store, decay=0.5)
    ema2.load_state_dict(sd)
    assert ema2.decay == 0.9 and ema2.num_updates == 3
    for a, b in zip(ema.shadow, ema2.shadow):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad,err", [
    (dict(decay=1.5), ValueError), (dict(decay=-0.1), ValueError), (dict(decay="x"), TypeError),
])
def test_bad_decay(bad, err):
    with pytest.raises(err, match="decay"):
        fo.EMA(params(), **bad)


def test_bad_state_dict_changes_nothing():
    ema = fo.EMA(params(), decay=0.9)
    before = ema.state_dict()
    bad = ema.state_dict()
    bad["shadow"][1] = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="shape"):
        ema.load_state_dict(bad)
    bad = dict(before, decay=2.0)
    with pytest.raises(ValueError, match="decay"):
        ema.load_state_dict(bad)
    for a, b in zip(ema.shadow, before["shadow"]):
        np.testing.assert_array_equal(a, b)
