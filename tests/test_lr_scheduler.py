"""Learning-rate schedulers against torch.optim.lr_scheduler (pinned CPU build): the lr of every
group (and OneCycleLR's momentum / beta1) after every step, two param groups with different
base lrs, several argument sets per scheduler; state-dict round trips (our own and torch's);
InverseTimeLR against its formula; argument errors that leave the optimizer untouched."""

from __future__ import annotations

import copy
import inspect
import math
import pickle

import numpy as np
import pytest

import fastoptim as fo
from conftest import assert_close
from fastoptim import lr_scheduler as ls

torch = pytest.importorskip("torch")
tls = torch.optim.lr_scheduler

BASE_LRS = (0.1, 0.03)
SIZE = 3
ZERO_GRADS = [np.zeros(SIZE, np.float32) for _ in BASE_LRS]
# Optimizers the schedules drive, by name: (class name in fastoptim and torch.optim, options).
OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "sgd-momentum": ("SGD", {"momentum": 0.9}),
    "adam": ("Adam", {"betas": (0.9, 0.99)}),
    "rmsprop": ("RMSprop", {"momentum": 0.5}),
}


def make_pair(kind="sgd"):
    """A fastoptim optimizer and a torch one with the same two param groups (lrs 0.1, 0.03)."""
    name, options = OPTIMIZERS[kind]
    ours = getattr(fo, name)([{"params": [np.zeros(SIZE, np.float32)], "lr": lr}
                              for lr in BASE_LRS], **options)
    tparams = [torch.zeros(SIZE, requires_grad=True) for _ in BASE_LRS]
    for p in tparams:
        p.grad = torch.zeros(SIZE)  # zero gradients: torch's step() runs, nothing moves
    theirs = getattr(torch.optim, name)([{"params": [p], "lr": lr}
                                         for p, lr in zip(tparams, BASE_LRS)], **options)
    return ours, theirs


def close(ours, theirs, what):
    assert len(ours) == len(theirs), what
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0), f"{what}[{i}]: {a!r} != {b!r}"


def assert_same(opt, sched, topt, tsched, where):
    """Our scheduler and optimizer groups hold what torch's do (lr, momentum, beta1)."""
    close(sched.get_last_lr(), tsched.get_last_lr(), f"get_last_lr() {where}")
    ours, theirs = opt.param_groups, topt.param_groups
    close([g["lr"] for g in ours], [g["lr"] for g in theirs], f"group lr {where}")
    if "momentum" in theirs[0]:
        close([g["momentum"] for g in ours], [g["momentum"] for g in theirs], f"momentum {where}")
    if "betas" in theirs[0]:
        close([g["betas"][0] for g in ours], [g["betas"][0] for g in theirs], f"beta1 {where}")
        assert [g["betas"][1] for g in ours] == [g["betas"][1] for g in theirs]


def step_both(opt, sched, topt, tsched):
    opt.step(ZERO_GRADS)  # our optimizer reads (and validates) what the scheduler wrote
    sched.step()
    if not getattr(topt, "_opt_called", False):
        # torch warns (an error here) when its scheduler steps before its optimizer ever has;
        # once is enough, and saves torch's per-step overhead.
        topt.step()
    tsched.step()


