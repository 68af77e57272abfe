"""float16 and bfloat16 parameters: master_weights="split" (the low 16 bits kept as state: the
exact float32 master), "copy" (a float32 copy as state) and "none" (the parameter rounded as
written), bit for bit against a float32 optimizer and the references' rounding, on every
target and thread count; state dicts, and bad input."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import fastoptim as fo
from conftest import RULES, grad_stream
import reference as ref

SHAPES = [(7, 5), (3 * 2**15 + 37,)]
BF16 = ml_dtypes.bfloat16


def bits16(a):
    return np.asarray(a).view(np.uint16)


def run_pair(rule, dtype, master_weights, nthreads, threads, state_dtype="float32", steps=4):
    """A 16-bit optimizer and a float32 one from the same start, the same gradients."""
    threads(nthreads)
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    p16 = [x.copy() for x in start]
    p32 = [x.astype(np.float32) for x in start]
    row = RULES[rule]
    opts = [row.cls(p16, lr=row.lr, master_weights=master_weights, state_dtype=state_dtype,
                    **row.full_state),
            row.cls(p32, lr=row.lr, state_dtype=state_dtype, **row.full_state)]
    for gs in grad_stream(np.random.default_rng(1), SHAPES, steps):
        gs = [g.astype(dtype) for g in gs]
        for o in opts:
            o.step(gs)
    return opts[0], p16, p32


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("rule", ["Adam", "SGD", "RMSprop", "Lion"])
def test_split_master_is_the_float32_run_exactly(rule, nthreads, target, threads):
    opt, p16, p32 = run_pair(rule, BF16, "split", nthreads, threads)
    for i, (a, b) in enumerate(zip(p16, p32)):
        low = opt.state[i]["master_low_bits"]
        assert low.dtype == np.uint16 and low.shape == a.shape
        master = (bits16(a).astype(np.uint32) << 16 | low).view(np.float32)
        assert np.array_equal(master.view(np.uint32), b.view(np.uint32))  # exact float32
        assert np.array_equal(bits16(a), (b.view(np.uint32) >> 16).astype(np.uint16))


@pytest.mark.parametrize("dtype", [BF16, np.float16])
@pytest.mark.parametrize("rule", ["Adam", "SGD"])
def test_copy_master_is_the_float32_run_and_the_param_its_rounding(rule, dtype, target, threads):
    opt, p16, p32 = run_pair(rule, dtype, "copy", 2, threads)
    for i, (a, b) in enumerate(zip(p16, p32)):
        master = opt.state[i]["master"]
        assert master.dtype == np.float32 and np.array_equal(master, b)
        assert np.array_equal(bits16(a), bits16(b.astype(dtype)))  # to nearest even


@pytest.mark.parametrize("rounding", ["stochastic", "nearest"])
def test_without_master_the_param_rounds_as_the_quantizer(rounding, target, threads):
    # SGD with lr 0.5 and a bfloat16 gradient: p - 0.5 g is computed exactly... in float32 and
    # rounded to bfloat16 with the parameter's random bits (slot 3).
    threads(2)
    rng = np.random.default_rng(2)
    p = [rng.standard_normal(s).astype(BF16) for s in SHAPES]
    g = [(rng.standard_normal(s) * 1e-3).astype(BF16) for s in SHAPES]
    want_f32 = [x.astype(np.float32) - np.float32(0.5) * y.astype(np.float32)
                for x, y in zip(p, g)]
    opt = fo.SGD(p, lr=0.5, master_weights="none", state_rounding=rounding, seed=77)
    opt.step(g)
    start = 0
    for x, w in zip(p, want_f32):
        index = start + np.arange(w.size)
        random = ref.bf16_random_bits(77, 1, 3, index) if rounding == "stochastic" else None
        assert np.array_equal(bits16(x).ravel(), ref.bf16_round(w.ravel(), random))
        start += w.size
    assert opt.master_weights == "none" and "master" not in (opt.state.get(0) or {})


def test_stochastic_rounding_moves_a_bfloat16_param_that_nearest_leaves():
    # Updates a tenth of a bfloat16 spacing: nearest never moves the parameter; stochastic
    # rounding moves it by the right amount on average; split moves its exact master.
    n, steps = 4096, 50
    moved = {}
    for mode, rounding in [("none", "nearest"), ("none", "stochastic"), ("split", "nearest")]:
        p = np.ones(n, BF16)
        opt = fo.SGD([p], lr=1.0, master_weights=mode, state_rounding=rounding)
        g = np.full(n, 2.0**-7 / 10, BF16)  # 1/10 of the spacing below 1.0... above: 2**-7
        for _ in range(steps):
            opt.step([g])
        if mode == "split":
            master = (bits16(p).astype(np.uint32) << 16 | opt.state[0]["master_low_bits"])
            moved[mode] = 1.0 - master.view(np.float32).astype(np.float64).mean()
        else:
            moved[mode, rounding] = 1.0 - p.astype(np.float64).mean()
    want = steps * float(np.float32(BF16(2.0**-7 / 10)))
    assert moved["none", "nearest"] == 0.0
    assert abs(moved["none", "stochastic"] - want) < 0.05 * want
    assert abs(moved["split"] - want) < 1e-3 * want


def test_int8_state_with_split_params_and_bf16_grads(threads):
    opt, p16, p32 = run_pair("Adam", BF16, "split", 2, threads, state_dtype="int8")
    for i, (a, b) in enumerate(zip(p16, p32)):
        master = (bits16(a).astype(np.uint32) << 16 | opt.state[i]["master_low_bits"])
        assert np.array_equal(master.view(np.float32), b)


def test_state_dicts_carry_the_master(tmp_path):
    rng = np.random.default_rng(3)
    start = rng.standard_normal(300).astype(BF16)
    grads = [[rng.standard_normal(300).astype(BF16)] for _ in range(3)]
    for mode, name in [("split", "master_low_bits"), ("copy", "master")]:
        pa, pc = start.copy(), start.copy()
        a = fo.Adam([pa], lr=0.01, master_weights=mode)
        for g in grads[:2]:
            a.step(g)
        sd = a.state_dict()
        assert name in sd["state"][0]
        pb = pa.copy()
        b = fo.Adam([pb], lr=0.01, master_weights=mode)
        b.load_state_dict(sd)
        fo.save(tmp_path / "c.npz", a)  # the parameters too: load() restores pc
        c = fo.Adam([pc], lr=0.01, master_weights=mode)
        fo.load(tmp_path / "c.npz", c)
        for o in (a, b, c):
            o.step(grads[2])
        assert np.array_equal(bits16(pb), bits16(pa))
        assert np.array_equal(bits16(pc), bits16(pa))
        assert np.array_equal(b.state[0][name], a.state[0][name])


def test_bad_parameters_and_options_are_refused():
    with pytest.raises(ValueError, match="master_weights"):
        fo.Adam([np.zeros(3, np.float32)], master_weights="split")
    with pytest.raises(ValueError, match="master_weights"):
        fo.Adam([np.zeros(3, np.float16)], master_weights="split")
    with pytest.raises(ValueError, match="master_weights"):
        fo.Adam([np.zeros(3, BF16)], master_weights="exact")
    with pytest.raises(TypeError, match="all float32, all float16 or all bfloat16"):
        fo.Adam([np.zeros(3, BF16), np.zeros(3, np.float32)])
    with pytest.raises(ValueError, match="contiguous"):
        fo.Adam([np.zeros(6, BF16)[::2]])
    opt = fo.Adam([np.zeros(3, BF16)], lr=0.1)
    with pytest.raises(TypeError):  # a float64 gradient: nothing changes
        opt.step([np.ones(3)])
    assert 0 not in opt.state and opt.master_weights == "split"
