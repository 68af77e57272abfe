"""L-BFGS: the same iterates as torch.optim.LBFGS on Rosenbrock and logistic regression, with
and without the strong-Wolfe line search, through the list API and the flat store."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo

torch = pytest.importorskip("torch")


def rosenbrock(params):
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 over params[0] = (x, y); float64 math."""
    x, y = np.asarray(params[0], dtype=np.float64)
    f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
    g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    return f, [g.astype(np.float32)]


def make_logistic(seed=0, n=200, d=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = (X @ w_true + 0.3 * rng.standard_normal(n) > 0).astype(np.float64)

    def loss(params):
        w, b = (np.asarray(p, dtype=np.float64) for p in params)
        z = X @ w + b[0]
        f = np.mean(np.logaddexp(0, z) - y * z) + 0.01 * w @ w
        r = (1 / (1 + np.exp(-z)) - y) / n
        return f, [(X.T @ r + 0.02 * w).astype(np.float32), np.array([r.sum()], np.float32)]

    return loss, [np.zeros(d, np.float32), np.zeros(1, np.float32)]


def run_both(objective, init, steps, **kw):
    ours = [p.copy() for p in init]
    theirs = [torch.tensor(p.copy()) for p in init]
    opt = fo.LBFGS(ours, **kw)
    topt = torch.optim.LBFGS(theirs, **kw)

    def closure():
        return objective(ours)

    def tclosure():
        f, grads = objective([t.detach().numpy() for t in theirs])
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        return torch.tensor(f)

    history = []
    for _ in range(steps):
        a = opt.step(closure)
        b = topt.step(tclosure)
        history.append((a, float(b), [p.copy() for p in ours], [t.numpy().copy() for t in theirs]))
    return opt, topt, history


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_same_iterates_as_torch_on_logistic_regression(line_search_fn):
    objective, init = make_logistic()
    kw = dict(lr=1 if line_search_fn else 0.5, max_iter=8, history_size=5)
    opt, topt, history = run_both(objective, init, 6, line_search_fn=line_search_fn, **kw)
    for k, (a, b, ours, theirs) in enumerate(history):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6), f"loss at step {k}"
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p, t, rtol=1e-4, atol=1e-5, err_msg=f"step {k}")
    tstate = topt.state[topt._params[0]]
    assert (opt.state["n_iter"], opt.state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"])
    assert history[-1][0] < 0.5 * objective(init)[0]  # it optimises


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_same_iterates_as_torch_on_rosenbrock(line_search_fn):
    """Iteration by iteration. Rosenbrock's valley amplifies float32 rounding (both libraries
    round dot products differently), so iterates are compared while that stays below 1e-5,
    and then both must reach the same minimum."""
    init = [np.array([-1.5, 2.0], np.float32)]
    kw = dict(lr=1 if line_search_fn else 1e-3, history_size=10, line_search_fn=line_search_fn)
    _, _, history = run_both(rosenbrock, init, 10, max_iter=1, max_eval=25, **kw)
    for k, (a, b, ours, theirs) in enumerate(history):
        assert a == pytest.approx(b, rel=1e-5), f"loss at iteration {k}"
        np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=2e-5, err_msg=f"iteration {k}")
    assert not np.array_equal(history[-1][2][0], init[0])
    if line_search_fn:
        _, _, history = run_both(rosenbrock, init, 1, max_iter=200, **kw)
        np.testing.assert_allclose(history[0][2][0], [1.0, 1.0], atol=1e-3)
        np.testing.assert_allclose(history[0][3][0], [1.0, 1.0], atol=1e-3)


def test_strong_wolfe_solves_rosenbrock():
    p = np.array([-1.5, 2.0], np.float32)
    opt = fo.LBFGS([p], lr=1, max_iter=200, line_search_fn="strong_wolfe")
    opt.step(lambda: rosenbrock([p]))
    np.testing.assert_allclose(p, [1.0, 1.0], atol=1e-3)


def test_flat_store_closure_may_fill_the_store_grads():
    objective, init = make_logistic(seed=3)
    store = fo.FlatParams(init)
    opt = fo.LBFGS(store, max_iter=15, line_search_fn="strong_wolfe")

    def closure():
        f, grads = objective(store.params)
        for view, g in zip(store.grads, grads):
            np.copyto(view, g)
        return f

    ref_params = [p.copy() for p in init]
    ref = fo.LBFGS(ref_params, max_iter=15, line_search_fn="strong_wolfe")
    for _ in range(3):
        opt.step(closure)
        ref.step(lambda: objective(ref_params))
    for a, b in zip(store.params, ref_params):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_continues_identically():
    objective, init = make_logistic(seed=4)
    a = [p.copy() for p in init]
    opt = fo.LBFGS(a, max_iter=4, history_size=3)
    for _ in range(3):
        opt.step(lambda: objective(a))
    b = [p.copy() for p in a]
    opt2 = fo.LBFGS(b, max_iter=4, history_size=3)
    opt2.load_state_dict(opt.state_dict())
    for _ in range(3):
        opt.step(lambda: objective(a))
        opt2.step(lambda: objective(b))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("kw,err,match", [
    (dict(lr=-1), ValueError, "lr"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(max_iter=2.5), TypeError, "max_iter"),
    (dict(history_size=0), ValueError, "history_size"),
    (dict(tolerance_grad=float("nan")), ValueError, "tolerance_grad"),
    (dict(line_search_fn="backtracking"), ValueError, "line_search_fn"),
])
def test_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        fo.LBFGS([np.zeros(2, np.float32)], **kw)


def test_bad_closure_output_changes_nothing():
    p = np.array([0.5, 0.5], np.float32)
    opt = fo.LBFGS([p])
    with pytest.raises(ValueError, match="grads"):
        opt.step(lambda: (1.0, []))
    with pytest.raises(TypeError, match="float32"):
        opt.step(lambda: (1.0, [np.zeros(2)]))
    np.testing.assert_array_equal(p, [0.5, 0.5])