# Each case builds the same schedule from either module `L` (ours or torch's) on optimizer `o`:
# (id, optimizer kind, factory, steps). Two or more argument sets per scheduler.
CASES = [
    ("StepLR-1", "sgd", lambda L, o: L.StepLR(o, step_size=1, gamma=0.97), 300),
    ("StepLR-7", "sgd", lambda L, o: L.StepLR(o, 7, gamma=0.5), 300),
    ("StepLR-default-gamma", "adam", lambda L, o: L.StepLR(o, 30), 300),
    ("StepLR-growth", "sgd", lambda L, o: L.StepLR(o, 50, gamma=1.5), 300),
    ("MultiStepLR", "sgd", lambda L, o: L.MultiStepLR(o, [10, 50, 120], gamma=0.3), 300),
    ("MultiStepLR-repeat-zero", "sgd", lambda L, o: L.MultiStepLR(o, [0, 5, 5, 200]), 300),
    ("MultiStepLR-none", "sgd", lambda L, o: L.MultiStepLR(o, []), 50),
    ("ExponentialLR-0.99", "sgd", lambda L, o: L.ExponentialLR(o, 0.99), 400),
    ("ExponentialLR-0.9", "adam", lambda L, o: L.ExponentialLR(o, gamma=0.9), 300),
    ("ExponentialLR-grow", "sgd", lambda L, o: L.ExponentialLR(o, 1.01), 300),
    ("CosineAnnealingLR-50", "sgd", lambda L, o: L.CosineAnnealingLR(o, T_max=50), 300),
    ("CosineAnnealingLR-eta", "sgd", lambda L, o: L.CosineAnnealingLR(o, 7, eta_min=0.01), 300),
    ("CosineAnnealingLR-1", "sgd", lambda L, o: L.CosineAnnealingLR(o, 1, eta_min=1e-3), 100),
    ("CosineAnnealingLR-long", "adam", lambda L, o: L.CosineAnnealingLR(o, 500, 1e-4), 500),
    ("CAWR-10", "sgd", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10), 300),
    ("CAWR-mult2", "sgd",
     lambda L, o: L.CosineAnnealingWarmRestarts(o, 5, T_mult=2, eta_min=1e-4), 400),
    ("CAWR-1", "sgd", lambda L, o: L.CosineAnnealingWarmRestarts(o, 1), 50),
    ("CAWR-mult3", "adam", lambda L, o: L.CosineAnnealingWarmRestarts(o, 3, 3, 0.001), 300),
    ("LinearLR-default", "sgd", lambda L, o: L.LinearLR(o), 100),
    ("LinearLR-warmup", "sgd",
     lambda L, o: L.LinearLR(o, start_factor=0.1, total_iters=20), 100),
    ("LinearLR-decay-to-0", "sgd",
     lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=100), 300),
    ("LinearLR-partial", "adam", lambda L, o: L.LinearLR(o, 0.25, 0.75, 37), 100),
    ("ConstantLR-default", "sgd", lambda L, o: L.ConstantLR(o), 50),
    ("ConstantLR-half-40", "sgd", lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=40), 100),
    ("ConstantLR-1", "sgd", lambda L, o: L.ConstantLR(o, 1.0, 3), 20),
    ("PolynomialLR-default", "sgd", lambda L, o: L.PolynomialLR(o), 30),
    ("PolynomialLR-square", "sgd", lambda L, o: L.PolynomialLR(o, total_iters=100, power=2.0), 300),
    ("PolynomialLR-sqrt", "adam", lambda L, o: L.PolynomialLR(o, 37, 0.5), 100),
    ("PolynomialLR-0", "sgd", lambda L, o: L.PolynomialLR(o, 10, power=0.0), 30),
    ("LambdaLR-one", "sgd", lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e), 300),
    ("LambdaLR-list", "sgd",
     lambda L, o: L.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.5 ** (e // 30)]), 300),
    ("MultiplicativeLR-one", "sgd", lambda L, o: L.MultiplicativeLR(o, lambda e: 0.98), 300),
    ("MultiplicativeLR-list", "adam",
     lambda L, o: L.MultiplicativeLR(o, [lambda e: 0.99, lambda e: 1.0 if e % 7 else 0.5]), 300),
    ("OneCycleLR-sgd", "sgd-momentum", lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=300),
     300),
    ("OneCycleLR-sgd-3phase-linear", "sgd-momentum",
     lambda L, o: L.OneCycleLR(o, [0.5, 0.2], epochs=10, steps_per_epoch=30, pct_start=0.25,
                               anneal_strategy="linear", three_phase=True, div_factor=10.0,
                               final_div_factor=100.0, base_momentum=[0.8, 0.7],
                               max_momentum=0.9), 300),
    ("OneCycleLR-sgd-no-momentum", "sgd",
     lambda L, o: L.OneCycleLR(o, 0.3, 120, cycle_momentum=False), 120),
    ("OneCycleLR-sgd-cycles-from-0", "sgd", lambda L, o: L.OneCycleLR(o, 0.3, 100), 100),
    ("OneCycleLR-adam", "adam", lambda L, o: L.OneCycleLR(o, max_lr=0.01, total_steps=250), 250),
    ("OneCycleLR-adam-3phase", "adam",
     lambda L, o: L.OneCycleLR(o, [0.01, 0.003], total_steps=200, pct_start=0.4,
                               three_phase=True, base_momentum=0.8, max_momentum=[0.95, 0.9]),
     200),
    ("OneCycleLR-rmsprop", "rmsprop",
     lambda L, o: L.OneCycleLR(o, 0.02, 150, anneal_strategy="linear"), 150),
    ("SequentialLR-warmup-exp", "sgd",
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=10), L.ExponentialLR(o, 0.95)],
                                 milestones=[10]), 300),
    ("SequentialLR-three", "sgd",
     lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 5), L.CosineAnnealingLR(o, 50),
                                     L.StepLR(o, 10, 0.5)], [5, 60]), 300),
    ("SequentialLR-four", "adam",
     lambda L, o: L.SequentialLR(o, [L.ExponentialLR(o, 0.9), L.MultiplicativeLR(o, lambda e: 0.97),
                                     L.LambdaLR(o, lambda e: 1 / (1 + e)),
                                     L.CosineAnnealingWarmRestarts(o, 7)], [3, 20, 40]), 200),
    ("SequentialLR-more", "sgd",
     lambda L, o: L.SequentialLR(o, [L.PolynomialLR(o, 8, 2.0), L.MultiStepLR(o, [0, 3, 9]),
                                     L.LinearLR(o, 0.5, 0.1, 20)], [8, 30]), 100),
    ("SequentialLR-milestone-0", "sgd",
     lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2), L.ExponentialLR(o, 0.9)], [0]), 50),
    ("SequentialLR-onecycle", "sgd-momentum",
     lambda L, o: L.SequentialLR(o, [L.OneCycleLR(o, 0.5, 50), L.ConstantLR(o, 0.5, 10)], [51]),
     100),
    ("ChainedScheduler-exp-step", "sgd",
     lambda L, o: L.ChainedScheduler([L.ExponentialLR(o, 0.99), L.StepLR(o, 10, 0.5)]), 300),
    ("ChainedScheduler-warmup-cosine", "adam",
     lambda L, o: L.ChainedScheduler([L.LinearLR(o, 0.2, total_iters=15),
                                      L.CosineAnnealingLR(o, 100, 1e-4)], optimizer=o), 300),
    ("ChainedScheduler-sequential-inside", "sgd",
     lambda L, o: L.ChainedScheduler([L.SequentialLR(o, [L.ConstantLR(o, 0.1, 5),
                                                         L.ExponentialLR(o, 0.98)], [5]),
                                      L.MultiStepLR(o, [30, 60])]), 100),
]
CASE_IDS = [c[0] for c in CASES]
TWEAK_STEP = 70  # a hand-set lr mid-run, on both sides: chainable schedules must carry it


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_torch(case):
    _, kind, factory, steps = case
    opt, topt = make_pair(kind)
    sched, tsched = factory(ls, opt), factory(tls, topt)
    assert_same(opt, sched, topt, tsched, "at construction")
    assert [g["initial_lr"] for g in opt.param_groups] == \
        [g["initial_lr"] for g in topt.param_groups]
    for t in range(1, steps + 1):
        if t == TWEAK_STEP:
            for g in (opt.param_groups[1], topt.param_groups[1]):
                g["lr"] = g["lr"] * 0.5
        step_both(opt, sched, topt, tsched)
        assert_same(opt, sched, topt, tsched, f"after step {t}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip(case):
    _, kind, factory, steps = case
    opt, _ = make_pair(kind)
    sched = factory(ls, opt)
    for _ in range(steps // 3):
        opt.step(ZERO_GRADS)
        sched.step()
    saved_opt = opt.state_dict()
    saved = pickle.loads(pickle.dumps(sched.state_dict()))  # plain data (lambdas: None)
    again, _ = make_pair(kind)  # a fresh optimizer and scheduler, then the saved state
    resumed = factory(ls, again)
    again.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    assert resumed.get_last_lr() == sched.get_last_lr()
    for _ in range(steps - steps // 3):
        for o, s in ((opt, sched), (again, resumed)):
            o.step(ZERO_GRADS)
            s.step()
        assert resumed.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in again.param_groups] == [g["lr"] for g in opt.param_groups]
        for key in ("momentum", "betas"):
            assert [g.get(key) for g in again.param_groups] == \
                [g.get(key) for g in opt.param_groups]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_loads_torch_state_dict(case):
    """A torch scheduler's state dict (and its optimizer's) continue in fastoptim."""
    _, kind, factory, steps = case
    steps = min(steps, 120)
    opt, topt = make_pair(kind)
    tsched = factory(tls, topt)
    topt.step()
    for _ in range(steps // 2):
        tsched.step()
    sched = factory(ls, opt)
    opt.load_state_dict(topt.state_dict())
    sched.load_state_dict(tsched.state_dict())
    assert_same(opt, sched, topt, tsched, "after loading")
    for t in range(steps // 2 + 1, steps + 1):
        step_both(opt, sched, topt, tsched)
        assert_same(opt, sched, topt, tsched, f"after step {t}")


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------
def plateau_metrics(n=300):
    """A loss that falls, wobbles, stalls and once is NaN: every branch of the rule fires."""
    rng = np.random.default_rng(5)
    out = []
    for t in range(n):
        value = 1.0 / (1.0 + t / 15.0) if t < 120 else 0.12 + 0.002 * math.sin(t)
        out.append(float(value + 0.01 * rng.standard_normal()))
    out[40:60] = [out[39]] * 20  # exactly flat
    out[150] = float("nan")
    return out


PLATEAU_CASES = [
    {},
    {"mode": "min", "factor": 0.5, "patience": 3, "threshold": 1e-3, "threshold_mode": "rel"},
    {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 0.01, "threshold_mode": "abs",
     "cooldown": 4},
    {"mode": "max", "factor": 0.3, "patience": 0, "threshold_mode": "rel", "cooldown": 2,
     "min_lr": 1e-3},
    {"mode": "max", "factor": 0.7, "patience": 4, "threshold": 0.005, "threshold_mode": "abs",
     "min_lr": [1e-3, 5e-3]},
    {"factor": 0.9, "patience": 1, "eps": 1e-3, "min_lr": 0.02},
    {"factor": 0.0, "patience": 5, "cooldown": 1, "min_lr": [0.0, 1e-4], "eps": 0.0},
]


@pytest.mark.parametrize("options", PLATEAU_CASES, ids=[str(i) for i in range(len(PLATEAU_CASES))])
def test_reduce_on_plateau_matches_torch(options):
    opt, topt = make_pair("sgd")
    sched = ls.ReduceLROnPlateau(opt, **options)
    tsched = tls.ReduceLROnPlateau(topt, **options)
    assert "initial_lr" not in opt.param_groups[0]  # no construction step, as torch
    sign = -1.0 if options.get("mode") == "max" else 1.0
    metrics = [sign * m for m in plateau_metrics()]
    for t, m in enumerate(metrics):
        opt.step(ZERO_GRADS)
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert_same(opt, sched, topt, tsched, f"after metric {t}")
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch)
        assert sched.best == tsched.best or (math.isnan(sched.best) and math.isnan(tsched.best))
    assert [g["lr"] for g in opt.param_groups] != list(BASE_LRS)  # it did reduce


@pytest.mark.parametrize("options", PLATEAU_CASES[1:4], ids=["rel", "abs", "max"])
def test_reduce_on_plateau_round_trip(options):
    """Mid-run state (ours, and torch's) loaded into fresh schedulers continues identically."""
    metrics = plateau_metrics(200)
    opt, topt = make_pair("sgd")
    sched = ls.ReduceLROnPlateau(opt, **options)
    tsched = tls.ReduceLROnPlateau(topt, **options)
    for m in metrics[:90]:
        sched.step(m)
        tsched.step(m)
    from_ours, from_torch = make_pair("sgd")[0], make_pair("sgd")[0]
    resumed = ls.ReduceLROnPlateau(from_ours, **options)
    from_ours.load_state_dict(opt.state_dict())
    resumed.load_state_dict(pickle.loads(pickle.dumps(sched.state_dict())))
    converted = ls.ReduceLROnPlateau(from_torch, **options)
    from_torch.load_state_dict(topt.state_dict())
    converted.load_state_dict(tsched.state_dict())
    for m in metrics[90:]:
        for s in (sched, tsched, resumed, converted):
            s.step(m)
        assert resumed.get_last_lr() == sched.get_last_lr()
        close(converted.get_last_lr(), tsched.get_last_lr(), "from torch's state")
        assert resumed.num_bad_epochs == sched.num_bad_epochs == converted.num_bad_epochs


def test_reduce_on_plateau_new_param_group():
    opt, _ = make_pair("sgd")
    shared = ls.ReduceLROnPlateau(opt, patience=0, min_lr=0.001)
    opt.add_param_group({"params": [np.zeros(2, np.float32)], "lr": 0.5})
    for m in (1.0, 2.0, 3.0):
        shared.step(m)
    assert shared.get_last_lr()[2] == pytest.approx(0.5 * 0.01)
    assert shared.min_lrs == [0.001] * 3
    listed, _ = make_pair("sgd")
    per_group = ls.ReduceLROnPlateau(listed, min_lr=[0.0, 0.0])
    listed.add_param_group({"params": [np.zeros(2, np.float32)], "lr": 0.5})
    with pytest.raises(ValueError, match="min_lr"):
        per_group.step(1.0)
    assert per_group.last_epoch == 0


# ---- InverseTimeLR (not in torch: against its formula) ---------------------------------------
def inverse_time(lr0, rate, steps, staircase, t):
    tau = math.floor(t / steps) if staircase else t / steps
    return lr0 / (1 + rate * tau)


@pytest.mark.parametrize("rate,decay_steps,staircase", [
    (0.5, 1, False), (0.1, 10, True), (2.0, 7.5, False), (0.3, 4, True), (0.0, 1, False),
    (1e-3, 1, True)])
def test_inverse_time_formula(rate, decay_steps, staircase):
    opt, _ = make_pair("sgd")
    sched = ls.InverseTimeLR(opt, rate, decay_steps=decay_steps, staircase=staircase)
    for t in range(500):
        if t:
            opt.step(ZERO_GRADS)
            sched.step()
        want = [inverse_time(lr, rate, decay_steps, staircase, t) for lr in BASE_LRS]
        close(sched.get_last_lr(), want, f"step {t}")
        close([g["lr"] for g in opt.param_groups], want, f"group lr at step {t}")


def test_inverse_time_defaults_and_round_trip():
    params = inspect.signature(ls.InverseTimeLR.__init__).parameters
    assert [(n, p.default) for n, p in params.items()][1:] == [
        ("optimizer", inspect.Parameter.empty), ("decay_rate", inspect.Parameter.empty),
        ("decay_steps", 1), ("staircase", False), ("last_epoch", -1)]
    opt, _ = make_pair("sgd")
    sched = ls.InverseTimeLR(opt, 0.2, 3, staircase=True)
    for _ in range(10):
        sched.step()
    again, _ = make_pair("sgd")
    resumed = ls.InverseTimeLR(again, 0.9)  # the hyperparameters come from the state dict
    again.load_state_dict(opt.state_dict())
    resumed.load_state_dict(sched.state_dict())
    assert (resumed.decay_rate, resumed.decay_steps, resumed.staircase) == (0.2, 3, True)
    for t in range(11, 40):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr()
        close(resumed.get_last_lr(), [inverse_time(lr, 0.2, 3, True, t) for lr in BASE_LRS], "")


def test_inverse_time_chains_and_sequences():
    """Chainable: with a warm-up in ChainedScheduler the factors multiply; in SequentialLR it
    restarts from the initial lr at its milestone."""
    opt, _ = make_pair("sgd")
    chained = ls.ChainedScheduler([ls.LinearLR(opt, 0.2, total_iters=10),
                                   ls.InverseTimeLR(opt, 0.05)])
    for t in range(1, 100):
        chained.step()
        warm = 0.2 + 0.8 * min(t, 10) / 10
        close(chained.get_last_lr(), [lr * warm / (1 + 0.05 * t) for lr in BASE_LRS], f"{t}")
    opt, _ = make_pair("sgd")
    seq = ls.SequentialLR(opt, [ls.ConstantLR(opt, 0.1, 100), ls.InverseTimeLR(opt, 0.5, 2)],
                          milestones=[5])
    for t in range(1, 60):
        seq.step()
        want = [lr * 0.1 if t < 5 else inverse_time(lr, 0.5, 2, False, t - 5) for lr in BASE_LRS]
        close(seq.get_last_lr(), want, f"step {t}")


# ---- other optimizers: Lookahead, LBFGS, Lion; the lr reaches the update ----------------------
@pytest.mark.parametrize("case", [c for c in CASES if c[0] in (
    "StepLR-7", "OneCycleLR-sgd", "SequentialLR-warmup-exp", "CosineAnnealingLR-eta")],
    ids=lambda c: c[0])
def test_lookahead(case):
    _, kind, factory, steps = case
    inner, topt = make_pair(kind)
    opt = fo.Lookahead(inner, k=3)
    sched, tsched = factory(ls, opt), factory(tls, topt)
    for t in range(steps):
        step_both(opt, sched, topt, tsched)
        assert_same(inner, sched, topt, tsched, f"after step {t + 1}")


def test_lbfgs_and_lion():
    w = np.ones(4, np.float32)
    lbfgs = fo.LBFGS([w], lr=0.5, max_iter=2)
    sched = ls.StepLR(lbfgs, 2, gamma=0.5)
    for _ in range(4):
        lbfgs.step(lambda: (float(w @ w), [2 * w]))
        sched.step()
    assert lbfgs.param_groups[0]["lr"] == sched.get_last_lr()[0] == 0.125
    # Lion has betas: OneCycleLR cycles betas[0] exactly as torch does Adam's.
    lion = fo.Lion([{"params": [np.zeros(3, np.float32)], "lr": lr} for lr in BASE_LRS])
    _, tadam = make_pair("adam")
    ours, theirs = ls.OneCycleLR(lion, 0.01, 60), tls.OneCycleLR(tadam, 0.01, 60)
    for t in range(60):
        lion.step(ZERO_GRADS)
        ours.step()
        tadam.step()
        theirs.step()
        assert_same(lion, ours, tadam, theirs, f"after step {t + 1}")
        assert [g["betas"][1] for g in lion.param_groups] == [0.99, 0.99]


@pytest.mark.parametrize("kind", ["sgd-momentum", "adam"])
def test_parameters_follow_torch(kind):
    """The rates and momenta a schedule writes are what the next optimizer step uses."""
    rng = np.random.default_rng(3)
    name, options = OPTIMIZERS[kind]
    init = [rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (7,))]
    ours = [p.copy() for p in init]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in init]
    opt = getattr(fo, name)([{"params": [p], "lr": lr} for p, lr in zip(ours, BASE_LRS)],
                            **options)
    topt = getattr(torch.optim, name)([{"params": [p], "lr": lr}
                                       for p, lr in zip(theirs, BASE_LRS)], **options)
    sched = ls.OneCycleLR(opt, [0.05, 0.02], total_steps=80)
    tsched = tls.OneCycleLR(topt, [0.05, 0.02], total_steps=80)
    for _ in range(80):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in init]
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g)
        topt.step()
        sched.step()
        tsched.step()
    for p, t in zip(ours, theirs):
        assert_close(p, t.detach().numpy())


