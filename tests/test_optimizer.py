"""The Python surface: param groups, state, state_dict, the flat store, in-place updates."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo
import reference as ref
from conftest import assert_close, grad_stream

SHAPES = [(6, 5), (5,), (3, 2, 4)]


def params(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_step_updates_the_callers_arrays_in_place():
    W, b = params()[:2]
    W_id, W_ptr = id(W), W.ctypes.data
    before = W.copy()
    opt = fo.Adam([W, b], lr=1e-3)
    opt.step([np.ones_like(W), np.ones_like(b)])
    assert id(W) == W_id and W.ctypes.data == W_ptr
    np.testing.assert_allclose(W, before - 1e-3, rtol=0, atol=1e-6)


def test_param_groups_have_defaults_filled_and_own_options():
    a, b, c = params()
    opt = fo.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g0["momentum"] == 0 and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    assert g0["params"][0] is a and g1["params"][1] is c
    assert set(opt.defaults) == {"lr", "momentum", "dampening", "weight_decay", "nesterov",
                                 "maximize"}


def test_lr_change_takes_effect_at_the_next_step():
    (p,) = params(shapes=[(10,)])
    start = p.copy()
    opt = fo.SGD([p], lr=0.1)
    g = np.ones(10, np.float32)
    opt.step([g])
    opt.param_groups[0]["lr"] = 0.01
    opt.step([g])
    np.testing.assert_allclose(p, start - 0.11, rtol=1e-6)


def test_state_is_keyed_by_index_or_array_with_torch_names():
    a, b, c = params()
    opt = fo.Adam([a, b, c], amsgrad=True)
    assert len(opt.state) == 0 and a not in opt.state  # lazily "created", as in torch
    opt.step([np.ones_like(a), None, np.ones_like(c)])
    assert set(opt.state) == {0, 2}
    entry = opt.state[a]
    assert set(entry) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert entry["step"] == 1 and entry["exp_avg"].shape == a.shape
    assert opt.state[2]["exp_avg"] is not None and b not in opt.state
    sgd = fo.SGD([a], momentum=0.9)
    sgd.step([np.ones_like(a)])
    assert set(sgd.state[0]) == {"step", "momentum_buffer"}
    np.testing.assert_array_equal(sgd.state[0]["momentum_buffer"], 1.0)


def test_state_dict_round_trip_continues_bit_for_bit():
    rng = np.random.default_rng(4)
    stream = list(grad_stream(rng, SHAPES, 30))
    groups = lambda ps: [{"params": ps[:1], "lr": 0.02}, {"params": ps[1:]}]  # noqa: E731
    full = params()
    opt = fo.Adam(groups(full), lr=0.01, amsgrad=True)
    for g in stream:
        opt.step(g)
    half = params()
    opt1 = fo.Adam(groups(half), lr=0.01, amsgrad=True)
    for g in stream[:13]:
        opt1.step(g)
    sd = opt1.state_dict()
    resumed = [p.copy() for p in half]
    opt2 = fo.Adam(groups(resumed), lr=0.3)  # hyperparameters come back from the state dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.02 and opt2.param_groups[1]["lr"] == 0.01
    assert opt2.state_dict()["state"][0]["step"] == 13
    for g in stream[13:]:
        opt2.step(g)
    for a, b in zip(full, resumed):
        assert np.array_equal(a, b)


def test_state_dict_arrays_are_copies():
    (p,) = params(shapes=[(8,)])
    opt = fo.SGD([p], lr=0.1, momentum=0.9)
    opt.step([np.ones(8, np.float32)])
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][:] = 123
    assert not np.any(opt.state[0]["momentum_buffer"] == 123)


def test_add_param_group_keeps_existing_state():
    a, b, c = params()
    opt = fo.Adam([a], lr=0.01)
    opt.step([np.ones_like(a)])
    m = opt.state[0]["exp_avg"].copy()
    opt.add_param_group({"params": [b], "lr": 0.1})
    opt.step([np.ones_like(a), np.ones_like(b)])
    assert opt.state[0]["step"] == 2 and opt.state[1]["step"] == 1
    np.testing.assert_allclose(m, 0.1, rtol=1e-6)  # (1 - beta1) * g after one step
    np.testing.assert_allclose(opt.state[0]["exp_avg"], 0.19, rtol=1e-6)  # carried over


def test_switching_on_amsgrad_mid_run_allocates_its_state():
    (p,) = params(shapes=[(9,)])
    reference = ref.Adam([p.copy()], lr=0.01)
    opt = fo.Adam([p], lr=0.01)
    rng = np.random.default_rng(0)
    for k, g in enumerate(grad_stream(rng, [(9,)], 20)):
        if k == 10:
            opt.param_groups[0]["amsgrad"] = True
        opt.step(g)
        reference.step(g, amsgrad=k >= 10)
    assert "max_exp_avg_sq" in opt.state[0]
    assert_close(p, reference.params[0])


def test_flat_store_views_and_stepping():
    init = params()
    store = fo.FlatParams(init)
    assert store.data.ctypes.data % 64 == 0 and store.grad.ctypes.data % 64 == 0
    assert store.data.size == sum(p.size for p in init)
    for view, p in zip(store.params, init):
        assert view.shape == p.shape and np.shares_memory(view, store.data)
        np.testing.assert_array_equal(view, p)
    opt = fo.Adam(store, lr=0.01)
    list_params = [p.copy() for p in init]
    list_opt = fo.Adam(list_params, lr=0.01)
    rng = np.random.default_rng(9)
    for grads in grad_stream(rng, SHAPES, 12):
        for view, g in zip(store.grads, grads):
            np.copyto(view, g)
        opt.step()
        list_opt.step(grads)
    for view, p in zip(store.params, list_params):
        assert np.array_equal(view, p)  # same kernel, same arithmetic
    store.zero_grad()
    assert not store.grad.any()


def test_flat_store_param_groups_from_views():
    store = fo.FlatParams(params())
    opt = fo.SGD([{"params": store.params[:1], "lr": 1.0}, {"params": store.params[1:]}], lr=0.5)
    before = store.data.copy()
    store.grad[:] = 1.0
    opt.step()
    n0 = store.params[0].size
    np.testing.assert_allclose(store.data[:n0], before[:n0] - 1.0)
    np.testing.assert_allclose(store.data[n0:], before[n0:] - 0.5)
    opt.zero_grad()
    assert not store.grad.any()


def test_flat_store_from_shapes():
    store = fo.FlatParams([(3, 4), 5, ()])
    assert [p.shape for p in store.params] == [(3, 4), (5,), ()]
    assert not store.data.any()


def test_list_api_step_without_grads_is_an_error():
    (p,) = params(shapes=[(4,)])
    with pytest.raises(TypeError, match="needs grads"):
        fo.SGD([p]).step()


def test_memmap_parameters_are_updated_in_place(tmp_path):
    path = tmp_path / "w.bin"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(1000,))
    mm[:] = 1.0
    fo.SGD([mm], lr=0.5).step([np.ones(1000, np.float32)])
    mm.flush()
    np.testing.assert_array_equal(np.fromfile(path, dtype=np.float32), 0.5)


def test_params_accepts_a_generator_and_a_single_array():
    a, b, _ = params()
    opt = fo.SGD((p for p in [a, b]), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 2
    opt = fo.SGD(a, lr=0.1)
    assert opt.param_groups[0]["params"][0] is a


def test_repr_lists_groups():
    (p,) = params(shapes=[(2,)])
    text = repr(fo.Adam([p]))
    assert "Adam" in text and "lr: 0.001" in text


def test_concurrent_steps_on_two_optimizers_match_sequential():
    import threading

    rng = np.random.default_rng(12)
    init = [rng.standard_normal(200_000).astype(np.float32) for _ in range(2)]
    grads = [[(rng.standard_normal(200_000)).astype(np.float32)] for _ in range(2)]
    seq = [p.copy() for p in init]
    for p, g in zip(seq, grads):
        o = fo.Adam([p], lr=0.01)
        for _ in range(20):
            o.step(g)
    par = [p.copy() for p in init]
    opts = [fo.Adam([p], lr=0.01) for p in par]

    def run(k):
        for _ in range(20):
            opts[k].step(grads[k])

    ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for a, b in zip(seq, par):
        assert np.array_equal(a, b)


def test_array_over_two_to_the_31_elements():
    """64-bit indexing: elements past 2**31 are updated (8.6 GB; needs the RAM to run)."""
    n = 2**31 + 37
    avail = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    if avail < 2 * n * 4:
        pytest.skip("needs ~17 GB of free memory")
    p = np.full(n, 2.0, dtype=np.float32)
    fo.SGD([p], lr=0.25).step([p])  # the gradient is the parameter itself: p <- p - 0.25 * p
    for i in (0, 2**31 - 1, 2**31, 2**31 + 15, n - 1):
        assert p[i] == 1.5
    del p


# ---- every rule ------------------------------------------------------------------------
from conftest import RULES, TORCH_RULES  # noqa: E402

@pytest.mark.parametrize("rule", RULES)
def test_every_rule_round_trips_its_state_dict(rule):
    cls, lr = RULES[rule].cls, RULES[rule].lr
    kw = dict(lr=lr, **RULES[rule].full_state)  # every state array in play
    rng = np.random.default_rng(8)
    stream = list(grad_stream(rng, SHAPES, 16))
    full = params()
    opt = cls(full, **kw)
    for g in stream:
        opt.step(g)
    half = params()
    first = cls(half, **kw)
    for g in stream[:9]:
        first.step(g)
    sd = first.state_dict()
    assert all(entry["step"] == 9 for entry in sd["state"].values())
    second = cls(half, **{**kw, "lr": lr * 7})
    second.load_state_dict(sd)
    for g in stream[9:]:
        second.step(g)
    for a, b in zip(full, half):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_on_the_flat_store_equals_the_list_api(rule):
    cls, lr = RULES[rule].cls, RULES[rule].lr
    kw = dict(lr=lr, **RULES[rule].full_state)  # every state array in play
    store = fo.FlatParams(params())
    list_params = params()
    opt, list_opt = cls(store, **kw), cls(list_params, **kw)
    rng = np.random.default_rng(6)
    for grads in grad_stream(rng, SHAPES, 10):
        for view, g in zip(store.grads, grads):
            np.copyto(view, g)
        opt.step()
        list_opt.step(grads)
    for view, p in zip(store.params, list_params):
        assert np.array_equal(view, p)


@pytest.mark.parametrize("rule", TORCH_RULES)
def test_every_torch_rule_resumes_from_a_torch_state_dict(rule):
    torch = pytest.importorskip("torch")
    cls, torch_name, lr = RULES[rule].cls, RULES[rule].torch, RULES[rule].lr
    kw = dict(lr=lr, **RULES[rule].full_state)  # every state array in play
    init = params(3)
    theirs = [torch.tensor(p.copy()) for p in init]
    topt = getattr(torch.optim, torch_name)(theirs, **kw)
    rng = np.random.default_rng(5)
    stream = list(grad_stream(rng, SHAPES, 20))

    def torch_step(grads):
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g)
        topt.step()

    for g in stream[:10]:
        torch_step(g)
    ours = [t.numpy().copy() for t in theirs]
    opt = cls(ours, **{**kw, "lr": lr * 3})
    opt.load_state_dict(topt.state_dict())
    for g in stream[10:]:
        opt.step(g)
        torch_step(g)
    for p, t in zip(ours, theirs):
        assert_close(p, t.numpy(), rtol=1e-5)
