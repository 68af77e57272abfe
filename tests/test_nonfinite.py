"""nonfinite="propagate" | "skip" | "raise": what a step does with NaN or Inf gradients.

"skip" and "raise" decide before anything is written: with the clipping norm when max_grad_norm
is set (``_plan.last_check == "norm"``), else with one read-only scan of the gradients
(``"scan"``). A step with a NaN or Inf gradient anywhere leaves every parameter, state element
and step count as it was, and training goes on as if that step had never been asked for.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import fastoptim as fo
from conftest import ALL_CONFIGS, CORE_CONFIGS, RULES, config_id, grad_stream

# The last tensor is large enough to be scanned on two threads.
SHAPES = [(7, 5), (13,), (300_007,)]
SMALL = [(7, 5), (13,), (4099,)]  # for the many option combinations
# The check a step takes -> the max_grad_norm that makes it take it.
CHECKS = {"scan": None, "norm": 5.0}
BAD = pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])


@functools.lru_cache(maxsize=None)
def _stream(shapes, steps, seed):
    return list(grad_stream(np.random.default_rng(seed), shapes, steps))


def stream(shapes, steps, seed):
    """The same gradients for every test that asks for (shapes, steps, seed); fresh copies."""
    return [[g.copy() for g in gs] for gs in _stream(tuple(shapes), steps, seed)]


def make(rule, shapes=SHAPES, check="scan", **kw):
    """Parameters (the same for every call) and the rule's optimizer on them."""
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return params, RULES[rule].cls(params, lr=RULES[rule].lr, max_grad_norm=CHECKS[check], **kw)


def poison(grads, where, bad=np.nan):
    """A copy of `grads` (None for a missing one) with `bad` at a named place."""
    out = [None if g is None else g.copy() for g in grads]
    if where == "start of first":
        i, k = 0, 0
    elif where == "in the second":
        i, k = 1, 6
    else:
        i, n = len(out) - 1, out[-1].size
        k = {"middle of last": n // 2, "three quarters of last": 3 * n // 4,
             "end of last": n - 1}[where]
    out[i].flat[k] = bad
    return out


def state_of(opt):
    """Every state entry (arrays, step counts, scalars), copied."""
    sd = opt.state_dict()["state"]
    return {i: {k: np.array(v, copy=True) for k, v in e.items()} for i, e in sd.items()}


def assert_bits_equal(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), what  # bit for bit: -0.0, NaN payloads too


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for i in a:
        assert a[i].keys() == b[i].keys(), i
        for k in a[i]:
            assert_bits_equal(a[i][k], b[i][k], (i, k))


def assert_params_equal(params, others):
    for i, (a, b) in enumerate(zip(params, others)):
        assert_bits_equal(a, b, f"params[{i}]")


def assert_same_run(params, opt, twin_params, twin):
    assert_params_equal(params, twin_params)
    assert_state_equal(state_of(opt), state_of(twin))


# ---- skip ------------------------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("where", ["start of first", "in the second", "middle of last",
                                   "end of last"])
@BAD
@pytest.mark.parametrize("rule", RULES)
def test_skip_changes_nothing_and_training_goes_on_as_if_it_never_happened(rule, bad, where,
                                                                           check):
    gs = stream(SHAPES, 4, 1)
    params, opt = make(rule, check=check, nonfinite="skip")
    twin_params, twin = make(rule, check=check)
    for g in gs[:2]:
        opt.step(g)
        twin.step(g)
    assert opt._plan.last_check == check and twin._plan.last_check is None
    before_params, before_state = [p.copy() for p in params], state_of(opt)
    opt.step(poison(gs[2], where, bad))
    assert opt.skipped_steps == 1 and opt._plan.last_check == check
    assert_params_equal(params, before_params)
    assert_state_equal(state_of(opt), before_state)
    opt.step(gs[3])
    twin.step(gs[3])
    assert opt.skipped_steps == 1 and twin.skipped_steps == 0
    assert_same_run(params, opt, twin_params, twin)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("rule,config", ALL_CONFIGS, ids=[config_id(*c) for c in ALL_CONFIGS])