# ---- resuming with last_epoch, and OneCycleLR's end ------------------------------------------
RESUMABLE = [
    lambda L, o, e: L.StepLR(o, 4, 0.5, last_epoch=e),
    lambda L, o, e: L.MultiStepLR(o, [3, 12], last_epoch=e),
    lambda L, o, e: L.ExponentialLR(o, 0.9, last_epoch=e),
    lambda L, o, e: L.CosineAnnealingLR(o, 20, 1e-3, last_epoch=e),
    lambda L, o, e: L.CosineAnnealingWarmRestarts(o, 3, 2, last_epoch=e),
    lambda L, o, e: L.LinearLR(o, 0.2, total_iters=10, last_epoch=e),
    lambda L, o, e: L.ConstantLR(o, 0.5, 8, last_epoch=e),
    lambda L, o, e: L.PolynomialLR(o, 15, 2.0, last_epoch=e),
    lambda L, o, e: L.LambdaLR(o, lambda s: 0.9 ** s, last_epoch=e),
    lambda L, o, e: L.MultiplicativeLR(o, lambda s: 0.9, last_epoch=e),
]


@pytest.mark.parametrize("factory", RESUMABLE, ids=[
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CAWR", "LinearLR",
    "ConstantLR", "PolynomialLR", "LambdaLR", "MultiplicativeLR"])
