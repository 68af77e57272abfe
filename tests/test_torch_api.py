"""fastoptim.torch: a drop-in for torch.optim on CPU, tested on real nn.Module training.

Parity with torch.optim for every rule and option combination (autograd gradients, two param
groups, a scheduler, many steps); contiguous and in-backward modes equal to the default step bit
for bit; state dicts exchanged with torch.optim both ways and through torch.save; every way a
gradient can be replaced in contiguous mode; the errors that name a parameter.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import fastoptim as fo  # noqa: E402
import fastoptim.torch as ft  # noqa: E402
from torch import nn  # noqa: E402

from conftest import RULES, TORCH_RULES, CORE_CONFIGS, assert_close, config_id  # noqa: E402

STEPS = 24


class Net(nn.Module):
    """An MLP with sizes that are not multiples of the SIMD width, and a 3-D parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(7, 33)
        self.gain = nn.Parameter(torch.ones(3, 1, 11))
        self.fc2 = nn.Linear(33, 5)

    def forward(self, x):
        h = torch.tanh(self.fc1(x))
        h = (h.view(-1, 3, 1, 11) * self.gain).view(-1, 33)
        return self.fc2(h)


def data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 7, generator=g)
    y = torch.randn(64, 5, generator=g) * torch.tensor([0.01, 0.1, 1.0, 10.0, 3.0])
    return x, y


def net():
    torch.manual_seed(0)
    return Net()


def groups(model, lr):
    """Two param groups, the first at three times the rate."""
    return [{"params": [model.fc1.weight, model.fc1.bias, model.gain], "lr": lr * 3},
            {"params": [model.fc2.weight, model.fc2.bias]}]


def loss_of(model, k, x, y):
    i = slice(k % 4 * 16, k % 4 * 16 + 16)
    return nn.functional.mse_loss(model(x[i]), y[i])


def train(make, lr, steps=STEPS, scheduler=True, set_to_none=True, maximize=False):
    """Trains a fresh Net with make(param_groups) and StepLR; returns (model, optimizer).
    With `maximize` (the optimizer's option) the objective is the negated loss."""
    x, y = data()
    model = net()
    opt = make(groups(model, lr))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5) if scheduler else None
    for k in range(steps):
        (-loss_of(model, k, x, y) if maximize else loss_of(model, k, x, y)).backward()
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)
        if sched is not None:
            sched.step()
    return model, opt


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def assert_same(a, b):
    for i, (p, q) in enumerate(zip(a, b)):
        assert torch.equal(p, q), f"parameter {i} differs"


ALL = [(rule, c) for rule in TORCH_RULES for c in RULES[rule].configs]


@pytest.mark.parametrize("rule,config", ALL, ids=[config_id(*c) for c in ALL])
def test_parity_with_torch_optim(rule, config):
    lr = RULES[rule].lr
    up = config.get("maximize", False)
    ours, opt = train(lambda g: getattr(ft, rule)(g, lr=lr, **config), lr, maximize=up)
    theirs, topt = train(lambda g: getattr(torch.optim, rule)(g, lr=lr, **config), lr,
                         maximize=up)
    for i, (p, t) in enumerate(zip(ours.parameters(), theirs.parameters())):
        assert_close(p.detach().numpy(), t.detach().numpy(), err_msg=f"parameter {i}")
    mine, theirs_sd = opt.state_dict(), topt.state_dict()
    assert mine["param_groups"] == theirs_sd["param_groups"]
    assert sorted(mine["state"]) == sorted(theirs_sd["state"])
    for i, entry in theirs_sd["state"].items():
        assert sorted(mine["state"][i]) == sorted(entry)
        for name, value in entry.items():
            if name == "step":
                assert mine["state"][i][name].dtype == value.dtype
                assert float(mine["state"][i][name]) == float(value)
            else:  # gradients feed the parameters' rounding differences back: looser
                assert_close(mine["state"][i][name].numpy(), value.numpy(), rtol=1e-3,
                             err_msg=f"state {name} of parameter {i}")


