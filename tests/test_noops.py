"""No silent no-ops: what would quietly do nothing (or the wrong thing) raises, saying what to do.

Replacing an item of a FlatParams' params/grads, zero_grad() where the optimizer keeps no
gradients, torch tensors as parameters or gradients, float64 arrays, clipping's names for the
gradients, and a bare gradient array for an optimizer of one parameter (which works).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastoptim as fo

from conftest import RULES

CLASSES = [r.cls for r in RULES.values()]


def store_of(*shapes):
    rng = np.random.default_rng(0)
    return fo.FlatParams([rng.standard_normal(s).astype(np.float32) for s in shapes])


# ---- FlatParams.params / .grads are tuples of views ----------------------------------------
def test_replacing_a_grad_raises_and_says_to_write_into_the_view():
    store = store_of((3, 2), (2,))
    opt = fo.SGD(store, lr=1.0)
    before = store.data.copy()
    g = np.ones((3, 2), np.float32)
    with pytest.raises(TypeError, match=r"store\.grads\[0\] = g replaces nothing") as info:
        store.grads[0] = g
    assert "np.copyto(store.grads[0], g)" in str(info.value)
    assert "store.grads[0][...] = g" in str(info.value)
    opt.step()  # the grads are still zero: nothing moved
    np.testing.assert_array_equal(store.data, before)
    np.copyto(store.grads[0], g)  # what the message says works
    opt.step()
    np.testing.assert_array_equal(store.params[0], before[:6].reshape(3, 2) - 1.0)


@pytest.mark.parametrize("name", ["params", "grads"])
def test_item_slice_and_delete_all_raise(name):
    store = store_of((4,), (2, 2))
    views = getattr(store, name)
    assert isinstance(views, tuple) and len(views) == 2
    with pytest.raises(TypeError, match=rf"store\.{name}\[1\] = .* replaces nothing"):
        views[1] = np.zeros((2, 2), np.float32)
    with pytest.raises(TypeError, match=rf"store\.{name}\[-1\] = .* replaces nothing"):
        views[-1] = np.zeros((2, 2), np.float32)
    with pytest.raises(TypeError, match=rf"store\.{name}\[0:1\] = .*np\.copyto"):
        views[0:1] = [np.zeros(4, np.float32)]
    with pytest.raises(TypeError, match="cannot be removed"):
        del views[0]
    assert all(np.shares_memory(v, store.data if name == "params" else store.grad)
               for v in getattr(store, name))


def test_in_place_operators_on_an_item_still_write_into_the_view():
    store = store_of((3,), (2,))
    g = np.arange(3, dtype=np.float32)
    store.grads[0] += g  # the view is updated in place, then "assigned" to itself: allowed
    store.grads[0] *= 2
    store.params[1] -= 1
    np.testing.assert_array_equal(store.grad[:3], 2 * g)
    np.testing.assert_array_equal(store.params[1], store.data[3:])


@pytest.mark.parametrize("name", ["params", "grads", "data", "grad"])
def test_the_store_attributes_cannot_be_replaced(name):
    store = store_of((3,))
    with pytest.raises(AttributeError, match=rf"FlatParams\.{name} cannot be replaced.*Write into"):
        setattr(store, name, [np.zeros(3, np.float32)])


def test_views_still_serve_param_groups_iteration_and_indexing():
    store = store_of((2, 3), (3,), ())
    opt = fo.Adam([{"params": store.params[:1], "lr": 0.1}, {"params": store.params[1:]}])
    store.grad[:] = 1.0
    opt.step()
    assert [p.shape for p in store] == [(2, 3), (3,), ()]
    assert store[0] is store.params[0] and len(store[1:]) == 2
    W, b, c = store.params
    gW, gb, gc = store.grads
    assert np.shares_memory(gW, store.grad) and gc.shape == ()


# ---- zero_grad() --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_zero_grad_without_a_store_raises(cls):
    p = np.ones(3, np.float32)
    opt = cls([p])
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}\.zero_grad\(\) has no gradients "
                                           r"to zero: .*step\(grads\).*FlatParams"):
        opt.zero_grad()
    with pytest.raises(RuntimeError, match="no gradients to zero"):
        fo.Lookahead(cls([np.ones(3, np.float32)])).zero_grad()


@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_zero_grad_on_a_store_zeroes_its_grads(cls):
    store = store_of((3, 2), (2,))
    store.grad[:] = 1.0
    cls(store).zero_grad()
    assert not store.grad.any()
    store.grad[:] = 1.0
    fo.Lookahead(cls(store)).zero_grad()
    assert not store.grad.any()


def test_zero_grad_zeroes_only_the_optimizers_own_grads():
    store = store_of((3,), (2,), (4,))
    first = fo.SGD(store.params[:2])
    store.grad[:] = 1.0
    first.zero_grad()
    np.testing.assert_array_equal(store.grad, [0] * 5 + [1] * 4)  # not the third parameter's
    store.grad[:] = 1.0
    fo.SGD([store.params[2], store.params[0]]).zero_grad()
    np.testing.assert_array_equal(store.grad, [0] * 3 + [1] * 2 + [0] * 4)


def test_zero_grad_with_some_params_outside_stores_raises_and_zeroes_nothing():
    store = store_of((3,), (2,))
    loose = np.ones(4, np.float32)
    opt = fo.Adam([store.params[0], loose, store.params[1]])
    store.grad[:] = 1.0
    with pytest.raises(RuntimeError, match=r"params\[1\] \(of 3 parameters\) is not a parameter "
                                           r"of a fastoptim\.FlatParams store.*nothing was zeroed"):
        opt.zero_grad()
    assert store.grad.all()
    # A slice of a store's parameter is in its buffer, but the store has no gradient view for it.
    opt = fo.SGD([store.params[0][:2], store.params[1]])
    with pytest.raises(RuntimeError, match=r"params\[0\] \(of 2"):
        opt.zero_grad()
    # zero_grad() works exactly where step() needs no grads; adding a loose group ends both.
    opt = fo.SGD(store)
    opt.zero_grad()
    opt.add_param_group({"params": [loose]})
    with pytest.raises(RuntimeError, match=r"params\[2\]"):
        opt.zero_grad()
    with pytest.raises(TypeError, match="needs grads"):
        opt.step()


def test_lbfgs_zero_grad_as_the_optimizers():
    with pytest.raises(RuntimeError, match=r"LBFGS\.zero_grad\(\) has no gradients to zero: .*"
                                           "the closure"):
        fo.LBFGS([np.ones(3, np.float32)]).zero_grad()
    store = store_of((3,), (2,))
    store.grad[:] = 1.0
    fo.LBFGS(store).zero_grad()
    assert not store.grad.any()


# ---- torch tensors ------------------------------------------------------------------------
TORCH_HINT = r"is a torch\.Tensor; fastoptim steps NumPy arrays: pass p\.detach\(\)\.numpy\(\)"


@pytest.fixture
def model():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_torch_parameters_get_the_way_to_pass_them(cls, model):
    with pytest.raises(TypeError, match=r"params\[0\] " + TORCH_HINT):
        cls(model.parameters())  # a generator
    with pytest.raises(TypeError, match=r"params\[1\] " + TORCH_HINT):
        cls([np.zeros(2, np.float32), model.bias])
    with pytest.raises(TypeError, match=r"^params " + TORCH_HINT):
        cls(model.weight)
    with pytest.raises(TypeError, match=r"params is a torch\.nn\.Module.*model\.parameters\(\)"):
        cls(model)
    with pytest.raises(TypeError, match=r"param group 0 'params' " + TORCH_HINT):
        cls([{"params": model.weight}])


def test_torch_parameters_elsewhere(model):
    with pytest.raises(TypeError, match=r"params\[0\] " + TORCH_HINT):
        fo.EMA(list(model.parameters()))
    with pytest.raises(TypeError, match=r"params\[0\] " + TORCH_HINT):
        fo.LBFGS(model.parameters())
    with pytest.raises(TypeError, match=r"grads\[1\] is a torch\.Tensor; pass p\.grad\.numpy\(\)"):
        fo.clip_grad_norm_([np.zeros(2, np.float32), model.bias], 1.0)
    with pytest.raises(TypeError, match=r"grads is a torch\.Tensor: pass p\.grad\.numpy\(\)"):
        fo.clip_grad_value_(model.bias, 1.0)


def test_the_torch_hint_trains_the_model_as_torch_does(model):
    torch = pytest.importorskip("torch")
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    params = [p.detach().numpy() for p in model.parameters()]  # what the message says
    opt = fo.SGD(params, lr=0.1, momentum=0.9)
    ref = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        for m in (model, twin):
            m.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
        opt.step([p.grad.numpy() for p in model.parameters()])
        ref.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_torch_grads_get_the_way_to_pass_them(model):
    torch = pytest.importorskip("torch")
    ps = [np.zeros((2, 3), np.float32), np.zeros(2, np.float32)]
    opt = fo.Adam(ps, lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[1\] must be a float32 array .*got Parameter, "
                                        r"a torch\.Tensor: pass p\.grad\.numpy\(\).*\.detach"):
        opt.step([np.ones((2, 3), np.float32), model.bias])  # requires grad: no silent copy
    with pytest.raises(TypeError, match=r"list or tuple.*got Tensor: pass a list of NumPy "
                                        r"arrays, \[p\.grad\.numpy\(\)"):
        opt.step(torch.ones(2))
    assert not any(p.any() for p in ps)
    opt.step([torch.ones(2, 3), torch.ones(2)])  # plain CPU tensors are read as arrays
    assert all((p < 0).all() for p in ps)


def test_torch_is_told_without_importing_it():
    code = ("import sys, numpy as np, fastoptim as fo\n"
            "try:\n    fo.Adam([np.zeros(3)])\nexcept TypeError: pass\n"
            "try:\n    fo.Adam([np.zeros(3, np.float32)]).step([np.zeros(3)])\n"
            "except TypeError: pass\n"
            "assert 'torch' not in sys.modules, 'fastoptim imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- float64 and other dtypes ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, ">f4", np.int32])
@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_parameters_of_another_dtype_get_astype(cls, dtype):
    with pytest.raises(TypeError, match=r"params\[1\] must have dtype float32.*, got "
                                        r".*: convert it with \.astype\(np\.float32\) \(the "
                                        r"optimizer updates that new array in place, so keep a "
                                        r"reference to it\)"):
        cls([np.ones(2, np.float32), np.zeros(3, dtype)])


def test_complex_parameters_get_no_astype():
    with pytest.raises(TypeError, match=r"params\[0\] must have dtype float32") as info:
        fo.SGD([np.zeros(3, np.complex64)])
    assert "astype" not in str(info.value)


@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_float64_grads_get_astype_and_change_nothing(cls):
    ps = [np.ones(2, np.float32), np.ones(3, np.float32)]
    opt = cls(ps)
    with pytest.raises(TypeError, match=r"grads\[1\] must have dtype float32.*got float64: "
                                        r"convert it with \.astype\(np\.float32\)$"):
        opt.step([np.ones(2, np.float32), np.ones(3)])
    assert all((p == 1).all() for p in ps) and len(opt.state) == 0


def test_float64_elsewhere_gets_astype():
    with pytest.raises(TypeError, match=r"params\[0\].*float64: convert it with \.astype"):
        fo.EMA([np.zeros(3)])
    with pytest.raises(TypeError, match=r"params\[0\].*float64: convert it with \.astype"):
        fo.LBFGS([np.zeros(3)])
    v = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match=r"grads\[0\].*float64: convert it with \.astype"):
        fo.LBFGS([v]).step(lambda: (0.0, [np.ones(3)]))


# ---- clipping names its arguments grads -----------------------------------------------------
@pytest.mark.parametrize("clip", [lambda g: fo.clip_grad_norm_(g, 1.0),
                                  lambda g: fo.clip_grad_value_(g, 1.0)], ids=["norm", "value"])
def test_clipping_errors_name_grads(clip):
    good = np.ones(3, np.float32)
    cases = [
        ([good, np.ones(3)], TypeError, r"^grads\[1\] must have dtype float32.*\.astype"),
        ([good, [1.0]], TypeError, r"^grads\[1\] must be a numpy\.ndarray"),
        ([good, np.ones((3, 2), np.float32)[:, 0]], ValueError, r"^grads\[1\] must be C-contig"),
        ([good[:2], good[1:]], ValueError, r"^grads\[0\] and grads\[1\] overlap in memory \(an "
                                          r"array listed twice\?\)"),
    ]
    ro = np.ones(2, np.float32)
    ro.setflags(write=False)
    cases.append(([good, ro], ValueError, r"^grads\[1\] is read-only"))
    for grads, err, match in cases:
        with pytest.raises(err, match=match) as info:
            clip(grads)
        assert "params" not in str(info.value)
    np.testing.assert_array_equal(good, 1.0)


# ---- step(g) with a bare array ------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=list(RULES))
def test_bare_gradient_for_one_parameter(cls):
    a, b = np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)
    g = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    bare, listed = cls(a, lr=0.01), cls([b], lr=0.01)
    for _ in range(3):
        bare.step(g)
        listed.step([g])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, 1.0)


def test_bare_gradient_through_lookahead_and_lbfgs():
    a, b = np.ones(4, np.float32), np.ones(4, np.float32)
    la, lb = fo.Lookahead(fo.Adam(a, lr=0.1), k=2), fo.Lookahead(fo.Adam([b], lr=0.1), k=2)
    for _ in range(4):
        la.step(2 * a)
        lb.step([2 * b])
    np.testing.assert_array_equal(a, b)
    x = np.full(3, 5.0, np.float32)
    fo.LBFGS(x, line_search_fn="strong_wolfe").step(
        lambda: (float(((x - 1) ** 2).sum()), 2 * (x - 1)))
    np.testing.assert_allclose(x, 1.0, atol=1e-4)


def test_bare_gradient_for_several_parameters_raises_and_changes_nothing():
    ps = [np.ones(3, np.float32), np.ones(3, np.float32)]
    opt = fo.Adam(ps)
    with pytest.raises(TypeError, match=r"Adam\.step\(grads\) takes a list or tuple of grads, "
                                        r"one per parameter; got one array for 2 parameters"):
        opt.step(np.ones(3, np.float32))
    assert all((p == 1).all() for p in ps) and len(opt.state) == 0