@pytest.mark.parametrize("last_epoch", [0, 7])
def test_last_epoch_resume_matches_torch(factory, last_epoch):
    opt, topt = make_pair("sgd")
    for o in (opt, topt):  # what a loaded checkpoint leaves in the groups
        for g, lr in zip(o.param_groups, BASE_LRS):
            g["initial_lr"], g["lr"] = lr, lr * 0.7
    sched, tsched = factory(ls, opt, last_epoch), factory(tls, topt, last_epoch)
    assert sched.last_epoch == tsched.last_epoch == last_epoch + 1
    assert_same(opt, sched, topt, tsched, "at construction")
    for t in range(30):
        step_both(opt, sched, topt, tsched)
        assert_same(opt, sched, topt, tsched, f"after step {t + 1}")


def test_one_cycle_stops_at_total_steps():
    opt, _ = make_pair("sgd-momentum")
    sched = ls.OneCycleLR(opt, 0.5, total_steps=10)
    for _ in range(10):
        sched.step()
    before = (sched.state_dict(), copy.deepcopy(groups_of(opt)))
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()
    assert (sched.state_dict(), groups_of(opt)) == before


def test_one_cycle_zero_length_phase():
    """pct_start * total_steps == 1 makes a one-step first phase, where torch divides by zero:
    that step takes the phase's end values."""
    opt, _ = make_pair("sgd-momentum")
    sched = ls.OneCycleLR(opt, 0.5, total_steps=10, pct_start=0.1)
    assert sched.get_last_lr() == [0.5, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.85, 0.85]
    for _ in range(9):  # step total_steps - 1 ends the last phase
        sched.step()
    close(sched.get_last_lr(), [0.5 / 25 / 1e4] * 2, "final lr")


