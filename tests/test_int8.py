"""int8 optimizer state (state_dtype="int8"): the blockwise quantizer bit for bit against the
references', on every target and thread count; state dicts and checkpoints across formats; and
what works around it (clipping, non-finite policies, the flat store, EMA, Lookahead). The same
bits for any thread count and accuracy against the float64 references: test_lowprec.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
from conftest import adam_pair, grad_stream
import reference as ref

# Tensors smaller than a block, one not a whole number of blocks, and one that threads split.
SHAPES = [(7, 5), (3, 100, 2), (3 * 2**15 + 37,)]


def same_bits(a, b):
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32),
                          np.asarray(b, np.float32).view(np.uint32))


def assert_state_is(state, values):
    """The Int8State holds exactly the reference's quantization of values."""
    codes, scales = ref.int8_quantize(values)
    assert np.array_equal(state.codes, codes), np.flatnonzero(state.codes != codes)[:5]
    assert same_bits(state.scales, scales)


def varied(rng, shape):
    """Values of every sign and of scales 1e-20 to 1e20, with a block of only positive ones."""
    x = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-20, 20, shape)).astype(np.float32)
    flat = x.reshape(-1)
    flat[:3] = [0.0, -0.0, 1e-38]
    flat[256:512] = np.abs(flat[256:512])
    return x


@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_quantizer_is_the_references_bit_for_bit(nthreads, target, threads):
    # SGD's first step copies the gradient into its momentum buffer: exactly the gradient's
    # quantization, on every target and thread count.
    threads(nthreads)
    rng = np.random.default_rng(0)
    params = [np.zeros(s, np.float32) for s in SHAPES]
    grads = [varied(rng, s) for s in SHAPES]
    opt = fo.SGD(params, lr=0.1, momentum=0.9, state_dtype="int8")
    opt.step(grads)
    for i, g in enumerate(grads):
        state = opt.state[i]["momentum_buffer"]
        assert isinstance(state, fo.Int8State) and state.shape == g.shape
        assert_state_is(state, g)
        # Dequantized: the reference's decoding of the same codes.
        assert same_bits(np.asarray(state), ref.int8_dequantize(state.codes, state.scales))
        assert same_bits(fo.Int8State.quantize(g).numpy(), np.asarray(state))


def test_every_slot_quantizes_as_the_reference(target, threads):
    # Adam with betas (0, 0) stores m = g and v = max = g * g (exact in float32): the signed
    # map for m, the unsigned one for v (its scales negated).
    threads(2)
    rng = np.random.default_rng(11)
    params = [np.zeros(s, np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 10.0 ** rng.uniform(-10, 10)).astype(np.float32)
             for s in SHAPES]
    opt = fo.Adam(params, lr=0.1, betas=(0.0, 0.0), amsgrad=True, state_dtype="int8")
    opt.step(grads)
    for i, g in enumerate(grads):
        assert_state_is(opt.state[i]["exp_avg"], g)
        assert_state_is(opt.state[i]["exp_avg_sq"], g * g)
        assert_state_is(opt.state[i]["max_exp_avg_sq"], g * g)
        assert np.all(np.signbit(opt.state[i]["exp_avg_sq"].scales))


def test_the_maps_precision_and_range():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(256 * 64).astype(np.float32)
    y = fo.Int8State.quantize(x).numpy()
    big = np.abs(x) > 2.0**-7 * np.abs(x).max()
    assert np.all(np.abs(y - x)[big] <= np.abs(x)[big] / 32 * 1.0001)  # 4 mantissa bits
    assert np.array_equal(np.sign(y[big]), np.sign(x[big]))
    v = (x * x).astype(np.float32)  # >= 0: the unsigned map reaches 2^-32 of the block's max
    w = fo.Int8State.quantize(v).numpy()
    big = v > 2.0**-30 * v.max()
    assert np.all(np.abs(w - v)[big] <= v[big] / 16 * 1.0001)  # 3 mantissa bits
    assert fo.Int8State.quantize(np.zeros(300, np.float32)).numpy().tolist() == [0.0] * 300


def test_one_step_is_the_float32_step_on_the_dequantized_state():
    # From any int8 state, a step computes in float32 from the decoded values: the same
    # parameters as a float32 optimizer loaded with those values (up to the one rounding of the
    # new state, which the parameter update does not read back).
    rng = np.random.default_rng(5)
    p8 = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal(1000).astype(np.float32)
    q8 = fo.Adam([p8], lr=0.01, state_dtype="int8")
    q8.step([rng.standard_normal(1000).astype(np.float32)])
    p32 = p8.copy()
    f32 = fo.Adam([p32], lr=0.01)
    f32.load_state_dict(q8.state_dict())  # dequantized, exactly
    q8.step([g])
    f32.step([g])
    assert same_bits(p8, p32)
    assert_state_is(q8.state[0]["exp_avg"], f32.state[0]["exp_avg"])
    assert_state_is(q8.state[0]["exp_avg_sq"], f32.state[0]["exp_avg_sq"])