def test_defaults_and_signatures_match_torch():
    import inspect

    p = [nn.Parameter(torch.zeros(3))]
    for rule in TORCH_RULES:
        ours, theirs = getattr(ft, rule), getattr(torch.optim, rule)
        assert issubclass(ours, torch.optim.Optimizer)
        assert ours(p).defaults == theirs(p).defaults, rule
        mine = inspect.signature(ours).parameters
        for name, q in inspect.signature(theirs).parameters.items():
            assert mine[name].default == q.default and mine[name].kind == q.kind, (rule, name)
    assert list(inspect.signature(ft.LBFGS).parameters) == \
        list(inspect.signature(torch.optim.LBFGS).parameters)


# ---- the modes: the same step, bit for bit ----------------------------------------------------
MODES = [dict(contiguous=True), dict(in_backward=True)]
CORE = [(rule, c) for rule, c in CORE_CONFIGS]


@pytest.mark.parametrize("mode", MODES, ids=["contiguous", "in_backward"])
@pytest.mark.parametrize("rule,config", CORE, ids=[config_id(*c) for c in CORE])
def test_modes_equal_the_default_step(rule, config, mode):
    lr = RULES[rule].lr
    cls = getattr(ft, rule)
    up = config.get("maximize", False)
    a, opt_a = train(lambda g: cls(g, lr=lr, **config), lr, maximize=up)
    b, opt_b = train(lambda g: cls(g, lr=lr, **config, **mode), lr, maximize=up)
    assert_same(params(a), params(b))
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    for i in sa:
        for name in sa[i]:
            assert torch.equal(sa[i][name], sb[i][name]), (i, name)


@pytest.mark.parametrize("rule", ["Lion", "ProximalSGD", "ProximalAdagrad"])
def test_rules_without_a_torch_twin_equal_fastoptim(rule):
    """Lion and the proximal rules: the same bits as the NumPy class fed the same gradients."""
    lr, config = RULES[rule].lr, RULES[rule].core[0]
    x, y = data()
    model, ref_model = net(), net()
    opt = getattr(ft, rule)(groups(model, lr), lr=lr, **config)
    order = [model.fc1.weight, model.fc1.bias, model.gain, model.fc2.weight, model.fc2.bias]
    ref_order = [ref_model.fc1.weight, ref_model.fc1.bias, ref_model.gain, ref_model.fc2.weight,
                 ref_model.fc2.bias]
    arrays = [p.detach().numpy() for p in ref_order]
    ref = getattr(fo, rule)([{"params": arrays[:3], "lr": lr * 3}, {"params": arrays[3:]}],
                            lr=lr, **config)
    for k in range(STEPS):
        loss_of(model, k, x, y).backward()
        opt.step()
        opt.zero_grad()
        loss_of(ref_model, k, x, y).backward()
        ref.step([p.grad.numpy() for p in ref_order])
        ref_model.zero_grad()
    assert_same([p.detach() for p in order], [p.detach() for p in ref_order])


# ---- schedulers, closures, hooks, clipping ----------------------------------------------------
def _schedulers():
    S = torch.optim.lr_scheduler
    return {
        "LambdaLR": lambda o: S.LambdaLR(o, lambda k: 0.9 ** k),
        "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda k: 0.95),
        "StepLR": lambda o: S.StepLR(o, 3, 0.5),
        "MultiStepLR": lambda o: S.MultiStepLR(o, [2, 5], 0.3),
        "ConstantLR": lambda o: S.ConstantLR(o, 0.5, total_iters=4),
        "LinearLR": lambda o: S.LinearLR(o, 0.2, 1.0, total_iters=6),
        "ExponentialLR": lambda o: S.ExponentialLR(o, 0.9),
        "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=8, power=2.0),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=6),
        "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4),
        "CyclicLR": lambda o: S.CyclicLR(o, 1e-4, 1e-2, step_size_up=3),
        "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.02, total_steps=STEPS),
        "SequentialLR": lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.1, total_iters=3), S.ExponentialLR(o, 0.9)], milestones=[3]),
        "ChainedScheduler": lambda o: S.ChainedScheduler(
            [S.ExponentialLR(o, 0.9), S.StepLR(o, 4, 0.5)], optimizer=o),
        "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1, factor=0.5),
    }


