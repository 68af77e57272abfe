"""nonfinite="propagate" | "skip" | "raise": what a step does with NaN or Inf gradients."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from conftest import RULES, grad_stream

# The last tensor is large enough to be scanned in several blocks and on two threads.
SHAPES = [(7, 5), (13,), (300_007,)]


def make(rule, seed=0, **kw):
    cls, lr = RULES[rule][0], RULES[rule][3]
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    return params, cls(params, lr=lr, **kw)


def state_of(opt):
    sd = opt.state_dict()["state"]
    return {i: {k: np.array(v, copy=True) for k, v in e.items()} for i, e in sd.items()}


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for i in a:
        assert a[i].keys() == b[i].keys()
        for k in a[i]:
            assert np.array_equal(a[i][k], b[i][k]), (i, k)


@pytest.mark.parametrize("where", ["end of last", "start of first", "middle"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rule", RULES)
def test_skip_changes_nothing_and_training_goes_on_as_if_it_never_happened(rule, bad, where):
    stream = list(grad_stream(np.random.default_rng(1), SHAPES, 4))
    params, opt = make(rule, nonfinite="skip")
    twin_params, twin = make(rule)
    for gs in stream[:2]:
        opt.step(gs)
        twin.step(gs)
    before_params, before_state = [p.copy() for p in params], state_of(opt)
    poisoned = [g.copy() for g in stream[2]]
    if where == "end of last":
        poisoned[-1][-1] = bad
    elif where == "start of first":
        poisoned[0].flat[0] = bad
    else:
        poisoned[1][6] = bad
    opt.step(poisoned)
    assert opt.skipped_steps == 1
    for a, b in zip(params, before_params):
        assert np.array_equal(a, b)
    assert_state_equal(state_of(opt), before_state)
    opt.step(stream[3])
    twin.step(stream[3])
    for a, b in zip(params, twin_params):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("rule", ["SGD", "Adam", "Lion"])
def test_raise_names_the_parameter_and_changes_nothing(rule):
    params, opt = make(rule, nonfinite="raise")
    gs = list(grad_stream(np.random.default_rng(2), SHAPES, 1))[0]
    opt.step(gs)
    before_params, before_state = [p.copy() for p in params], state_of(opt)
    gs[2][-1] = np.nan
    gs[1][0] = np.inf
    with pytest.raises(FloatingPointError, match=r"grads\[1\]"):
        opt.step(gs)
    for a, b in zip(params, before_params):
        assert np.array_equal(a, b)
    assert_state_equal(state_of(opt), before_state)


def test_propagate_is_the_default_and_spreads_nan_like_torch():
    params, opt = make("Adam")
    assert opt.nonfinite == "propagate"
    gs = [np.zeros(s, np.float32) for s in SHAPES]
    gs[0][0, 0] = np.nan
    opt.step(gs)
    assert np.isnan(params[0][0, 0]) and np.isfinite(params[0][0, 1])


def test_skip_with_max_grad_norm_and_the_flat_store():
    rng = np.random.default_rng(3)
    store = fo.FlatParams([rng.standard_normal(s) for s in SHAPES])
    opt = fo.Adam(store, lr=0.01, max_grad_norm=1.0, nonfinite="skip")
    store.grad[:] = 1.0
    opt.step()
    before = store.data.copy()
    store.grads[-1][-1] = np.inf
    opt.step()
    assert opt.skipped_steps == 1 and np.array_equal(store.data, before)
    store.grads[-1][-1] = 1.0
    opt.step()
    assert opt.skipped_steps == 1 and not np.array_equal(store.data, before)


def test_mode_survives_a_plan_rebuild_and_is_validated():
    params, opt = make("Adam", nonfinite="skip")
    opt.param_groups[0]["amsgrad"] = True  # the next step rebuilds the native plan
    gs = [np.ones(s, np.float32) for s in SHAPES]
    gs[0][0, 0] = np.nan
    opt.step(gs)
    assert opt.skipped_steps == 1 and opt.nonfinite == "skip"
    with pytest.raises(ValueError, match="nonfinite"):
        opt.nonfinite = "ignore"
    with pytest.raises(TypeError, match="nonfinite"):
        opt.nonfinite = None
    assert opt.nonfinite == "skip"
    with pytest.raises(ValueError, match="nonfinite"):
        fo.SGD([np.zeros(2, np.float32)], nonfinite="warn")