def test_skip_for_every_option_combination(rule, config, check):
    # A NaN in the very last element of the last gradient, between good steps.
    gs = stream(SMALL, 5, 5)
    params, opt = make(rule, SMALL, check, nonfinite="skip", **config)
    twin_params, twin = make(rule, SMALL, check, **config)
    for k, g in enumerate(gs):
        if k == 3:
            opt.step(poison(g, "end of last"))
            assert opt.skipped_steps == 1
            assert_same_run(params, opt, twin_params, twin)
        opt.step(g)
        twin.step(g)
        assert_same_run(params, opt, twin_params, twin)
    assert opt.skipped_steps == 1


# Large enough that both threads of a 2-thread step get a share of the last tensor.
BIG = [(1000, 3), (2**17 + 37,)]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("where", ["start of first", "three quarters of last", "end of last"])
@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("rule,config", CORE_CONFIGS, ids=[config_id(*c) for c in CORE_CONFIGS])
def test_large_steps_on_every_target_and_thread_count(rule, config, nthreads, where, check,
                                                      target, threads):
    threads(nthreads)
    gs = stream(BIG, 3, 8)
    params, opt = make(rule, BIG, check, nonfinite="skip", **config)
    twin_params, twin = make(rule, BIG, check, **config)
    opt.step(gs[0])
    twin.step(gs[0])
    opt.step(poison(gs[1], where, {"start of first": np.nan, "three quarters of last": np.inf,
                                   "end of last": -np.inf}[where]))
    assert opt.skipped_steps == 1 and opt._plan.last_check == check
    assert_same_run(params, opt, twin_params, twin)
    for g in gs[1:]:
        opt.step(g)
        twin.step(g)
    assert_same_run(params, opt, twin_params, twin)


@pytest.mark.parametrize("check", CHECKS)
def test_skip_on_the_flat_store(check):
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    store, twin_store = fo.FlatParams(arrays), fo.FlatParams(arrays)
    opt = fo.AdamW(store, lr=0.01, max_grad_norm=CHECKS[check], nonfinite="skip")
    twin = fo.AdamW(twin_store, lr=0.01, max_grad_norm=CHECKS[check])
    for k, g in enumerate(stream([store.data.shape], 5, 13)):
        store.grad[:] = g[0]
        twin_store.grad[:] = g[0]
        if k == 2:
            store.grad[-1] = np.nan  # the very last element of the last parameter
        opt.step()
        assert opt._plan.last_check == check
        if k != 2:
            twin.step()
        assert_bits_equal(store.data, twin_store.data)
        assert_state_equal(state_of(opt), state_of(twin))
    assert opt.skipped_steps == 1


@pytest.mark.parametrize("check", CHECKS)
def test_skip_with_missing_grads_and_groups_that_keep_different_state(check):
    rng = np.random.default_rng(9)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]

    def build(**kw):
        ps = [p.copy() for p in init]
        groups = [{"params": ps[:2], "amsgrad": True}, {"params": ps[2:], "lr": 0.02}]
        return ps, fo.Adam(groups, lr=0.01, max_grad_norm=CHECKS[check], **kw)

    params, opt = build(nonfinite="skip")
    twin_params, twin = build()
    gs = stream(SHAPES, 6, 10)
    gs[1][1] = None  # a parameter without a gradient keeps its state and step count
    gs[3][0] = None
    gs[2] = poison(gs[2], "end of last")
    gs[4][0] = None
    gs[4] = poison(gs[4], "in the second")  # skipped although the first has no gradient
    for k, g in enumerate(gs):
        opt.step(g)
        if k not in (2, 4):
            twin.step(g)
        assert_same_run(params, opt, twin_params, twin)
    assert opt.skipped_steps == 2


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("rule", ["SGD", "Adam", "Adagrad"])
def test_skip_with_grads_that_are_the_parameters(rule, check):
    # The check reads the gradients before the update writes them (they are the parameters).
    params, opt = make(rule, check=check, nonfinite="skip")
    twin_params, twin = make(rule, check=check)
    for _ in range(2):
        opt.step(params)
        twin.step(twin_params)
        assert_same_run(params, opt, twin_params, twin)
    before_params, before_state = [p.copy() for p in params], state_of(opt)
    params[-1][-1] = np.nan  # in the gradient, which is the parameter
    before_params[-1][-1] = np.nan
    opt.step(params)
    assert opt.skipped_steps == 1
    assert_params_equal(params, before_params)
    assert_state_equal(state_of(opt), before_state)