def test_every_torch_scheduler_is_tested():
    S = torch.optim.lr_scheduler
    theirs = {n for n in S.__all__ if isinstance(getattr(S, n), type)
              and issubclass(getattr(S, n), (S.LRScheduler, S.ReduceLROnPlateau))}
    assert theirs - {"LRScheduler"} <= set(_schedulers())


@pytest.mark.parametrize("rule,config", [("SGD", dict(momentum=0.9)), ("Adam", {})],
                         ids=["SGD", "Adam"])
@pytest.mark.parametrize("name", list(_schedulers()))
def test_every_torch_scheduler_drives_the_step(name, rule, config):
    """Each of torch's schedulers (OneCycleLR and CyclicLR cycling momentum or betas too)
    changes what our step does exactly as it changes torch.optim's."""
    make_sched = _schedulers()[name]
    x, y = data()
    out = []
    for module in (ft, torch.optim):
        model = net()
        opt = getattr(module, rule)(model.parameters(), lr=0.01, **config)
        sched = make_sched(opt)
        for k in range(STEPS):
            loss = loss_of(model, k, x, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            sched.step(loss.item()) if name == "ReduceLROnPlateau" else sched.step()
        out.append((params(model), [dict((k, v) for k, v in g.items() if k != "params")
                                    for g in opt.param_groups]))
    (ours, our_groups), (theirs, their_groups) = out
    assert our_groups == their_groups
    for p, t in zip(ours, theirs):
        assert_close(p.numpy(), t.numpy())


def test_step_closure_hooks_and_clip_grad_norm():
    x, y = data()
    out = []
    for module in (ft, torch.optim):
        model = net()
        opt = module.Adam(model.parameters(), lr=0.01)
        calls = []
        opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
        for k in range(8):
            def closure():
                opt.zero_grad()
                loss = loss_of(model, k, x, y)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 0.05)
                return loss
            loss = opt.step(closure)
            assert isinstance(loss, torch.Tensor)
        assert calls == ["pre", "post"] * 8
        out.append(params(model))
    for p, t in zip(*out):
        assert_close(p.numpy(), t.numpy())


def test_fused_max_grad_norm_equals_torch_clipping():
    x, y = data()
    model, ref = net(), net()
    opt = ft.SGD(model.parameters(), lr=0.1, momentum=0.9, max_grad_norm=0.05)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for k in range(10):
        loss_of(model, k, x, y).backward()
        opt.step()
        opt.zero_grad()
        loss_of(ref, k, x, y).backward()
        norm = nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
        topt.step()
        topt.zero_grad()
        assert opt.last_grad_norm == pytest.approx(float(norm), rel=1e-5)
    for p, t in zip(params(model), params(ref)):
        assert_close(p.numpy(), t.numpy())


def test_nonfinite_skip_changes_nothing():
    x, y = data()
    model = net()
    opt = ft.Adam(model.parameters(), nonfinite="skip")
    loss_of(model, 0, x, y).backward()
    opt.step()
    before = params(model)
    state = {k: v.clone() for k, v in opt.state[model.fc1.weight].items()}
    opt.zero_grad()
    loss_of(model, 1, x, y).backward()
    model.fc2.bias.grad[0] = float("nan")
    opt.step()
    assert opt.skipped_steps == 1
    assert_same(params(model), before)
    for k, v in opt.state[model.fc1.weight].items():
        assert torch.equal(v, state[k])


def test_none_gradient_skips_the_parameter_as_torch():
    x, y = data()
    out = []
    for module in (ft, torch.optim):
        model = net()
        opt = module.Adam(model.parameters(), lr=0.01, weight_decay=0.1)
        for k in range(5):
            loss_of(model, k, x, y).backward()
            model.gain.grad = None  # as if unused this step
            opt.step()
            opt.zero_grad()
        assert model.gain not in opt.state and len(opt.state[model.gain]) == 0
        out.append(params(model))
    for p, t in zip(*out):
        assert_close(p.numpy(), t.numpy())
    assert torch.equal(out[0][0], torch.ones(3, 1, 11))  # the gain (registered first)


