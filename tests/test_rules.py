"""Native kernels against the float64 references, element by element, on every CPU target."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from conftest import (ALL_CONFIGS, CORE_CONFIGS, RULES, Reached, assert_close, config_id,
                      grad_stream)

SIZES = [0, 1, 7, 15, 16, 17, 31, 33, 65, 4097, (3, 5, 7), "unaligned"]
STEPS = 60


def make_param(rng, size):
    """A float32 parameter; "unaligned" is a view starting one element into its buffer."""
    if size == "unaligned":
        buf = np.zeros(4097 + 32, np.float32)
        start = (-buf.ctypes.data % 64) // 4 + 1  # one float past a cache-line boundary
        p = buf[start : start + 4097]
        p[...] = rng.standard_normal(p.shape)
        assert p.ctypes.data % 64 == 4 and p.flags.c_contiguous
        return p
    return rng.standard_normal(size).astype(np.float32)


def unaligned_like(g):
    """`g` copied into a view offset by one element, so loads are misaligned for grads too."""
    buf = np.empty(g.size + 32, np.float32)
    start = (-buf.ctypes.data % 64) // 4 + 1
    v = buf[start : start + g.size].reshape(g.shape)
    v[...] = g
    return v


def check_against_reference(rule, config, params, steps, rng, unaligned_grads=False):
    fo_cls, ref_cls, lr = RULES[rule].cls, RULES[rule].reference, RULES[rule].lr
    reference = ref_cls([p.copy() for p in params], lr=lr, **config)
    opt = fo_cls(params, lr=lr, **config)
    reached = Reached(reference)
    for grads in grad_stream(rng, [p.shape for p in params], steps):
        if unaligned_grads:
            grads = [unaligned_like(g) for g in grads]
        opt.step(grads)
        reference.step(grads)
        reached()
    for i, (p, r) in enumerate(zip(params, reference.params)):
        assert_close(p, r, scale=reached.scale(i))
    for i, p in enumerate(params):
        for name, value in reference.state[i].items():
            assert_close(opt.state[i][name], value, scale=reached.scale(i, name),
                         err_msg=f"state {name} of param {i}")
        entry = opt.state_dict()["state"].get(i)
        if reference.state[i] or opt._step_in_state:  # torch's SGD keeps no state w/o momentum
            assert entry["step"] == steps
        else:
            assert entry is None


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("rule,config", CORE_CONFIGS, ids=[config_id(*c) for c in CORE_CONFIGS])
def test_single_tensor_matches_reference(target, rule, config, size):
    # crc32, not hash(): str hashes change from process to process, and so would the data
    rng = np.random.default_rng(zlib.crc32(repr((rule, config, size)).encode()))
    param = make_param(rng, size)
    check_against_reference(rule, config, [param], STEPS, rng,
                            unaligned_grads=size == "unaligned")


@pytest.mark.parametrize("rule,config", ALL_CONFIGS, ids=[config_id(*c) for c in ALL_CONFIGS])
def test_every_option_combination_on_many_tensors(target, rule, config):
    rng = np.random.default_rng(7)
    params = [make_param(rng, s) for s in [17, (4, 33), 0, 1, (2, 3, 5), 4097]]
    check_against_reference(rule, config, params, 55, rng)


def test_skipped_params_keep_their_own_step_count():
    rng = np.random.default_rng(3)
    params = [make_param(rng, 40), make_param(rng, 9)]
    adam = RULES["Adam"]
    fo_cls, ref_cls, lr = adam.cls, adam.reference, adam.lr
    opt, reference = fo_cls(params, lr=lr), ref_cls([p.copy() for p in params], lr=lr)
    for k, grads in enumerate(grad_stream(rng, [p.shape for p in params], 30)):
        if k % 3 == 0:
            grads[1] = None  # parameter 1 has no gradient this step: no update, no step
        opt.step(grads)
        reference.step(grads)
    for p, r in zip(params, reference.params):
        assert_close(p, r)
    assert [opt.state[i]["step"] for i in range(2)] == reference.steps == [30, 20]