# ---- raise -----------------------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS)
@BAD
@pytest.mark.parametrize("rule", RULES)
def test_raise_names_the_gradient_and_changes_nothing(rule, bad, check):
    gs = stream(SHAPES, 2, 2)
    params, opt = make(rule, check=check, nonfinite="raise")
    twin_params, twin = make(rule, check=check)
    opt.step(gs[0])
    twin.step(gs[0])
    for places, name in ((["end of last", "in the second"], r"grads\[1\]"),
                         (["end of last"], r"grads\[2\]"),
                         (["start of first", "end of last"], r"grads\[0\]")):
        poisoned = gs[1]
        for where in places:
            poisoned = poison(poisoned, where, bad)
        with pytest.raises(FloatingPointError, match=name):
            opt.step(poisoned)
        assert opt._plan.last_check == check
        assert_same_run(params, opt, twin_params, twin)
    assert opt.skipped_steps == 0
    opt.step(gs[1])
    twin.step(gs[1])
    assert_same_run(params, opt, twin_params, twin)


@pytest.mark.parametrize("check", CHECKS)
def test_raise_on_the_flat_store_names_the_gradient(check):
    store = fo.FlatParams([np.ones(s, np.float32) for s in SHAPES])
    opt = fo.Adam(store, lr=0.01, max_grad_norm=CHECKS[check], nonfinite="raise")
    store.grad[:] = 0.5
    opt.step()
    before_data, before_state = store.data.copy(), state_of(opt)
    store.grads[2][-1] = np.inf
    with pytest.raises(FloatingPointError, match=r"grads\[2\]"):
        opt.step()
    assert_bits_equal(store.data, before_data)
    assert_state_equal(state_of(opt), before_state)


# ---- propagate, and the mode itself ----------------------------------------------------------
def test_propagate_is_the_default_and_spreads_nan_like_torch():
    params, opt = make("Adam")
    assert opt.nonfinite == "propagate"
    gs = [np.zeros(s, np.float32) for s in SHAPES]
    gs[0][0, 0] = np.nan
    opt.step(gs)
    assert opt._plan.last_check is None and opt.skipped_steps == 0
    assert np.isnan(params[0][0, 0]) and np.isfinite(params[0][0, 1])


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


def test_switching_modes_mid_run_keeps_every_bit_and_the_same_state_arrays():
    gs = stream(SHAPES, 6, 11)
    params, opt = make("RMSprop", centered=True, momentum=0.9)
    twin_params, twin = make("RMSprop", centered=True, momentum=0.9)
    held = {}
    for k, (mode, g) in enumerate(zip(["propagate", "skip", "skip", "raise", "propagate",
                                       "skip"], gs)):
        opt.nonfinite = mode
        if mode == "skip":
            opt.step(poison(g, "end of last"))
        elif mode == "raise":
            with pytest.raises(FloatingPointError, match=r"grads\[2\]"):
                opt.step(poison(g, "end of last"))
        opt.step(g)
        twin.step(g)
        assert_same_run(params, opt, twin_params, twin)
        if k == 0:
            held = {(i, name): opt.state[i][name] for i in range(len(params))
                    for name in ("square_avg", "momentum_buffer", "grad_avg")}
    assert opt.skipped_steps == 3
    for (i, name), array in held.items():
        assert opt.state[i][name] is array, (i, name)


