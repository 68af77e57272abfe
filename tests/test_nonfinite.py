"""nonfinite="propagate" | "skip" | "raise": what a step does with NaN or Inf gradients."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from fastoptim import _core
from conftest import ALL_CONFIGS, CORE_CONFIGS, RULES, config_id, grad_stream

# The last tensor is large enough to be scanned in several blocks and on two threads.
SHAPES = [(7, 5), (13,), (300_007,)]


def make(rule, seed=0, fused=None, **kw):
    cls, lr = RULES[rule][0], RULES[rule][3]
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    return params, force(cls(params, lr=lr, **kw), fused)


def force(opt, fused):
    """Makes skip/raise use the fused check (True), the pre-scan (False) or pick by size
    (None: fused only for steps beyond the last-level cache, which tests rarely reach)."""
    opt._fused_check = fused
    return opt


def state_of(opt):
    sd = opt.state_dict()["state"]
    return {i: {k: np.array(v, copy=True) for k, v in e.items()} for i, e in sd.items()}


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for i in a:
        assert a[i].keys() == b[i].keys()
        for k in a[i]:
            assert np.array_equal(a[i][k], b[i][k]), (i, k)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "prescan"])
@pytest.mark.parametrize("where", ["end of last", "start of first", "middle"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rule", RULES)
def test_skip_changes_nothing_and_training_goes_on_as_if_it_never_happened(rule, bad, where,
                                                                           fused):
    stream = list(grad_stream(np.random.default_rng(1), SHAPES, 4))
    params, opt = make(rule, nonfinite="skip", fused=fused)
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


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "prescan"])
@pytest.mark.parametrize("rule", ["SGD", "Adam", "Lion"])
def test_raise_names_the_parameter_and_changes_nothing(rule, fused):
    params, opt = make(rule, nonfinite="raise", fused=fused)
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


# ---- the fused check (kernels/io-inl.h) ------------------------------------------------------
# "skip" and "raise" run a guarded update: state goes to second buffers, parameters in place,
# every gradient element is checked as it is used, and a bad step is undone afterwards.

def assert_same_run(params, opt, twin_params, twin):
    for a, b in zip(params, twin_params):
        assert np.array_equal(a, b)
    assert_state_equal(state_of(opt), state_of(twin))


@pytest.mark.parametrize("rule,config", ALL_CONFIGS, ids=[config_id(*c) for c in ALL_CONFIGS])
def test_guarded_steps_equal_in_place_steps_and_undo_exactly_for_every_option(rule, config):
    stream = list(grad_stream(np.random.default_rng(5), SHAPES, 6))
    params, opt = make(rule, nonfinite="skip", fused=True, **config)
    twin_params, twin = make(rule, **config)
    for gs in stream[:3]:
        opt.step(gs)
        twin.step(gs)
        assert_same_run(params, opt, twin_params, twin)
    assert 0 <= opt._plan.logged < 0.5 * sum(p.size for p in params)
    # NaN in the very last element: every parameter was written before it showed up.
    poisoned = [g.copy() for g in stream[3]]
    poisoned[-1][-1] = np.nan
    opt.step(poisoned)
    assert opt.skipped_steps == 1
    assert_same_run(params, opt, twin_params, twin)
    for gs in stream[4:]:
        opt.step(gs)
        twin.step(gs)
    assert_same_run(params, opt, twin_params, twin)


# The second tensor's state starts mid cache line, so guarded calls first run up to the next
# 64-byte boundary, then stream; 2**20 + 37 elements take the streaming-store path.
BIG = [(1000, 3), (2**20 + 37,)]


LARGE = [(rule, config, in_place) for rule, config in CORE_CONFIGS
         if rule in ("SGD", "Adam", "AdamW", "RMSprop", "Lion", "ProximalAdagrad")
         for in_place in ([None, True] if rule in ("SGD", "Adam", "AdamW") else [None])]


@pytest.mark.parametrize("where", ["last", "first", "early in the second half"])
@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("rule,config,in_place", LARGE,
                         ids=[config_id(r, c) + ("-in place" if i else "") for r, c, i in LARGE])
def test_guarded_large_steps_on_every_target_and_thread_count(rule, config, in_place, nthreads,
                                                              where, target, threads):
    threads(nthreads)
    cls, lr = RULES[rule][0], RULES[rule][3]
    rng = np.random.default_rng(7)
    init = [rng.standard_normal(s).astype(np.float32) for s in BIG]
    params, twin_params = [p.copy() for p in init], [p.copy() for p in init]
    opt = force(cls(params, lr=lr, nonfinite="skip", **config), True)
    opt._state_in_place = in_place
    twin = cls(twin_params, lr=lr, **config)
    stream = list(grad_stream(np.random.default_rng(8), BIG, 3))
    opt.step(stream[0])
    twin.step(stream[0])
    poisoned = [g.copy() for g in stream[1]]
    if where == "last":
        poisoned[1][-1] = -np.inf
    elif where == "first":
        poisoned[0][0, 0] = np.nan  # the other thread stops early and undoes its part
    else:
        poisoned[1][poisoned[1].size // 2 + 100] = np.inf
    opt.step(poisoned)
    assert opt.skipped_steps == 1
    assert_same_run(params, opt, twin_params, twin)
    opt.step(stream[2])
    twin.step(stream[2])
    assert_same_run(params, opt, twin_params, twin)


def test_guarded_steps_with_missing_grads_and_groups_that_keep_different_state():
    rng = np.random.default_rng(9)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]

    def build(**kw):
        ps = [p.copy() for p in init]
        groups = [{"params": ps[:2], "amsgrad": True}, {"params": ps[2:], "lr": 0.02}]
        return ps, fo.Adam(groups, lr=0.01, **kw)

    params, opt = build(nonfinite="skip")
    force(opt, True)
    twin_params, twin = build()
    stream = list(grad_stream(np.random.default_rng(10), SHAPES, 6))
    stream[1][1] = None  # a parameter without a gradient keeps its state through the swap
    stream[3][0] = None
    stream[2][2][-1] = np.nan
    for k, gs in enumerate(stream):
        opt.step(gs)
        if k != 2:
            twin.step(gs)
        assert_same_run(params, opt, twin_params, twin)
    assert opt.skipped_steps == 1


def test_switching_modes_mid_run_keeps_every_bit():
    stream = list(grad_stream(np.random.default_rng(11), SHAPES, 6))
    params, opt = make("RMSprop", fused=True, centered=True, momentum=0.9)
    twin_params, twin = make("RMSprop", centered=True, momentum=0.9)
    for mode, gs in zip(["propagate", "skip", "skip", "raise", "propagate", "skip"], stream):
        opt.nonfinite = mode
        opt.step(gs)
        twin.step(gs)
        assert_same_run(params, opt, twin_params, twin)
    opt.nonfinite = "propagate"
    assert opt._shadows is None  # the second buffers are freed


def test_guarded_flat_store_without_clipping():
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    store, twin_store = fo.FlatParams(arrays), fo.FlatParams(arrays)
    opt = force(fo.AdamW(store, lr=0.01, nonfinite="skip"), True)
    twin = fo.AdamW(twin_store, lr=0.01)
    for k, g in enumerate(grad_stream(np.random.default_rng(13), [store.data.shape], 4)):
        store.grad[:] = g[0]
        twin_store.grad[:] = g[0]
        if k == 2:
            store.grad[-1] = np.nan
        opt.step()
        if k != 2:
            twin.step()
        assert np.array_equal(store.data, twin_store.data)
        assert_state_equal(state_of(opt), state_of(twin))
    assert opt.skipped_steps == 1


def test_guarded_step_logs_few_parameters_for_a_smooth_rule():
    # The undo recomputes old parameters from the new ones; only where float32 rounding makes
    # that inexact does it keep the old value. For Adam on typical data that is a few percent.
    rng = np.random.default_rng(14)
    p = rng.standard_normal(2**18).astype(np.float32)
    opt = force(fo.Adam([p], lr=1e-3, nonfinite="skip"), True)
    for _ in range(3):
        opt.step([(rng.standard_normal(p.size) * 1e-2).astype(np.float32)])
    assert 0 < opt._plan.logged < 0.05 * p.size


def test_the_check_is_fused_beyond_the_cache_or_in_it_when_no_second_buffer_is_written():
    cache = _core.last_level_cache()
    assert cache > 0
    # Adagrad streams its sum to a second buffer, so its check is fused only for steps beyond
    # the last-level cache (4 arrays per element in a guarded step: p, g and two sums).
    n = cache // 16 + 4096
    if n > 2**27:
        pytest.skip(f"a step beyond this CPU's {cache >> 20} MiB cache needs over 2 GiB")
    # SGD with momentum updates its buffer in place: fused from 8 MiB of p, g and buffer on.
    cases = [(fo.Adagrad, {}, n // 4, False), (fo.Adagrad, {}, n, True),
             (fo.SGD, dict(momentum=0.9), 2**16, False), (fo.SGD, dict(momentum=0.9), 2**20, True)]
    for cls, kw, size, fused in cases:
        p = np.zeros(size, np.float32)
        opt = cls([p], lr=0.1, nonfinite="skip", **kw)
        g = np.ones_like(p)
        opt.step([g])
        assert opt._plan.last_check.startswith("fused") == fused, (cls, size)
        before, state, g[-1] = p.copy(), state_of(opt), np.nan
        opt.step([g])
        assert opt.skipped_steps == 1 and np.array_equal(p, before)
        assert_state_equal(state_of(opt), state)


@pytest.mark.parametrize("rule", ["SGD", "Adam", "Adagrad"])
def test_guarded_step_with_grads_that_are_the_parameters(rule):
    # The undo re-reads gradients, so a gradient sharing memory with a parameter takes the
    # pre-scan; either way a bad step changes nothing and good ones match propagate.
    params, opt = make(rule, nonfinite="skip", fused=True)
    twin_params, twin = make(rule)
    for _ in range(2):
        opt.step(params)
        twin.step(twin_params)
        assert_same_run(params, opt, twin_params, twin)
    before_params, before_state = [p.copy() for p in params], state_of(opt)
    params[-1][-1] = np.nan  # in the gradient, which is the parameter
    before_params[-1][-1] = np.nan
    opt.step(params)
    assert opt.skipped_steps == 1
    for a, b in zip(params, before_params):
        assert np.array_equal(a, b, equal_nan=True)
    assert_state_equal(state_of(opt), before_state)


# ---- state updated in place --------------------------------------------------------------------
# State that is a moving average (SGD's momentum buffer, the moments of Adam, AdamW, NAdam and
# RAdam) is updated in place by the fused check and restored from its new value, the gradient
# and two low bits per element kept aside; the old values it cannot restore so are logged.
RESTORING = [("SGD", dict(momentum=0.9)),
             ("SGD", dict(momentum=0.9, dampening=0.1, weight_decay=0.01)),
             ("SGD", dict(momentum=0.5, nesterov=True, maximize=True)),
             ("Adam", {}),
             ("Adam", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
             ("AdamW", {}),
             ("NAdam", dict(momentum_decay=0.01)),
             ("RAdam", dict(decoupled_weight_decay=True, weight_decay=0.1))]


@pytest.mark.parametrize("in_place", [True, False, None], ids=["in place", "buffers", "auto"])
@pytest.mark.parametrize("rule,config", RESTORING, ids=[config_id(*c) for c in RESTORING])
def test_state_in_place_is_restored_bit_for_bit_on_every_target(rule, config, in_place, target):
    params, opt = make(rule, nonfinite="skip", fused=True, **config)
    opt._state_in_place = in_place
    twin_params, twin = make(rule, **config)
    rng = np.random.default_rng(21)
    logged, checks = [], []
    for step in range(8):
        # Per-element scales spread over e^+-4.5 for four steps, so that the state jumps by
        # binades and much of it is logged, then e^+-1.
        spread = 1.5 if step < 4 else 0.3
        gs = [(rng.standard_normal(s) * np.exp(rng.normal(0, spread, s))).astype(np.float32)
              for s in SHAPES]
        poisoned = [g.copy() for g in gs]
        poisoned[-1][-1 if step % 2 else poisoned[-1].size // 3] = np.nan if step % 3 else np.inf
        opt.step(poisoned)
        checks.append(opt._plan.last_check)
        assert_same_run(params, opt, twin_params, twin)
        opt.step(gs)
        twin.step(gs)
        assert_same_run(params, opt, twin_params, twin)
        logged.append(opt._plan.logged_state)
    assert opt.skipped_steps == 8
    # Every poisoned step was undone by the fused check (not the pre-scan that follows a too
    # large parameter log), with the state where the mode asks for it.
    if in_place is None:
        assert all(c.startswith("fused") for c in checks) and "fused in place" in checks, checks
    else:
        assert checks == ["fused in place" if in_place else "fused"] * 8, checks
    if in_place is False:
        assert logged == [0] * 8
    elif in_place:
        assert max(logged) > 0  # the log's undo was exercised too


def test_state_in_place_keeps_its_arrays_and_steps_aside_while_it_cannot_restore():
    rng = np.random.default_rng(22)
    p = rng.standard_normal(2**16).astype(np.float32)
    opt = force(fo.Adam([p], lr=1e-3, nonfinite="skip"), True)
    g = (rng.standard_normal(p.size) * 1e-2).astype(np.float32)
    opt.step([g * np.float32(1e-6)])
    seen = []
    for _ in range(40):
        before = opt.state[0]["exp_avg"]
        opt.step([(g * (1 + 0.5 * rng.standard_normal(p.size))).astype(np.float32)])
        seen.append((np.shares_memory(before, opt.state[0]["exp_avg"]), opt._plan.logged_state))
    # The moments grow ten-thousandfold at the second step: its old values cannot be told apart
    # from its new ones, so they are logged, and the next steps write the second buffers (the
    # arrays swap)...
    assert seen[0] == (True, 2 * p.size) and not seen[1][0]  # both moments, every element
    # ...until the averages settle; then the state stays where it is, with little logged.
    assert all(same for same, _ in seen[-10:])
    assert max(n for _, n in seen[-10:]) < 0.01 * p.size


@pytest.mark.parametrize("rule", ["SGD momentum", "Adam"])
def test_state_in_place_gives_way_to_second_buffers_under_gradient_noise(rule, target):
    # Gradients as noisy as the average itself (a fresh draw each step, as minibatches give)
    # keep moving the first moment across zero, where its new value cannot tell the old one
    # apart: a few percent of it is logged, which costs more than streaming it to a second
    # buffer (module.cc, kInPlaceMissesPerSlot: 1% of the elements, per slot). The step that
    # logged too much still went through in place; the next ones write that slot to the
    # second buffers. Adam's second moment, a sum of squares, rarely misses and stays in place.
    # Steps with a NaN at the end, in that mode, are undone bit for bit.
    rng = np.random.default_rng(23)
    n = 2**16
    p = rng.standard_normal(n).astype(np.float32)
    cls, kw = ((fo.Adam, {}) if rule == "Adam" else (fo.SGD, dict(momentum=0.9)))
    opt = force(cls([p], lr=1e-3, nonfinite="skip", **kw), True)
    twin = cls([p.copy()], lr=1e-3, **kw)
    slots = ["exp_avg", "exp_avg_sq"] if rule == "Adam" else ["momentum_buffer"]
    checks, logged, moved = [], [], []
    for step in range(30):
        g = (rng.standard_normal(n) * 1e-2).astype(np.float32)
        before = {k: opt.state[0][k] for k in slots} if step else {}
        if step >= 20:  # poisoned first: nothing may change
            bad = g.copy()
            bad[-1] = np.nan
            kept = [p.copy()] + [opt.state[0][k].copy() for k in slots]
            opt.step([bad])
            np.testing.assert_array_equal(p, kept[0])
            for k, v in zip(slots, kept[1:]):
                np.testing.assert_array_equal(opt.state[0][k], v)
        opt.step([g])
        twin.step([g])
        checks.append(opt._plan.last_check)
        if step:
            moved.append({k: not np.shares_memory(before[k], opt.state[0][k]) for k in slots})
        if checks[-1] == "fused in place":
            logged.append(opt._plan.logged_state)
    assert opt.skipped_steps == 10
    np.testing.assert_array_equal(p, twin.param_groups[0]["params"][0])
    for k in slots:
        np.testing.assert_array_equal(opt.state[0][k], twin.state[0][k])
    in_place_logs = [x for x in logged[1:] if x > 0]
    assert in_place_logs and min(in_place_logs) > n / 100, logged  # each retry missed
    first = slots[0]
    assert sum(m[first] for m in moved[-10:]) >= 8, moved  # mostly in the second buffers
    if rule == "Adam":
        assert checks[-10:].count("fused partly in place") >= 8, checks
        assert not any(m["exp_avg_sq"] for m in moved[-10:]), moved  # in place throughout
    else:
        assert checks[-10:].count("fused") >= 8, checks


def test_state_in_place_mode_survives_a_plan_rebuild():
    params, opt = make("Adam", nonfinite="skip", fused=True)
    opt._state_in_place = False
    opt.param_groups[0]["amsgrad"] = True  # the next step rebuilds the native plan
    opt.step([np.ones(s, np.float32) for s in SHAPES])
    assert opt._state_in_place is False and opt._plan.state_in_place is False
    assert opt._plan.logged_state == 0
    opt._state_in_place = None
    assert opt._plan.state_in_place is None


@pytest.mark.parametrize("in_place", [True, None], ids=["in place", "auto"])
def test_state_in_place_with_groups_with_and_without_momentum(in_place, target):
    rng = np.random.default_rng(23)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    groups = lambda ps: [dict(params=ps[:1], momentum=0.0),  # noqa: E731
                         dict(params=ps[1:], momentum=0.9, weight_decay=0.01)]
    params, twin_params = [p.copy() for p in init], [p.copy() for p in init]
    opt = force(fo.SGD(groups(params), lr=0.01, nonfinite="skip"), True)
    opt._state_in_place = in_place
    twin = fo.SGD(groups(twin_params), lr=0.01)
    for gs in grad_stream(np.random.default_rng(24), SHAPES, 5):
        gs[0] = None if rng.random() < 0.3 else gs[0]  # a parameter without a gradient, too
        poisoned = [None if g is None else g.copy() for g in gs]
        poisoned[-1][-1] = np.nan
        opt.step(poisoned)
        assert_same_run(params, opt, twin_params, twin)
        opt.step(gs)
        twin.step(gs)
        assert_same_run(params, opt, twin_params, twin)
    assert opt.skipped_steps == 5