# ---- state dicts ------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", TORCH_RULES)
def test_state_dict_exchange_with_torch_both_ways(rule):
    """Ours -> torch.optim and torch.optim -> ours both continue as an uninterrupted run."""
    lr, config = RULES[rule].lr, RULES[rule].full_state
    x, y = data()

    def run(first, second):
        model = net()
        opt = first(groups(model, lr))
        for k in range(6):
            loss_of(model, k, x, y).backward()
            opt.step()
            opt.zero_grad()
        saved = opt.state_dict()
        opt = second(groups(model, lr))
        opt.load_state_dict(saved)
        for k in range(6, 12):
            loss_of(model, k, x, y).backward()
            opt.step()
            opt.zero_grad()
        return params(model)

    ours = lambda g: getattr(ft, rule)(g, lr=lr, **config)  # noqa: E731
    theirs = lambda g: getattr(torch.optim, rule)(g, lr=lr, **config)  # noqa: E731
    straight = run(theirs, theirs)
    for result in (run(ours, theirs), run(theirs, ours), run(ours, ours)):
        for p, t in zip(result, straight):
            assert_close(p.numpy(), t.numpy())
    assert_same(run(ours, ours), run(ours, ours))


@pytest.mark.parametrize("state_dtype", ["float32", "bfloat16", "int8"])
def test_torch_save_round_trip_continues_identically(state_dtype, tmp_path):
    x, y = data()
    model = net()
    opt = ft.AdamW(groups(model, 0.01), lr=0.01, amsgrad=True, state_dtype=state_dtype)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    for k in range(5):
        loss_of(model, k, x, y).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    model2 = net()
    model2.load_state_dict(ckpt["model"])
    opt2 = ft.AdamW(groups(model2, 0.01), lr=0.01, amsgrad=True, state_dtype=state_dtype)
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=20)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        for k in range(5, 10):
            loss_of(m, k, x, y).backward()
            o.step()
            o.zero_grad()
            s.step()
    assert_same(params(model), params(model2))


def adam_after_one_step():
    """(a Net, fastoptim.torch.Adam over it after one step)."""
    x, y = data()
    model = net()
    opt = ft.Adam(model.parameters(), lr=0.01)
    loss_of(model, 0, x, y).backward()
    opt.step()
    return model, opt


def test_state_shares_memory_with_the_native_buffers():
    model, opt = adam_after_one_step()
    p = model.fc1.weight
    entry = opt.state[p]
    assert set(entry) == {"step", "exp_avg", "exp_avg_sq"}
    assert entry["step"].dtype == torch.float32 and float(entry["step"]) == 1.0
    i = [q is p for q in model.parameters()].index(True)
    assert entry["exp_avg"].data_ptr() == opt._inner.state[i]["exp_avg"].ctypes.data
    sd = opt.state_dict()  # references, as torch's
    assert sd["state"][i]["exp_avg"].data_ptr() == entry["exp_avg"].data_ptr()
    entry["exp_avg"].zero_()  # writes reach the native state
    assert not opt._inner.state[i]["exp_avg"].any()


def test_load_state_dict_errors_change_nothing():
    model, opt = adam_after_one_step()
    good = {k: {n: v.clone() for n, v in e.items()} for k, e in opt.state_dict()["state"].items()}
    bad = opt.state_dict()
    bad["state"] = dict(bad["state"])
    bad["state"][3] = {**bad["state"][3], "exp_avg": torch.zeros(2)}
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError):
        opt.load_state_dict(sgd.state_dict())
    for k, e in opt.state_dict()["state"].items():
        for n, v in e.items():
            assert torch.equal(v, good[k][n])


