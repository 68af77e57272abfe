"""bfloat16 optimizer state (state_dtype="bfloat16"): the rounding bit for bit against the
references' quantizer, unbiased stochastic rounding, state dicts and checkpoints across formats;
and for bfloat16 and int8 state (test_int8.py has the rest of int8's): the same bits for any
thread count, and accuracy against the float64 references."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import fastoptim as fo
from conftest import CORE_CONFIGS, RULES, adam_pair, config_id, grad_stream
import reference as ref

# Tensors that start mid-vector and a large one that two or three threads split.
SHAPES = [(7, 5), (13,), (3 * 2**15 + 37,)]


def bits(a):
    return np.asarray(a).view(np.uint16)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("rounding", ["stochastic", "nearest"])
def test_rounding_is_the_quantizers_bit_for_bit(rounding, nthreads, target, threads):
    # SGD's first step copies the gradient into its momentum buffer: what is stored is exactly
    # the rounding of the gradient, whatever the target's arithmetic.
    threads(nthreads)
    rng = np.random.default_rng(0)
    params = [np.zeros(s, np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 10.0 ** rng.uniform(-30, 30)).astype(np.float32)
             for s in SHAPES]
    grads[0].flat[:4] = [np.inf, -np.inf, np.nan, -0.0]
    opt = fo.SGD(params, lr=0.1, momentum=0.9, state_dtype="bfloat16",
                 state_rounding=rounding, seed=12345)
    opt.step(grads)
    start = 0
    for i, g in enumerate(grads):
        index = start + np.arange(g.size)
        random = ref.bf16_random_bits(12345, 1, 0, index) if rounding == "stochastic" else None
        want = ref.bf16_round(g.ravel(), random)
        got = bits(opt.state[i]["momentum_buffer"]).ravel()
        assert np.array_equal(got, want), (i, np.flatnonzero(got != want)[:5])
        start += g.size


@pytest.mark.parametrize("rounding", ["stochastic", "nearest"])
def test_every_slot_and_step_rounds_as_the_quantizer(rounding, target, threads):
    # Adam with betas (0, 0) from zero state stores m = g, v = g * g and AMSGrad's max = g * g,
    # each computed exactly in float32 on every target: the rounding of slots 0, 1 and 2, at
    # the step a loaded state dict says (the key changes with it).
    threads(2)
    rng = np.random.default_rng(11)
    params = [np.zeros(s, np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 10.0 ** rng.uniform(-10, 10)).astype(np.float32)
             for s in SHAPES]
    opt = fo.Adam(params, lr=0.1, betas=(0.0, 0.0), amsgrad=True, state_dtype="bfloat16",
                  state_rounding=rounding, seed=99)
    sd = opt.state_dict()
    sd["state"] = {i: {"step": 41, "exp_avg": np.zeros(s, np.float32),
                       "exp_avg_sq": np.zeros(s, np.float32),
                       "max_exp_avg_sq": np.zeros(s, np.float32)} for i, s in enumerate(SHAPES)}
    opt.load_state_dict(sd)
    opt.step(grads)
    start = 0
    for i, g in enumerate(grads):
        index = start + np.arange(g.size)
        for slot, name, value in [(0, "exp_avg", g), (1, "exp_avg_sq", g * g),
                                  (2, "max_exp_avg_sq", g * g)]:
            random = (ref.bf16_random_bits(99, 42, slot, index) if rounding == "stochastic"
                      else None)
            want = ref.bf16_round(value.ravel(), random)
            assert np.array_equal(bits(opt.state[i][name]).ravel(), want), (i, name)
        start += g.size


def test_stochastic_rounding_is_unbiased_and_nearest_is_not():
    x = np.float32(1.0 + 2.0**-9)  # a quarter of the way from one bfloat16 to the next
    n = 2**18
    means = {}
    for rounding in ("stochastic", "nearest"):
        opt = fo.SGD([np.zeros(n, np.float32)], lr=0.1, momentum=0.9, state_dtype="bfloat16",
                     state_rounding=rounding)
        opt.step([np.full(n, x, np.float32)])
        means[rounding] = opt.state[0]["momentum_buffer"].astype(np.float64).mean()
    spacing = 2.0**-7
    assert abs(means["stochastic"] - x) < 0.01 * spacing  # std of the mean: 0.0008 spacing
    assert means["nearest"] == 1.0


def state_bits(opt):
    """Every state array's bits: bfloat16 arrays as uint16, int8 state's codes and scales."""
    out = []
    for entry in opt.state.values():
        for v in entry.values():
            if isinstance(v, fo.Int8State):
                out += [v.codes.copy(), v.scales.view(np.uint32).copy()]
            elif isinstance(v, np.ndarray):
                out.append(bits(v).copy())
    return out


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
@pytest.mark.parametrize("rule", ["Adam", "RMSprop", "SGD", "Adagrad"])
def test_the_same_bits_for_any_thread_count(rule, state_dtype, threads):
    results = []
    for nthreads in (1, 2, 3):
        threads(nthreads)
        rng = np.random.default_rng(1)
        params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        opt = RULES[rule].cls(params, lr=0.01, state_dtype=state_dtype, seed=7,
                              **RULES[rule].full_state)
        for gs in grad_stream(np.random.default_rng(2), SHAPES, 5):
            opt.step(gs)
        results.append([p.copy() for p in params] + state_bits(opt))
    for other in results[1:]:
        assert len(other) == len(results[0])
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def keeps_state(rule, config):
    opt = RULES[rule].cls([np.zeros(1, np.float32)], **config)
    return bool(opt._native.needed_slots(opt.param_groups[0]))


STATEFUL = [(r, c) for r, c in CORE_CONFIGS if keeps_state(r, c)]
# (state options, the largest error allowed relative to the parameters' scale): bfloat16 keeps 8
# bits, each state value off by up to 2**-8 of itself per step; int8 3 or 4 bits, up to 1/16.
FORMATS = {"bfloat16": (dict(state_dtype="bfloat16"), 0.05),
           "bfloat16-nearest": (dict(state_dtype="bfloat16", state_rounding="nearest"), 0.05),
           "int8": (dict(state_dtype="int8"), 0.1)}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("rule,config", STATEFUL, ids=[config_id(*c) for c in STATEFUL])
def test_low_precision_state_stays_close_to_the_float64_reference(rule, config, fmt, target):
    row = RULES[rule]
    options, bound = FORMATS[fmt]
    rng = np.random.default_rng(3)
    shapes = [(33,), (4, 9), (600,)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    reference = row.reference([p.astype(np.float64) for p in params], lr=row.lr, **config)
    opt = row.cls(params, lr=row.lr, **options, **config)
    for gs in grad_stream(np.random.default_rng(4), shapes, 20):
        gs = [g / max(1.0, float(np.abs(g).max())) for g in gs]  # one scale: a relative bound
        opt.step(gs)
        reference.step(gs)
    for p, r in zip(params, reference.params):
        scale = max(1.0, float(np.abs(r).max()))
        assert np.abs(p - r).max() < bound * scale, (rule, np.abs(p - r).max())
    for i, entry in opt.state.items():
        for name, value in entry.items():
            if isinstance(value, fo.Int8State):
                assert fmt == "int8" and value.nbytes == value.size + 4 * -(-value.size // 256)
            elif isinstance(value, np.ndarray):
                assert fmt != "int8" and value.dtype == ml_dtypes.bfloat16
                assert value.nbytes == 2 * value.size


def test_nan_state_keeps_its_bits_through_a_state_dict():
    opt = fo.SGD([np.zeros(4, np.float32)], lr=0.1, momentum=0.9, state_dtype="bfloat16")
    opt.step([np.ones(4, np.float32)])
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = np.array([0x7FC1, 0xFFA5, 0x7F81, 0x3F80],
                                                 np.uint16).view(ml_dtypes.bfloat16)
    opt.load_state_dict(sd)
    assert list(bits(opt.state[0]["momentum_buffer"])) == [0x7FC1, 0xFFA5, 0x7F81, 0x3F80]


def test_state_dicts_round_trip_and_convert_between_formats(tmp_path):
    bf, f32, p = adam_pair("bfloat16", 100)
    # Packed state round-trips exactly, through a state dict and through a checkpoint.
    again = fo.Adam([p.copy()], lr=0.01, state_dtype="bfloat16")
    again.load_state_dict(bf.state_dict())
    assert np.array_equal(bits(again.state[0]["exp_avg"]), bits(bf.state[0]["exp_avg"]))
    fo.save(tmp_path / "bf.npz", bf)
    loaded = fo.Adam([p.copy()], lr=0.01, state_dtype="bfloat16")
    fo.load(tmp_path / "bf.npz", loaded)
    assert np.array_equal(bits(loaded.state[0]["exp_avg_sq"]), bits(bf.state[0]["exp_avg_sq"]))
    # float32 state into a bfloat16 optimizer rounds it to nearest even...
    quantized = fo.Adam([p.copy()], lr=0.01, state_dtype="bfloat16")
    quantized.load_state_dict(f32.state_dict())
    want = ref.bf16_round(f32.state[0]["exp_avg"])
    assert np.array_equal(bits(quantized.state[0]["exp_avg"]), want)
    # ...and bfloat16 state into a float32 optimizer is exact.
    widened = fo.Adam([p.copy()], lr=0.01)
    widened.load_state_dict(bf.state_dict())
    assert np.array_equal(widened.state[0]["exp_avg"],
                          bf.state[0]["exp_avg"].astype(np.float32))


def test_seed_keys_the_rounding():
    def run(seed):
        p = np.zeros(1000, np.float32)
        opt = fo.Adam([p], lr=0.01, state_dtype="bfloat16", seed=seed)
        for g in grad_stream(np.random.default_rng(6), [(1000,)], 3):
            opt.step(g)
        return bits(opt.state[0]["exp_avg"]).copy()

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


@pytest.mark.parametrize("kw,match", [
    (dict(state_dtype="int4"), "state_dtype"), (dict(state_dtype="float16"), "state_dtype"),
    (dict(state_rounding="up"), "state_rounding"), (dict(seed=-1), "seed"),
    (dict(seed=2**32), "seed"), (dict(seed=1.5), "seed"),
])
def test_bad_options_are_refused(kw, match):
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=match):
        fo.Adam([p], **kw)
    assert np.array_equal(p, np.zeros(3, np.float32))


def test_flat_store_clipping_and_skip_with_bfloat16_state():
    rng = np.random.default_rng(8)
    store = fo.FlatParams([rng.standard_normal(s) for s in SHAPES])
    opt = fo.Adam(store, lr=0.01, max_grad_norm=1.0, nonfinite="skip", state_dtype="bfloat16")
    store.grad[:] = 1.0
    opt.step()
    before = store.data.copy(), bits(opt.state[2]["exp_avg"]).copy()
    store.grads[2][-1] = np.nan
    opt.step()
    assert opt.skipped_steps == 1 and np.array_equal(store.data, before[0])
    assert np.array_equal(bits(opt.state[2]["exp_avg"]), before[1])


# ---- float16 and bfloat16 gradients -----------------------------------------------------------
GRAD_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def low_grads(rng, shapes, dtype):
    """Gradients of varied scale in `dtype`, with float16's subnormals and zeros of both signs."""
    out = []
    for s in shapes:
        g = rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 2)
        g.flat[:3] = [6e-8, -3e-6, -0.0][: g.size]
        out.append(g.astype(dtype))
    return out


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("dtype", GRAD_DTYPES)
@pytest.mark.parametrize("rule,config", CORE_CONFIGS, ids=[config_id(*c) for c in CORE_CONFIGS])
def test_low_precision_grads_step_as_their_float32_values(rule, config, dtype, nthreads, target,
                                                          threads):
    # Widening float16 and bfloat16 to float32 is exact: a step on them is the step on
    # g.astype(np.float32), bit for bit, with the clipping norm too.
    threads(nthreads)
    row = RULES[rule]
    rng = np.random.default_rng(9)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours, twin = [p.copy() for p in init], [p.copy() for p in init]
    clip = {} if rule.startswith("Proximal") else dict(max_grad_norm=10.0)
    opt = row.cls(ours, lr=row.lr, **clip, **config)
    ref_opt = row.cls(twin, lr=row.lr, **clip, **config)
    for _ in range(3):
        gs = low_grads(rng, SHAPES, GRAD_DTYPES[dtype])
        opt.step(gs)
        ref_opt.step([g.astype(np.float32) for g in gs])
        for a, b in zip(ours, twin):
            assert np.array_equal(a, b)
        if clip:
            assert opt.last_grad_norm == ref_opt.last_grad_norm