# ---- signatures, errors ------------------------------------------------------------------------
TORCH_NAMES = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
               "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
               "ChainedScheduler", "ReduceLROnPlateau", "CosineAnnealingWarmRestarts",
               "OneCycleLR"]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_signature_matches_torch(name):
    ours = inspect.signature(getattr(ls, name).__init__).parameters
    theirs = inspect.signature(getattr(tls, name).__init__).parameters
    assert [(n, p.default, p.kind) for n, p in ours.items()] == \
        [(n, p.default, p.kind) for n, p in theirs.items()]
    assert issubclass(getattr(ls, name), ls.LRScheduler)
    assert getattr(ls, name).__doc__ and ".. math::" in getattr(ls, name).__doc__


def groups_of(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


BAD = [  # (factory on our optimizer `o` of kind "sgd", exception, words in the message)
    (lambda o: ls.StepLR(o, 0), ValueError, "step_size"),
    (lambda o: ls.StepLR(o, -3), ValueError, "step_size"),
    (lambda o: ls.StepLR(o, 2.5), TypeError, "step_size"),
    (lambda o: ls.StepLR(o, True), TypeError, "step_size"),
    (lambda o: ls.StepLR(o, 3, gamma=0), ValueError, "gamma"),
    (lambda o: ls.StepLR(o, 3, gamma=-0.5), ValueError, "gamma"),
    (lambda o: ls.StepLR(o, 3, last_epoch=-2), ValueError, "last_epoch"),
    (lambda o: ls.StepLR(o, 3, last_epoch=1.0), TypeError, "last_epoch"),
    (lambda o: ls.StepLR(o, 3, last_epoch=4), ValueError, "last_epoch.*initial_lr"),
    (lambda o: ls.MultiStepLR(o, [5, 3]), ValueError, "milestones"),
    (lambda o: ls.MultiStepLR(o, [-1, 3]), ValueError, "milestones"),
    (lambda o: ls.MultiStepLR(o, 5), TypeError, "milestones"),
    (lambda o: ls.MultiStepLR(o, [2.5]), TypeError, "milestones"),
    (lambda o: ls.MultiStepLR(o, [5], gamma=0.0), ValueError, "gamma"),
    (lambda o: ls.ExponentialLR(o, 0.0), ValueError, "gamma"),
    (lambda o: ls.ExponentialLR(o, float("nan")), ValueError, "gamma"),
    (lambda o: ls.ExponentialLR(o, "0.9"), TypeError, "gamma"),
    (lambda o: ls.CosineAnnealingLR(o, 0), ValueError, "T_max"),
    (lambda o: ls.CosineAnnealingLR(o, 10.0), TypeError, "T_max"),
    (lambda o: ls.CosineAnnealingLR(o, 10, eta_min=-1e-3), ValueError, "eta_min"),
    (lambda o: ls.CosineAnnealingWarmRestarts(o, 0), ValueError, "T_0"),
    (lambda o: ls.CosineAnnealingWarmRestarts(o, 1.5), TypeError, "T_0"),
    (lambda o: ls.CosineAnnealingWarmRestarts(o, 5, T_mult=0), ValueError, "T_mult"),
    (lambda o: ls.CosineAnnealingWarmRestarts(o, 5, T_mult=1.5), TypeError, "T_mult"),
    (lambda o: ls.CosineAnnealingWarmRestarts(o, 5, eta_min="0"), TypeError, "eta_min"),
    (lambda o: ls.LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: ls.LinearLR(o, start_factor=1.5), ValueError, "start_factor"),
    (lambda o: ls.LinearLR(o, end_factor=-0.1), ValueError, "end_factor"),
    (lambda o: ls.LinearLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: ls.ConstantLR(o, factor=0.0), ValueError, "factor"),
    (lambda o: ls.ConstantLR(o, factor=1.5), ValueError, "factor"),
    (lambda o: ls.ConstantLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: ls.PolynomialLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: ls.PolynomialLR(o, power=-1.0), ValueError, "power"),
    (lambda o: ls.LambdaLR(o, [lambda e: 1.0]), ValueError, "lr_lambda"),
    (lambda o: ls.LambdaLR(o, 3), TypeError, "lr_lambda"),
    (lambda o: ls.MultiplicativeLR(o, [lambda e: 1.0, "x"]), TypeError, r"lr_lambda\[1\]"),
    (lambda o: ls.InverseTimeLR(o, -0.1), ValueError, "decay_rate"),
    (lambda o: ls.InverseTimeLR(o, 0.1, decay_steps=0), ValueError, "decay_steps"),
    (lambda o: ls.InverseTimeLR(o, 0.1, staircase=1), TypeError, "staircase"),
    (lambda o: ls.OneCycleLR(o, 0.1), ValueError, "total_steps"),
    (lambda o: ls.OneCycleLR(o, 0.1, epochs=3), ValueError, "steps_per_epoch"),
    (lambda o: ls.OneCycleLR(o, 0.1, 0), ValueError, "total_steps"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10.0), TypeError, "total_steps"),
    (lambda o: ls.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=5), ValueError, "epochs"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, div_factor=0), ValueError, "div_factor"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, final_div_factor=-1), ValueError, "final_div_factor"),
    (lambda o: ls.OneCycleLR(o, [0.1], 10), ValueError, "max_lr"),
    (lambda o: ls.OneCycleLR(o, [0.1, -0.1], 10), ValueError, r"max_lr\[1\]"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, base_momentum=-0.5), ValueError, "base_momentum"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, max_momentum=[0.9]), ValueError, "max_momentum"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, three_phase="yes"), TypeError, "three_phase"),
    (lambda o: ls.OneCycleLR(o, 0.1, 10, last_epoch=3), ValueError, "last_epoch"),
    (lambda o: ls.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode"),
    (lambda o: ls.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda o: ls.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: ls.ReduceLROnPlateau(o, factor=-0.1), ValueError, "factor"),
    (lambda o: ls.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: ls.ReduceLROnPlateau(o, patience=2.0), TypeError, "patience"),
    (lambda o: ls.ReduceLROnPlateau(o, cooldown=-1), ValueError, "cooldown"),
    (lambda o: ls.ReduceLROnPlateau(o, threshold=-1e-4), ValueError, "threshold"),
    (lambda o: ls.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lr"),
    (lambda o: ls.ReduceLROnPlateau(o, min_lr=-1.0), ValueError, "min_lr"),
    (lambda o: ls.ReduceLROnPlateau(o, eps=-1.0), ValueError, "eps"),
]


@pytest.mark.parametrize("factory,error,words", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_arguments_change_nothing(factory, error, words):
    opt, _ = make_pair("sgd")
    before = copy.deepcopy(groups_of(opt))
    with pytest.raises(error, match=words):
        factory(opt)
    assert groups_of(opt) == before


def test_one_cycle_needs_momentum_or_betas():
    opt = fo.Adagrad([np.zeros(3, np.float32)], lr=0.1)
    before = copy.deepcopy(groups_of(opt))
    with pytest.raises(ValueError, match="cycle_momentum"):
        ls.OneCycleLR(opt, 0.1, 10)
    assert groups_of(opt) == before
    ls.OneCycleLR(opt, 0.1, 10, cycle_momentum=False).step()


@pytest.mark.parametrize("make", [
    lambda o: ls.StepLR(o, 3), lambda o: ls.ReduceLROnPlateau(o),
    lambda o: ls.OneCycleLR(o, 0.1, 10), lambda o: ls.LambdaLR(o, lambda e: 1.0),
    lambda o: ls.SequentialLR(o, [], [])])
@pytest.mark.parametrize("optimizer", ["torch", "string", None])
def test_wrong_optimizer_type(make, optimizer):
    bad = {"torch": make_pair("sgd")[1], "string": "sgd", None: None}[optimizer]
    with pytest.raises(TypeError, match="optimizer"):
        make(bad)
    with pytest.raises(TypeError, match="optimizer"):
        ls.ChainedScheduler([ls.StepLR(make_pair("sgd")[0], 3)], optimizer=bad or "sgd")


def test_bad_composites_change_nothing():
    opt, _ = make_pair("sgd")
    other, _ = make_pair("sgd")
    a, b = ls.ExponentialLR(opt, 0.9), ls.StepLR(opt, 5)
    plateau, foreign = ls.ReduceLROnPlateau(opt), ls.ExponentialLR(other, 0.9)
    seq = ls.SequentialLR(opt, [ls.ConstantLR(opt), ls.ExponentialLR(opt, 0.9)], [3])
    snapshot = copy.deepcopy((groups_of(opt), a.state_dict(), b.state_dict()))
    cases = [
        (lambda: ls.SequentialLR(opt, [a, b], [3, 4]), ValueError, "milestones"),
        (lambda: ls.SequentialLR(opt, [a, b], []), ValueError, "milestones"),
        (lambda: ls.SequentialLR(opt, [a, b, a], [5, 5]), ValueError, "milestones"),
        (lambda: ls.SequentialLR(opt, [a, b], [-1]), ValueError, "milestones"),
        (lambda: ls.SequentialLR(opt, [a, b], 3), TypeError, "milestones"),
        (lambda: ls.SequentialLR(opt, [], []), ValueError, "schedulers"),
        (lambda: ls.SequentialLR(opt, [a, plateau], [3]), ValueError, "ReduceLROnPlateau"),
        (lambda: ls.SequentialLR(opt, [a, foreign], [3]), ValueError, "optimizer"),
        (lambda: ls.SequentialLR(opt, [a, "b"], [3]), TypeError, r"schedulers\[1\]"),
        (lambda: ls.SequentialLR(opt, [a, seq], [3]), TypeError, "SequentialLR"),
        (lambda: ls.ChainedScheduler([]), ValueError, "schedulers"),
        (lambda: ls.ChainedScheduler([a, plateau]), ValueError, "ReduceLROnPlateau"),
        (lambda: ls.ChainedScheduler([a, foreign]), ValueError, "optimizer"),
        (lambda: ls.ChainedScheduler([a], optimizer=other), ValueError, "optimizer"),
        (lambda: ls.ChainedScheduler(a), TypeError, "schedulers"),
    ]
    for make, error, words in cases:
        with pytest.raises(error, match=words):
            make()
        assert copy.deepcopy((groups_of(opt), a.state_dict(), b.state_dict())) == snapshot


def test_bad_state_dicts_change_nothing():
    opt, _ = make_pair("sgd")
    sched = ls.StepLR(opt, 3, 0.5)
    for _ in range(5):
        sched.step()
    good = sched.state_dict()
    bad = [
        ([1, 2], TypeError, "dict"),
        ({**good, "extra": 1}, ValueError, "unknown"),
        ({k: v for k, v in good.items() if k != "gamma"}, ValueError, "lacks"),
        ({**good, "step_size": 0}, ValueError, "step_size"),
        ({**good, "gamma": "x"}, TypeError, "gamma"),
        ({**good, "base_lrs": [0.1]}, ValueError, "base_lrs"),
        ({**good, "last_epoch": -5}, ValueError, "last_epoch"),
    ]
    other = ls.StepLR(make_pair("sgd")[0], 7, 0.1)
    before = other.state_dict()
    for state, error, words in bad:
        with pytest.raises(error, match=words):
            other.load_state_dict(state)
        assert other.state_dict() == before
    # A composite checks every member before changing any.
    seq = ls.SequentialLR(opt, [ls.ConstantLR(opt), ls.StepLR(opt, 2)], [3])
    saved = seq.state_dict()
    saved["_schedulers"][1]["step_size"] = -1
    before = seq.state_dict()
    with pytest.raises(ValueError, match="step_size"):
        seq.load_state_dict(saved)
    assert seq.state_dict() == before


def test_state_dict_is_a_copy_and_lambda_objects_are_saved():
    class Decay:  # a callable object: its attributes are part of the state, as in torch
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    opt, _ = make_pair("sgd")
    sched = ls.LambdaLR(opt, [Decay(0.9), lambda e: 1.0])
    sched.step()
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.9}, None]
    state["base_lrs"][0] = 123.0
    assert sched.base_lrs[0] == BASE_LRS[0]
    sched.get_last_lr()[0] = 5.0
    assert sched.get_last_lr()[0] != 5.0
    again = ls.LambdaLR(make_pair("sgd")[0], [Decay(0.5), lambda e: 1.0])
    again.load_state_dict(state)
    assert again.lr_lambdas[0].rate == 0.9


