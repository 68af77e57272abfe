"""Bad input gets a clear error naming the argument, and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import fastoptim as fo

from conftest import RULES


def trained(cls=fo.Adam, **kw):
    """An optimizer that has stepped a few times over three parameters, and their grads."""
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (5,), (2, 2, 2)]]
    opt = cls(ps, lr=0.01, **kw)
    grads = [np.ones_like(p) for p in ps]
    for _ in range(3):
        opt.step(grads)
    return opt, ps, grads


def snapshot(opt, ps):
    return [p.copy() for p in ps], opt.state_dict()


def assert_unchanged(opt, ps, snap):
    before_ps, before_sd = snap
    for a, b in zip(ps, before_ps):
        assert np.array_equal(a, b)
    sd = opt.state_dict()
    assert sd["state"].keys() == before_sd["state"].keys()
    for i, entry in sd["state"].items():
        assert entry.keys() == before_sd["state"][i].keys()
        for k, v in entry.items():
            assert np.array_equal(v, before_sd["state"][i][k]), (i, k)
    for g, h in zip(sd["param_groups"], before_sd["param_groups"]):
        assert g == h


# ---- parameters --------------------------------------------------------------------------
@pytest.mark.parametrize("bad,err,match", [
    (np.zeros(5, np.float64), TypeError, "float32"),
    (np.zeros(5, np.int32), TypeError, "float32"),
    (np.zeros(5, np.complex64), TypeError, "float32"),
    (np.zeros(5, np.float16), TypeError, "float32"),
    (np.zeros(5, ">f4"), TypeError, "float32"),
    (np.zeros((5, 4), np.float32)[:, 1], ValueError, "contiguous"),
    (np.zeros((5, 4), np.float32).T, ValueError, "contiguous"),
    (np.zeros(5, np.float32)[::-1], ValueError, "contiguous"),
    ([1.0, 2.0], TypeError, "ndarray"),
])
@pytest.mark.parametrize("cls", [r.cls for r in RULES.values()], ids=list(RULES))
def test_bad_parameter_is_rejected_at_construction(cls, bad, err, match):
    good = np.ones(3, np.float32)
    with pytest.raises(err, match=match) as info:
        cls([good, bad])
    assert "params[1]" in str(info.value)
    np.testing.assert_array_equal(good, 1.0)


def test_read_only_parameter():
    p = np.zeros(4, np.float32)
    p.setflags(write=False)
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        fo.SGD([p])


def test_parameter_listed_twice():
    p = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="more than once"):
        fo.Adam([p, p])
    with pytest.raises(ValueError, match="more than once"):
        fo.Adam([{"params": [p]}, {"params": [p]}])


def test_overlapping_parameters():
    buf = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        fo.SGD([buf[:6], buf[4:]])


def test_empty_and_set_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        fo.SGD([])
    with pytest.raises(TypeError, match="not a set"):
        fo.SGD({1, 2})


def test_unknown_group_option():
    with pytest.raises(ValueError, match="unknown option 'momentum'"):
        fo.Adam([{"params": [np.zeros(2, np.float32)], "momentum": 0.9}])


# ---- hyperparameters ---------------------------------------------------------------------
BAD_HYPER = [
    ("SGD", dict(lr=-0.1), ValueError, "lr"),
    ("SGD", dict(lr=float("nan")), ValueError, "lr"),
    ("SGD", dict(lr=float("inf")), ValueError, "lr"),
    ("SGD", dict(momentum=-0.9), ValueError, "momentum"),
    ("SGD", dict(weight_decay=-1.0), ValueError, "weight_decay"),
    ("SGD", dict(dampening=float("nan")), ValueError, "dampening"),
    ("SGD", dict(nesterov=True, momentum=0.0), ValueError, "nesterov"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError, "nesterov"),
    ("SGD", dict(lr="0.1"), TypeError, "lr"),
    ("SGD", dict(maximize="yes"), TypeError, "maximize"),
    ("Adam", dict(lr=-1e-3), ValueError, "lr"),
    ("Adam", dict(eps=-1e-8), ValueError, "eps"),
    ("Adam", dict(eps=float("nan")), ValueError, "eps"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    ("Adam", dict(betas=(0.9, float("nan"))), ValueError, r"betas\[1\]"),
    ("Adam", dict(betas=(0.9,)), TypeError, "betas"),
    ("Adam", dict(betas=0.9), TypeError, "betas"),
    ("Adam", dict(weight_decay=-0.1), ValueError, "weight_decay"),
    ("Adam", dict(amsgrad=None), TypeError, "amsgrad"),
    ("AdamW", dict(weight_decay=float("nan")), ValueError, "weight_decay"),
    ("AdamW", dict(lr=None), TypeError, "lr"),
    ("Adagrad", dict(lr_decay=-0.1), ValueError, "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    ("Adagrad", dict(eps=-1e-10), ValueError, "eps"),
    ("RMSprop", dict(alpha=1.5), ValueError, "alpha"),
    ("RMSprop", dict(alpha=-0.1), ValueError, "alpha"),
    ("RMSprop", dict(momentum=-0.5), ValueError, "momentum"),
    ("RMSprop", dict(centered="no"), TypeError, "centered"),
    ("Adadelta", dict(rho=1.1), ValueError, "rho"),
    ("Adadelta", dict(rho=float("nan")), ValueError, "rho"),
    ("Adadelta", dict(lr=-1.0), ValueError, "lr"),
    ("Adamax", dict(betas=(0.9, 1.0)), ValueError, "betas"),
    ("NAdam", dict(momentum_decay=-4e-3), ValueError, "momentum_decay"),
    ("NAdam", dict(betas=(-0.1, 0.999)), ValueError, "betas"),
    ("RAdam", dict(eps=float("inf")), ValueError, "eps"),
    ("Lion", dict(betas=(0.9, 1.2)), ValueError, "betas"),
    ("Lion", dict(weight_decay=-0.1), ValueError, "weight_decay"),
    ("ProximalSGD", dict(l1=-0.1), ValueError, "l1"),
    ("ProximalSGD", dict(l2=float("nan")), ValueError, "l2"),
    ("ProximalAdagrad", dict(initial_accumulator_value=0.0), ValueError,
     "initial_accumulator_value"),
    ("ProximalAdagrad", dict(l1="big"), TypeError, "l1"),
]
IDS = [f"{r}-{list(kw)[0]}={list(kw.values())[0]}" for r, kw, _, _ in BAD_HYPER]


@pytest.mark.parametrize("rule,kw,err,match", BAD_HYPER, ids=IDS)
def test_bad_hyperparameter_at_construction(rule, kw, err, match):
    with pytest.raises(err, match=match):
        RULES[rule].cls([np.zeros(3, np.float32)], **kw)


@pytest.mark.parametrize("rule,kw,err,match", BAD_HYPER, ids=IDS)
def test_bad_hyperparameter_set_mid_run_changes_nothing(rule, kw, err, match):
    opt, ps, grads = trained(RULES[rule].cls, **({"momentum": 0.5} if rule == "SGD" else {}))
    snap = snapshot(opt, ps)
    opt.param_groups[0].update({"momentum": 0.5} if rule == "SGD" else {})
    opt.param_groups[0].update(kw)
    with pytest.raises(err, match=match):
        opt.step(grads)
    for k in kw:
        opt.param_groups[0][k] = snap[1]["param_groups"][0][k]
    assert_unchanged(opt, ps, snap)


def test_hyperparameter_numpy_scalars_are_accepted():
    p = np.zeros(3, np.float32)
    fo.Adam([p], lr=np.float32(0.1), amsgrad=np.bool_(True)).step([np.ones(3, np.float32)])
    assert np.all(p < 0)


# ---- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("make,err,match", [
    (lambda gs: gs[:2], ValueError, "got 2 grads for 3 parameters"),
    (lambda gs: gs + [gs[0]], ValueError, "got 4 grads for 3 parameters"),
    (lambda gs: [gs[0], np.ones(6, np.float32), gs[2]], ValueError, r"grads\[1\] has shape"),
    (lambda gs: [gs[0], gs[1].reshape(1, 5), gs[2]], ValueError, r"grads\[1\] has shape"),
    (lambda gs: [gs[0], gs[1], gs[2].astype(np.float64)], TypeError, r"grads\[2\].*float32"),
    (lambda gs: [gs[0], gs[1], gs[2].astype(np.int64)], TypeError, r"grads\[2\].*float32"),
    (lambda gs: [gs[0], ["a"] * 5, gs[2]], TypeError, r"grads\[1\] must be a float32"),
    (lambda gs: [gs[0], gs[1].tolist()[:4], gs[2]], ValueError, r"grads\[1\] has shape"),
    (lambda gs: gs[0], TypeError, "list or tuple"),
    (lambda gs: {0: gs[0]}, TypeError, "list or tuple"),
])
def test_bad_grads_change_nothing(make, err, match):
    opt, ps, grads = trained(fo.Adam, amsgrad=True)
    snap = snapshot(opt, ps)
    with pytest.raises(err, match=match):
        opt.step(make([g * 5 for g in grads]))
    assert_unchanged(opt, ps, snap)


def test_grads_as_python_numbers_are_read_as_float32():
    p = np.zeros((2, 2), np.float32)
    q = np.zeros((), np.float32)
    fo.SGD([p, q], lr=1.0).step([[[1.0, 2.0], [3.0, 4.0]], np.float64(0.5)])
    np.testing.assert_array_equal(p, [[-1, -2], [-3, -4]])
    assert q == -0.5


def test_strided_grads_are_read_correctly():
    p = np.zeros((4, 3), np.float32)
    g = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    fo.SGD([p], lr=1.0).step([g])
    np.testing.assert_array_equal(p, -g)


# ---- state dicts -------------------------------------------------------------------------
def bad_state_dicts():
    def edit(f):
        def make(sd):
            f(sd)
            return sd
        return make

    return [
        (edit(lambda sd: sd["state"][0].update(exp_avg=np.zeros((3, 4), np.float32))),
         ValueError, "shape"),
        (edit(lambda sd: sd["state"][1].update(exp_avg_sq=np.zeros(6, np.float32))),
         ValueError, "shape"),
        (edit(lambda sd: sd["state"][1].update(exp_avg_sq=np.zeros(5, np.int32))),
         TypeError, "float"),
        (edit(lambda sd: sd["state"][2].pop("exp_avg")), ValueError, "lacks 'exp_avg'"),
        (edit(lambda sd: sd["state"][2].pop("step")), ValueError, "no 'step'"),
        (edit(lambda sd: sd["state"][2].update(step=-1)), ValueError, "step"),
        (edit(lambda sd: sd["state"][2].update(step="three")), TypeError, "step"),
        (edit(lambda sd: sd["state"][2].update(step=1e30)), ValueError, "step"),  # fuzz find
        (edit(lambda sd: sd["state"][2].update(momentum_buffer=np.zeros((2, 2, 2)))),
         ValueError, "unknown key 'momentum_buffer'"),
        (edit(lambda sd: sd["state"].update({7: sd["state"][0]})), ValueError, "out of range"),
        (edit(lambda sd: sd["param_groups"].append(sd["param_groups"][0])), ValueError,
         "param groups"),
        (edit(lambda sd: sd["param_groups"][0]["params"].pop()), ValueError, "size"),
        (edit(lambda sd: sd["param_groups"][0].update(lr=-1.0)), ValueError, "lr"),
        (edit(lambda sd: sd["param_groups"][0].update(betas=(0.9, 1.5))), ValueError, "betas"),
        (lambda sd: {"state": sd["state"]}, ValueError, "param_groups"),
        (lambda sd: [1, 2], ValueError, "state"),
    ]


@pytest.mark.parametrize("make,err,match", bad_state_dicts())
def test_bad_state_dict_changes_nothing(make, err, match):
    opt, ps, grads = trained(fo.Adam)
    other, _, _ = trained(fo.Adam)
    other.step(grads)  # different state values, same shapes
    snap = snapshot(opt, ps)
    with pytest.raises(err, match=match):
        opt.load_state_dict(make(other.state_dict()))
    assert_unchanged(opt, ps, snap)
    opt.step(grads)  # and the optimizer still works


def test_state_dict_of_another_optimizer_class_is_rejected():
    opt, ps, grads = trained(fo.Adam)
    sgd, _, _ = trained(fo.SGD, momentum=0.9)
    snap = snapshot(opt, ps)
    with pytest.raises(ValueError, match="momentum_buffer"):
        opt.load_state_dict(sgd.state_dict())
    assert_unchanged(opt, ps, snap)


@pytest.mark.parametrize("mine,other,missing", [
    (fo.Adam, fo.SGD, "'betas', 'eps'"),
    (fo.SGD, fo.Adam, "'momentum', 'dampening'"),
    (fo.RMSprop, fo.Adagrad, "'alpha'"),
    (fo.NAdam, fo.Adam, "'momentum_decay'"),
])
def test_state_dict_of_another_class_without_state_is_rejected(mine, other, missing):
    # A state dict saved before any step has no state arrays to tell its class by: its param
    # groups lack this class's hyperparameters instead.
    opt, ps, grads = trained(mine)
    snap = snapshot(opt, ps)
    fresh = other([np.zeros_like(p) for p in ps], lr=0.5)
    with pytest.raises(ValueError, match=f"lacks {missing}.*another optimizer class"):
        opt.load_state_dict(fresh.state_dict())
    assert_unchanged(opt, ps, snap)
    opt.step(grads)


def test_lbfgs_rejects_a_state_dict_of_another_class():
    ps = [np.ones(4, np.float32)]
    opt = fo.LBFGS(ps, lr=0.5)
    with pytest.raises(ValueError, match="lacks 'max_iter'"):
        opt.load_state_dict(fo.Adam([np.ones(4, np.float32)]).state_dict())
    assert opt.param_groups[0]["lr"] == 0.5


def test_state_dict_without_flags_loads_as_an_older_torch_checkpoint():
    # Older torch versions saved no maximize / foreach / decoupled_weight_decay keys; torch
    # fills them in with defaults, and so does load_state_dict (from the current group).
    opt, ps, grads = trained(fo.Adam, amsgrad=True)
    other, _, _ = trained(fo.Adam, amsgrad=True)
    other.step(grads)
    sd = other.state_dict()
    for g in sd["param_groups"]:
        for flag in ("maximize", "decoupled_weight_decay", "amsgrad"):
            del g[flag]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["amsgrad"] is True
    for i, entry in other.state_dict()["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(opt.state_dict()["state"][i][k], v)


def test_concurrent_step_of_one_optimizer_is_serialized_or_rejected():
    import threading

    p = np.zeros(3_000_000, np.float32)
    g = np.ones_like(p)
    opt = fo.SGD([p], lr=1.0)
    errors = []

    def run():
        for _ in range(20):
            try:
                opt.step([g])
            except RuntimeError as e:
                errors.append(str(e))

    ts = [threading.Thread(target=run) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all("already running" in e for e in errors)
    # Every step that was not rejected was applied whole: p = -(number of accepted steps).
    np.testing.assert_array_equal(p, -(40 - len(errors)))