@pytest.mark.parametrize("dtype", GRAD_DTYPES)
@pytest.mark.parametrize("clip", [None, 1.0])
def test_low_precision_grads_skip_and_raise(dtype, clip):
    rng = np.random.default_rng(10)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    opt = fo.Adam(params, lr=0.01, max_grad_norm=clip, nonfinite="skip")
    gs = low_grads(rng, SHAPES, GRAD_DTYPES[dtype])
    opt.step(gs)
    before = [p.copy() for p in params]
    gs[2][-1] = np.inf
    opt.step(gs)
    assert opt.skipped_steps == 1
    assert all(np.array_equal(a, b) for a, b in zip(params, before))
    assert opt._plan.last_check == ("norm" if clip else "scan")
    opt.nonfinite = "raise"
    with pytest.raises(FloatingPointError, match=r"grads\[2\]"):
        opt.step(gs)


def test_low_precision_grads_strided_and_mixed():
    p = np.zeros((4, 6), np.float32)
    twin = p.copy()
    g = np.arange(48, dtype=np.float16).reshape(4, 12)[:, ::2]  # strided: read through a copy
    fo.SGD([p], lr=0.1).step([g])
    fo.SGD([twin], lr=0.1).step([g.astype(np.float32)])
    assert np.array_equal(p, twin)
    a, b = np.zeros(3, np.float32), np.zeros(3, np.float32)
    opt = fo.SGD([a, b], lr=0.1)
    with pytest.raises(TypeError, match="one dtype"):
        opt.step([np.ones(3, np.float16), np.ones(3, np.float32)])
    with pytest.raises(TypeError, match="one dtype"):  # numbers are read as float32
        opt.step([np.ones(3, np.float16), [1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="float32"):
        opt.step([np.ones(3, np.float64), np.ones(3, np.float64)])
    assert not a.any() and not b.any()
