"""Property-based tests (hypothesis): over shapes, strides, offsets, hyperparameters and thread
counts, every rule equals its float64 reference; and hostile input never crashes the process,
only raises a clear error that leaves everything as it was."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastoptim as fo
from conftest import ALL_CONFIGS, RULES, Reached, assert_close

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def placed(values, offset):
    """A copy of `values` in a buffer starting `offset` floats past a 64-byte boundary."""
    buf = np.empty(values.size + offset + 32, np.float32)
    start = (-buf.ctypes.data % 64) // 4 + offset
    view = buf[start : start + values.size].reshape(values.shape)
    view[...] = values
    return view


shapes = st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple) | \
    st.integers(0, 300).map(lambda n: (n,))


@SETTINGS
@given(case=st.sampled_from(ALL_CONFIGS), shapes_=st.lists(shapes, min_size=1, max_size=4),
       offset=st.integers(0, 3), grad_layout=st.sampled_from(["contiguous", "strided", "reversed"]),
       threads=st.integers(1, 3), steps=st.integers(1, 6), lr_scale=st.floats(0.1, 3.0),
       seed=st.integers(0, 2**32 - 1))
def test_native_equals_reference(case, shapes_, offset, grad_layout, threads, steps, lr_scale,
                                 seed):
    rule, config = case
    cls, ref_cls, lr = RULES[rule].cls, RULES[rule].reference, RULES[rule].lr
    rng = np.random.default_rng(seed)
    params = [placed(rng.standard_normal(s).astype(np.float32), offset) for s in shapes_]
    reference = ref_cls([p.copy() for p in params], lr=lr * lr_scale, **config)
    opt = cls(params, lr=lr * lr_scale, **config)
    reached = Reached(reference)
    before = fo.get_num_threads()
    fo.set_num_threads(threads)
    try:
        for _ in range(steps):
            grads = []
            for p in params:
                g = (rng.standard_normal(p.shape) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)
                if grad_layout == "strided" and g.ndim:
                    g = np.repeat(g, 2, axis=-1)[..., ::2]  # same values, non-contiguous
                elif grad_layout == "reversed" and g.ndim:
                    g = np.ascontiguousarray(g[..., ::-1])[..., ::-1]  # negative strides
                grads.append(g)
            opt.step(grads)
            reference.step(grads)
            reached()
    finally:
        fo.set_num_threads(before)
    for i, (p, r) in enumerate(zip(params, reference.params)):
        assert_close(p, r, rtol=5e-5, scale=reached.scale(i))


junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3), st.tuples(st.floats(-1, 2), st.floats(-1, 2)), st.just([0.9]),
    st.just(np.float32(0.5)), st.just(np.zeros(2)),
)
arrays = st.one_of(
    st.sampled_from(["f4", "f8", "f2", "i4", "u1", "?", ">f4", "c8", "O"]).map(
        lambda dt: np.zeros(5, dtype=dt)),
    st.integers(0, 7).map(lambda n: np.zeros(n, np.float32)),
    st.just(np.zeros((5, 2), np.float32)[:, 0]), st.just(np.zeros(5, np.float32)[::-1]),
    st.just([0.0] * 5), st.just(np.float32(1.0)), st.none(), st.just("grads"),
)


@SETTINGS
@given(rule=st.sampled_from(list(RULES)), key=st.sampled_from(
    ["lr", "betas", "eps", "weight_decay", "momentum", "alpha", "rho", "l1", "maximize",
     "amsgrad", "nesterov", "momentum_decay", "lr_decay", "initial_accumulator_value"]),
    value=junk, grads=st.lists(arrays, min_size=0, max_size=3))
def test_hostile_input_raises_clearly_and_changes_nothing(rule, key, value, grads):
    cls, lr = RULES[rule].cls, RULES[rule].lr
    params = [np.ones(5, np.float32), np.ones(5, np.float32)]
    opt = cls(params, lr=lr)
    opt.step([np.ones(5, np.float32)] * 2)
    snap = [p.copy() for p in params], opt.state_dict()
    group = opt.param_groups[0]
    original = group.get(key, None)
    if key in group:
        group[key] = value
    try:
        opt.step(grads)
        raised = False
    except (TypeError, ValueError, KeyError, FloatingPointError):
        raised = True
    finally:
        if key in group:
            group[key] = original
    if raised:
        for a, b in zip(params, snap[0]):
            assert np.array_equal(a, b)
        sd = opt.state_dict()
        for i, entry in sd["state"].items():
            for k, v in entry.items():
                assert np.array_equal(v, snap[1]["state"][i][k])
    opt.step([np.ones(5, np.float32)] * 2)  # still usable


@SETTINGS
@given(rule=st.sampled_from(list(RULES)), path=st.sampled_from(
    ["step", "exp_avg", "exp_avg_sq", "momentum_buffer", "sum", "square_avg", "mu_product",
     "nonsense"]), value=st.one_of(junk, arrays))
def test_hostile_state_dict_raises_clearly_and_changes_nothing(rule, path, value):
    cls, lr = RULES[rule].cls, RULES[rule].lr
    params = [np.ones(5, np.float32)]
    opt = cls(params, lr=lr, **({"momentum": 0.9} if rule == "SGD" else {}))
    opt.step([np.full(5, 0.5, np.float32)])
    before = opt.state_dict()
    sd = opt.state_dict()
    sd["state"].setdefault(0, {})[path] = value
    try:
        opt.load_state_dict(sd)
    except (TypeError, ValueError, KeyError):
        after = opt.state_dict()
        assert after["state"].keys() == before["state"].keys()
        for k, v in after["state"].get(0, {}).items():
            assert np.array_equal(v, before["state"][0][k])
    opt.step([np.full(5, 0.5, np.float32)])  # still usable


@pytest.mark.parametrize("rule", list(RULES))
def test_rss_stays_flat_over_100k_steps(rule):
    """No leak: 100,000 steps (and 2,000 rejected calls) grow the process by less than 2 MiB."""
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    cls, lr = RULES[rule].cls, RULES[rule].lr
    p = [np.zeros(16, np.float32), np.zeros(3, np.float32)]
    opt = cls(p, lr=lr * 1e-3)
    g = [np.full(16, 1e-3, np.float32), np.full(3, 1e-3, np.float32)]
    bad = [np.zeros(16, np.float64), g[1]]
    for _ in range(5_000):
        opt.step(g)
    start = rss()
    for i in range(100_000):
        opt.step(g)
        if i % 50 == 0:
            with pytest.raises(TypeError):
                opt.step(bad)
    assert rss() - start < 2 * 2**20