# ---- contiguous mode ----------------------------------------------------------------------------
def test_contiguous_mode_points_params_and_grads_into_one_buffer():
    model = net()
    before = params(model)
    opt = ft.Adam(model.parameters(), contiguous=True)
    store = opt._store
    base = store.data.ctypes.data
    offset = 0
    for p, b in zip(model.parameters(), before):
        assert p.data_ptr() == base + 4 * offset and torch.equal(p.detach(), b)
        assert p.grad is not None and p.grad.data_ptr() == store.grad.ctypes.data + 4 * offset
        offset += p.numel()
    assert opt._grads() is not None  # no gradient yet: nothing is stepped
    x, y = data()
    loss_of(model, 0, x, y).backward()
    assert opt._grads() is None  # backward accumulated into the views: one span
    opt.step()
    assert [float(opt.state[p]["step"]) for p in model.parameters()] == [1.0] * 5


def _replacements():
    """Every way a gradient can stop being its view in the buffer, applied after backward
    (or instead of it) at one step, with how torch.optim behaves for the same code."""
    def model_zero_grad(model, opt):  # torch's default: set_to_none, then autograd's tensors
        model.zero_grad()

    def assign(model, opt):
        model.fc1.weight.grad = model.fc1.weight.grad * 2.0

    def assign_none(model, opt):
        model.gain.grad = None

    def opt_zero_none(model, opt):  # the gain gets no gradient at the next backward
        opt.zero_grad(set_to_none=True)

    def opt_zero_keep(model, opt):  # zeros: torch steps them with a zero gradient
        opt.zero_grad(set_to_none=False)

    def inplace(model, opt):
        with torch.no_grad():
            model.fc2.bias.grad.copy_(torch.arange(5.0))

    return {"model.zero_grad": model_zero_grad, "assign": assign, "assign_none": assign_none,
            "opt.zero_grad(set_to_none=True)": opt_zero_none,
            "opt.zero_grad(set_to_none=False)": opt_zero_keep, "in_place": inplace}


@pytest.mark.parametrize("how", list(_replacements()))
def test_contiguous_mode_steps_the_real_gradient(how):
    """Whatever replaced or cleared a gradient, contiguous mode steps what torch.optim steps."""
    change = _replacements()[how]
    x, y = data()
    out = []
    for make in (lambda m: ft.Adam(m.parameters(), lr=0.01, weight_decay=0.1, contiguous=True),
                 lambda m: torch.optim.Adam(m.parameters(), lr=0.01, weight_decay=0.1)):
        model = net()
        opt = make(model)
        for k in range(8):
            if how.startswith("opt.zero_grad"):  # the odd steps' backward skips the gain
                change(model, opt) if k % 2 else opt.zero_grad()
                model.gain.requires_grad_(k % 2 == 0)
                loss_of(model, k, x, y).backward()
                model.gain.requires_grad_(True)
                opt.step()
                continue
            loss_of(model, k, x, y).backward()
            if k % 2:
                change(model, opt)
                if how == "model.zero_grad":
                    loss_of(model, k, x, y).backward()
            opt.step()
            opt.zero_grad()
        out.append((params(model), {i: dict(e) for i, e in opt.state_dict()["state"].items()}))
    (ours, our_state), (theirs, their_state) = out
    for p, t in zip(ours, theirs):
        assert_close(p.numpy(), t.numpy())
    assert sorted(our_state) == sorted(their_state)
    for i in their_state:
        assert float(our_state[i]["step"]) == float(their_state[i]["step"]), i


def test_contiguous_zero_grad_puts_the_views_back():
    x, y = data()
    model = net()
    opt = ft.SGD(model.parameters(), lr=0.1, contiguous=True)
    views = [p.grad for p in model.parameters()]
    model.zero_grad()
    loss_of(model, 0, x, y).backward()
    assert all(p.grad is not v for p, v in zip(model.parameters(), views))
    opt.step()
    opt.zero_grad()
    assert all(p.grad is v for p, v in zip(model.parameters(), views))
    assert not opt._store.grad.any()


def test_contiguous_needs_float32():
    model = net().to(torch.bfloat16)
    with pytest.raises(TypeError, match="contiguous=True needs float32 parameters"):
        ft.Adam(model.parameters(), contiguous=True)


