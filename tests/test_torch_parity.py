"""Parity with torch.optim (pinned CPU build): every option combination, two param groups, and
the learning rate changed mid-run, compared element by element after every few steps."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import RULES, TORCH_RULES, assert_close, config_id, grad_stream  # noqa: E402

ALL = [(rule, c) for rule in TORCH_RULES for c in RULES[rule].configs]
SHAPES = [(5, 7), (33,), (2, 3, 17), (16,), (1,)]
STEPS = 60


@pytest.mark.parametrize("rule,config", ALL, ids=[config_id(*c) for c in ALL])
def test_matches_torch(rule, config):
    fo_cls, torch_name, lr = RULES[rule].cls, RULES[rule].torch, RULES[rule].lr
    rng = np.random.default_rng(11)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [p.copy() for p in init]
    theirs = [torch.tensor(p.copy()) for p in init]
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 3}]  # noqa: E731
    opt = fo_cls(groups(ours), lr=lr, **config)
    topt = getattr(torch.optim, torch_name)(groups(theirs), lr=lr, **config)
    for k, grads in enumerate(grad_stream(rng, SHAPES, STEPS)):
        if k == STEPS // 2:  # a schedule changing the rate mid-run
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = lr / 4
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g)
        topt.step()
        if k % 10 == 9 or k == STEPS - 1:
            for i, (p, t) in enumerate(zip(ours, theirs)):
                assert_close(p, t.numpy(),
                                           err_msg=f"param {i} after step {k + 1}")
    tstate = topt.state_dict()["state"]
    ostate = opt.state_dict()["state"]
    assert sorted(ostate) == sorted(tstate)
    for i in tstate:
        for name, value in tstate[i].items():
            if name == "step":
                assert ostate[i]["step"] == int(value)
            elif value is not None:
                assert_close(ostate[i][name], value.numpy(),
                                           err_msg=f"state {name} of param {i}")


@pytest.mark.parametrize("rule", TORCH_RULES)
def test_defaults_match_torch(rule):
    import inspect

    fo_cls, torch_name = RULES[rule].cls, RULES[rule].torch
    ours = inspect.signature(fo_cls.__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, torch_name).__init__).parameters
    for name, p in ours.items():
        if name in ("self", "params", "max_grad_norm", "nonfinite", "state_dtype",
                    "state_rounding", "seed", "master_weights"):  # our additions
            continue
        assert name in theirs, name
        assert p.default == theirs[name].default, name


def test_loads_a_torch_state_dict_and_continues_identically():
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    theirs = [torch.tensor(p.copy()) for p in init]
    topt = torch.optim.Adam(theirs, lr=0.01, amsgrad=True)
    stream = list(grad_stream(rng, SHAPES, 20))
    for grads in stream[:10]:
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g)
        topt.step()
    ours = [t.numpy().copy() for t in theirs]
    opt = __import__("fastoptim").Adam(ours, lr=0.5)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["amsgrad"] is True
    for grads in stream[10:]:
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g)
        topt.step()
    for p, t in zip(ours, theirs):
        assert_close(p, t.numpy())