def test_group_added_after_construction():
    opt, _ = make_pair("sgd")
    sched = ls.ExponentialLR(opt, 0.9)
    opt.add_param_group({"params": [np.zeros(2, np.float32)], "lr": 0.5})
    with pytest.raises(ValueError, match="param groups"):
        sched.step()
    assert sched.last_epoch == 0


def test_torch_resume_pattern_load_optimizer_then_build_scheduler_with_last_epoch():
    """torch's idiom: restore the optimizer (whose groups carry initial_lr), then construct the
    scheduler with last_epoch = steps done. Same sequence as torch doing the same."""
    torch = pytest.importorskip("torch")

    def run(make_opt, step, sched_mod):
        opt = make_opt()
        sched = sched_mod.CosineAnnealingLR(opt, T_max=20)
        for _ in range(12):
            step(opt)
            sched.step()
        opt2 = make_opt()
        opt2.load_state_dict(opt.state_dict())
        sched2 = sched_mod.CosineAnnealingLR(opt2, T_max=20, last_epoch=12)
        lrs = []
        for _ in range(5):
            step(opt2)
            sched2.step()
            lrs.append(opt2.param_groups[0]["lr"])
        return opt2.param_groups[0]["initial_lr"], lrs

    def fo_step(o):
        o.step([np.ones(3, np.float32)])

    def torch_step(o):
        o.param_groups[0]["params"][0].grad = torch.ones(3)
        o.step()

    ours = run(lambda: fo.SGD([np.zeros(3, np.float32)], lr=0.1, momentum=0.9), fo_step, ls)
    theirs = run(lambda: torch.optim.SGD([torch.zeros(3)], lr=0.1, momentum=0.9), torch_step,
                 torch.optim.lr_scheduler)
    assert ours[0] == theirs[0] == 0.1
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