# ---- in-backward mode ---------------------------------------------------------------------------
def test_in_backward_frees_gradients_and_step_has_nothing_left():
    x, y = data()
    model = net()
    opt = ft.Adam(model.parameters(), lr=0.01, in_backward=True)
    loss_of(model, 0, x, y).backward()
    assert all(p.grad is None for p in model.parameters())
    assert [float(opt.state[p]["step"]) for p in model.parameters()] == [1.0] * 5
    before = params(model)
    opt.step()
    opt.zero_grad()
    assert_same(params(model), before)


def test_in_backward_hooks_end_with_the_optimizer():
    import gc

    x, y = data()
    model = net()
    opt = ft.SGD(model.parameters(), lr=0.1, in_backward=True)
    del opt
    gc.collect()
    before = params(model)
    loss_of(model, 0, x, y).backward()  # no optimizer left to step: gradients stay
    assert_same(params(model), before)
    assert all(p.grad is not None for p in model.parameters())


def test_in_backward_accumulating_equals_normal_accumulation():
    x, y = data()
    out = []
    for in_backward in (False, True):
        model = net()
        opt = ft.Adam(model.parameters(), lr=0.01, in_backward=in_backward)
        acc = opt.accumulating() if in_backward else None
        for k in range(6):
            if acc is not None:
                with opt.accumulating():
                    loss_of(model, 2 * k, x, y).backward()
            else:
                loss_of(model, 2 * k, x, y).backward()
            loss_of(model, 2 * k + 1, x, y).backward()  # the sum is stepped here (in_backward)
            opt.step()
            opt.zero_grad()
        out.append(params(model))
    assert_same(*out)


def test_in_backward_refuses_what_needs_every_gradient():
    model = net()
    with pytest.raises(ValueError, match="max_grad_norm"):
        ft.Adam(model.parameters(), in_backward=True, max_grad_norm=1.0)
    with pytest.raises(ValueError, match="nonfinite"):
        ft.Adam(model.parameters(), in_backward=True, nonfinite="skip")
    opt = ft.Adam(model.parameters(), in_backward=True)
    with pytest.raises(ValueError, match="max_grad_norm"):
        opt.max_grad_norm = 1.0
    with pytest.raises(ValueError, match="do not combine"):
        ft.Adam(model.parameters(), in_backward=True, contiguous=True)
    with pytest.raises(ValueError, match="add_param_group"):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(2))]})


# ---- errors name the parameter ------------------------------------------------------------------
def test_unsteppable_tensors_get_errors_naming_them():
    named = list(net().named_parameters())
    model = net()
    cases = [
        (nn.Parameter(torch.zeros(3, dtype=torch.float64)), TypeError, "dtype torch.float64"),
        (nn.Parameter(torch.zeros(4, 5).t()), ValueError, "not contiguous"),
        (nn.Parameter(torch.zeros(3, device="meta")), TypeError, "is on meta"),
        (nn.Parameter(torch.zeros(3).to_sparse()), TypeError, "sparse"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message) as info:
            ft.Adam([{"params": list(model.parameters())}, {"params": [bad]}])
        assert "param group 1, parameter 0" in str(info.value)
    with pytest.raises(TypeError, match="'fc1.weight'"):
        ft.Adam([(n, nn.Parameter(p.detach().double()) if n == "fc1.weight" else p)
                 for n, p in named])


def test_bad_gradient_is_named_and_nothing_changes():
    x, y = data()
    named = list(net().named_parameters())
    model = net()
    opt = ft.Adam([(n, p) for n, p in zip([n for n, _ in named], model.parameters())])
    loss_of(model, 0, x, y).backward()
    model.fc2.weight.grad = torch.zeros(5, 33).to_sparse()
    before = params(model)
    with pytest.raises(TypeError, match="gradient of param group 0, parameter 3 'fc2.weight'"):
        opt.step()
    assert_same(params(model), before)
    assert len(opt.state) == 0


def test_add_param_group_error_leaves_the_optimizer_unchanged():
    model = net()
    opt = ft.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(2, dtype=torch.float64))]})
    assert len(opt.param_groups) == 1
    extra = nn.Parameter(torch.ones(2))
    opt.add_param_group({"params": [extra], "lr": 1.0})
    extra.grad = torch.ones(2)
    opt.step()
    assert torch.equal(extra.detach(), torch.zeros(2))