def test_state_dicts_round_trip_and_convert_between_formats(tmp_path):
    q8, f32, p = adam_pair("int8", 700)
    sd = q8.state_dict()
    assert sd["state"][0]["exp_avg"] == q8.state[0]["exp_avg"]  # a copy, equal
    assert sd["state"][0]["exp_avg"].codes is not q8.state[0]["exp_avg"].codes
    # Packed state round-trips exactly: through a state dict and through a checkpoint.
    again = fo.Adam([p.copy()], lr=0.01, state_dtype="int8")
    again.load_state_dict(sd)
    assert again.state[0]["exp_avg"] == q8.state[0]["exp_avg"]
    fo.save(tmp_path / "q8.npz", q8)
    loaded = fo.Adam([p.copy()], lr=0.01, state_dtype="int8")
    fo.load(tmp_path / "q8.npz", loaded)
    assert loaded.state[0]["exp_avg_sq"] == q8.state[0]["exp_avg_sq"]
    # float32 state into an int8 optimizer quantizes it...
    quantized = fo.Adam([p.copy()], lr=0.01, state_dtype="int8")
    quantized.load_state_dict(f32.state_dict())
    assert_state_is(quantized.state[0]["exp_avg"], f32.state[0]["exp_avg"])
    # ...and int8 state into a float32 or bfloat16 optimizer dequantizes it.
    widened = fo.Adam([p.copy()], lr=0.01)
    widened.load_state_dict(q8.state_dict())
    assert same_bits(widened.state[0]["exp_avg"], np.asarray(q8.state[0]["exp_avg"]))
    bf = fo.Adam([p.copy()], lr=0.01, state_dtype="bfloat16")
    bf.load_state_dict(q8.state_dict())
    assert np.array_equal(bf.state[0]["exp_avg"].view(np.uint16),
                          ref.bf16_round(np.asarray(q8.state[0]["exp_avg"])))
    # A state dict of the wrong shape is refused, and nothing changes.
    bad = q8.state_dict()
    bad["state"][0]["exp_avg"] = fo.Int8State.quantize(np.zeros(10, np.float32))
    before = q8.state[0]["exp_avg"].copy()
    with pytest.raises(ValueError, match="shape"):
        q8.load_state_dict(bad)
    assert q8.state[0]["exp_avg"] == before


def test_int8_state_objects_check_their_parts():
    with pytest.raises(TypeError):
        fo.Int8State(np.zeros(4, np.int16), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="block"):
        fo.Int8State(np.zeros(300, np.uint8), np.zeros(1, np.float32))
    s = fo.Int8State.quantize(np.arange(5, dtype=np.float32))
    assert s.nbytes == 5 + 4 and np.asarray(s, np.float64).dtype == np.float64


def test_works_with_clipping_nonfinite_policies_and_the_flat_store(threads):
    threads(2)
    rng = np.random.default_rng(7)
    shapes = [(256, 3), (100,), (2**16 + 5,)]
    store = fo.FlatParams(shapes)
    for v in store.params:
        v[...] = rng.standard_normal(v.shape)
    loose = [v.copy() for v in store.params]
    a = fo.Adam(store, lr=0.01, state_dtype="int8", max_grad_norm=1.0, nonfinite="skip")
    b = fo.Adam(loose, lr=0.01, state_dtype="int8", max_grad_norm=1.0, nonfinite="skip")
    for gs in grad_stream(np.random.default_rng(8), shapes, 3):
        for dst, g in zip(store.grads, gs):
            dst[...] = g
        a.step()
        b.step(gs)
    for x, y in zip(store.params, loose):
        assert np.array_equal(x, y)  # merged spans, the same blocks
    before = [s.copy() for s in (a.state[0]["exp_avg"], a.state[2]["exp_avg_sq"])]
    store.grads[1][3] = np.nan
    a.step()
    assert a.skipped_steps == 1
    assert [a.state[0]["exp_avg"], a.state[2]["exp_avg_sq"]] == before


def test_ema_and_lookahead_wrap_an_int8_optimizer():
    rng = np.random.default_rng(9)
    p = rng.standard_normal(300).astype(np.float32)
    opt = fo.Lookahead(fo.Adam([p], lr=0.01, state_dtype="int8"), k=2)
    ema = fo.EMA([p], decay=0.9)
    for gs in grad_stream(np.random.default_rng(10), [(300,)], 4):
        opt.step(gs)
        ema.update()
    assert np.all(np.isfinite(p)) and isinstance(opt.state[0]["exp_avg"], fo.Int8State)


def test_nonfinite_state_makes_its_block_nonfinite():
    opt = fo.SGD([np.zeros(600, np.float32)], lr=0.1, momentum=0.9, state_dtype="int8")
    g = np.ones(600, np.float32)
    g[300] = np.inf
    opt.step([g])
    values = np.asarray(opt.state[0]["momentum_buffer"])
    assert np.all(values[:256] == 1.0) and not np.any(np.isfinite(values[256:512]))
    assert np.all(values[512:] == 1.0)