# ---- state: the same arrays, and no second copy ----------------------------------------------
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("rule,config,names", [
    ("Adam", {}, {"exp_avg", "exp_avg_sq"}),
    ("SGD", dict(momentum=0.9), {"momentum_buffer"}),
], ids=["Adam", "SGD momentum"])
def test_state_arrays_are_the_same_objects_step_after_step(rule, config, names, check):
    gs = stream(SHAPES, 4, 17)
    params, opt = make(rule, check=check, nonfinite="skip", **config)
    twin_params, twin = make(rule, check=check, **config)
    opt.step(gs[0])  # state appears at the first step, as in torch
    twin.step(gs[0])
    held = {(i, name): value for i in range(len(params)) for name, value in opt.state[i].items()
            if isinstance(value, np.ndarray)}
    assert {name for _, name in held} == names
    opt.step(gs[1])
    opt.step(poison(gs[2], "end of last"))
    opt.step(gs[3])
    for g in (gs[1], gs[3]):
        twin.step(g)
    assert opt.skipped_steps == 1
    for (i, name), array in held.items():
        assert opt.state[i][name] is array, (i, name)
        assert_bits_equal(array, twin.state[i][name], (i, name))  # and it is current


# Adam over 2**20 elements: each moment is 4 MiB, far above what the slack lets through.
N = 2**20
SLACK = 64 << 10


def traced_bytes(nonfinite):
    """(current, peak) bytes tracemalloc saw while building an Adam over N elements and taking
    three steps, one with a NaN (NumPy reports its data allocations to tracemalloc)."""
    p = np.zeros(N, np.float32)
    g = np.full(N, 1e-3, np.float32)
    bad = g.copy()
    bad[-1] = np.nan
    tracemalloc.start()
    try:
        opt = fo.Adam([p], lr=1e-3, nonfinite=nonfinite)
        for grads in ([g], [bad], [g]):
            opt.step(grads)
        return tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()


TRACING = pytest.mark.skipif(tracemalloc.is_tracing(), reason="tracemalloc already runs")


@TRACING
def test_skip_allocates_no_second_copy_of_the_state():
    for mode in ("propagate", "skip"):  # once before measuring: lazily created caches
        traced_bytes(mode)
    propagate, skip = traced_bytes("propagate"), traced_bytes("skip")
    assert propagate[0] >= 2 * 4 * N  # the two moments are seen
    assert abs(skip[0] - propagate[0]) < SLACK, (skip, propagate)
    assert abs(skip[1] - propagate[1]) < SLACK, (skip, propagate)


@TRACING
def test_switching_nonfinite_allocates_nothing():
    p = np.zeros(N, np.float32)
    g = np.full(N, 1e-3, np.float32)
    opt = fo.Adam([p], lr=1e-3)
    opt.step([g])
    held = {name: opt.state[0][name] for name in ("exp_avg", "exp_avg_sq")}
    tracemalloc.start()
    try:
        for mode in ("skip", "raise", "propagate", "skip", "raise"):
            opt.nonfinite = mode
            opt.step([g])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < SLACK
    for name, array in held.items():
        assert opt.state[0][name] is array, name


# Memory the native core allocates itself is not traced: the process's resident set shows it.
RSS = """
import sys
import numpy as np
import fastoptim as fo

def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

n = int(sys.argv[2])
p, g = np.ones(n, np.float32), np.full(n, 1e-3, np.float32)
base = kib("VmRSS")
opt = fo.Adam([p], lr=1e-3, nonfinite=sys.argv[1])
for _ in range(3):
    opt.step([g])
print(1024 * (kib("VmHWM") - base))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status")
def test_skip_needs_no_more_resident_memory_than_propagate():
    n = 2**22  # 16 MiB per array
    grown = {mode: int(subprocess.run([sys.executable, "-c", RSS, mode, str(n)], check=True,
                                      capture_output=True, text=True).stdout)
             for mode in ("propagate", "skip")}
    assert grown["propagate"] >= 1.5 * 4 * n, grown  # the two moments are seen
    assert grown["skip"] - grown["propagate"] < 2 * n, grown  # less than half an array more