# ---- low precision, Lookahead, LBFGS ------------------------------------------------------------
def test_bfloat16_model_steps_as_fastoptim_on_its_arrays():
    """A bfloat16 model (bfloat16 gradients, split master weights by default): the same bits
    as fastoptim.Adam on the parameters' bfloat16 arrays fed the same gradients."""
    import ml_dtypes

    x, y = (t.to(torch.bfloat16) for t in data())
    model, ref_model = net().to(torch.bfloat16), net().to(torch.bfloat16)
    opt = ft.Adam(model.parameters(), lr=0.01, state_dtype="bfloat16")
    assert opt.master_weights == "split"
    as_bf16 = lambda t: t.detach().view(torch.int16).numpy().view(ml_dtypes.bfloat16)  # noqa
    ref = fo.Adam([as_bf16(p) for p in ref_model.parameters()], lr=0.01,
                  state_dtype="bfloat16")
    for k in range(STEPS):
        loss_of(model, k, x, y).backward()
        opt.step()
        opt.zero_grad()
        loss_of(ref_model, k, x, y).backward()
        ref.step([as_bf16(p.grad) for p in ref_model.parameters()])
        ref_model.zero_grad()
    assert_same(params(model), params(ref_model))
    entry = opt.state[model.fc1.weight]
    assert set(entry) == {"step", "exp_avg", "exp_avg_sq", "master_low_bits"}
    assert entry["exp_avg"].dtype == torch.bfloat16 and entry["master_low_bits"].dtype == \
        torch.uint16


def test_lookahead_equals_fastoptim_lookahead():
    x, y = data()
    model, ref_model = net(), net()
    opt = ft.Lookahead(ft.Adam(model.parameters(), lr=0.01), k=3, alpha=0.5)
    assert isinstance(opt, torch.optim.Optimizer)
    sched = torch.optim.lr_scheduler.StepLR(opt, 4, 0.5)
    arrays = [p.detach().numpy() for p in ref_model.parameters()]
    ref = fo.Lookahead(fo.Adam(arrays, lr=0.01), k=3, alpha=0.5)
    for k in range(10):
        loss_of(model, k, x, y).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        loss_of(ref_model, k, x, y).backward()
        ref.step([p.grad.numpy() for p in ref_model.parameters()])
        ref_model.zero_grad()
        ref.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert_same(params(model), params(ref_model))
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    opt2 = ft.Lookahead(ft.Adam(net().parameters(), lr=0.01))
    opt2.load_state_dict(torch.load(buf, weights_only=True))
    assert opt2.k == 3 and opt2._lookahead._counter == 10


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    x, y = data()
    out = []
    for module in (ft, torch.optim):
        model = net()
        opt = module.LBFGS(model.parameters(), lr=0.5, max_iter=5, history_size=4,
                           line_search_fn=line_search_fn)
        for k in range(3):
            def closure():
                opt.zero_grad()
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                return loss
            loss = opt.step(closure)
            assert isinstance(loss, torch.Tensor)
        out.append((params(model), opt.state_dict()))
    (ours, sd), (theirs, tsd) = out
    for p, t in zip(ours, theirs):
        assert_close(p.numpy(), t.numpy(), rtol=1e-4)
    assert int(sd["state"][0]["n_iter"]) == int(tsd["state"][0]["n_iter"])
    model = net()
    again = ft.LBFGS(model.parameters(), lr=0.5, max_iter=5, history_size=4,
                     line_search_fn=line_search_fn)
    again.load_state_dict(tsd)  # torch's LBFGS state, read back
    assert again._inner.state["n_iter"] == tsd["state"][0]["n_iter"]
