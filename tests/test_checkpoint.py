"""Checkpoints: bit-for-bit resume, atomic writes, and damaged files rejected harmlessly."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastoptim as fo
from conftest import grad_stream

SHAPES = [(6, 5), (5,), (2, 3, 4)]


def setup(seed=0, opt_cls=fo.Adam, **kw):
    rng = np.random.default_rng(seed)
    store = fo.FlatParams([rng.standard_normal(s) for s in SHAPES])
    opt = opt_cls(store, **kw)
    ema = fo.EMA(store, decay=0.9)
    return store, opt, ema


def train(store, opt, ema, grads):
    for gs in grads:
        for v, g in zip(store.grads, gs):
            np.copyto(v, g)
        opt.step()
        ema.update()


@pytest.mark.parametrize("opt_cls,kw", [(fo.Adam, dict(lr=0.01, amsgrad=True)),
                                        (fo.NAdam, dict(lr=0.01)),
                                        (fo.SGD, dict(lr=0.01, momentum=0.9))])
def test_resume_continues_bit_for_bit(tmp_path, opt_cls, kw):
    stream = list(grad_stream(np.random.default_rng(1), SHAPES, 30))
    store, opt, ema = setup(opt_cls=opt_cls, **kw)
    train(store, opt, ema, stream)

    store1, opt1, ema1 = setup(opt_cls=opt_cls, **kw)
    train(store1, opt1, ema1, stream[:11])
    path = tmp_path / "ckpt.npz"
    fo.save(path, opt1, ema=ema1, extra={"epoch": 3, "note": "mid-run", "rng": np.arange(3)})
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind

    store2, opt2, ema2 = setup(seed=99, opt_cls=opt_cls, **{**kw, "lr": 0.5})
    extra = fo.load(path, opt2, ema=ema2)
    assert extra["epoch"] == 3 and extra["note"] == "mid-run"
    np.testing.assert_array_equal(extra["rng"], np.arange(3))
    train(store2, opt2, ema2, stream[11:])
    assert np.array_equal(store.data, store2.data)
    for a, b in zip(ema.shadow, ema2.shadow):
        assert np.array_equal(a, b)


def test_lbfgs_and_lookahead_checkpoint(tmp_path):
    p = np.array([0.3, -0.2], np.float32)
    opt = fo.LBFGS([p], max_iter=3)

    def closure():
        return float(p @ p), [2 * p]

    opt.step(closure)
    fo.save(tmp_path / "l.npz", opt)
    q = np.zeros(2, np.float32)
    opt2 = fo.LBFGS([q], max_iter=3)
    fo.load(tmp_path / "l.npz", opt2)
    np.testing.assert_array_equal(p, q)
    assert opt2.state["n_iter"] == opt.state["n_iter"]

    w = np.ones(4, np.float32)
    la = fo.Lookahead(fo.Adam([w], lr=0.1), k=2)
    for _ in range(3):
        la.step([np.ones(4, np.float32)])
    fo.save(tmp_path / "la.npz", la)
    w2 = np.zeros(4, np.float32)
    la2 = fo.Lookahead(fo.Adam([w2], lr=0.1), k=2)
    fo.load(tmp_path / "la.npz", la2)
    la.step([np.ones(4, np.float32)])
    la2.step([np.ones(4, np.float32)])
    np.testing.assert_array_equal(w, w2)


def snapshot(store, opt, ema):
    return store.data.copy(), opt.state_dict(), ema.state_dict()


def assert_same(a, b):
    assert np.array_equal(a[0], b[0])
    for i, entry in a[1]["state"].items():
        for k, v in entry.items():
            assert np.array_equal(v, b[1]["state"][i][k])
    for x, y in zip(a[2]["shadow"], b[2]["shadow"]):
        assert np.array_equal(x, y)


def damaged_files(tmp_path, good):
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("not a checkpoint")
    np.savez(tmp_path / "foreign.npz", x=np.arange(3))
    return ["truncated.npz", "empty.npz", "text.npz", "foreign.npz"]


def test_damaged_or_foreign_files_are_rejected_and_change_nothing(tmp_path):
    stream = list(grad_stream(np.random.default_rng(2), SHAPES, 5))
    store, opt, ema = setup(lr=0.01)
    train(store, opt, ema, stream)
    fo.save(tmp_path / "good.npz", opt, ema=ema)
    train(store, opt, ema, stream)  # the live objects move on
    before = snapshot(store, opt, ema)
    for name in damaged_files(tmp_path, tmp_path / "good.npz"):
        with pytest.raises(ValueError, match="checkpoint"):
            fo.load(tmp_path / name, opt, ema=ema)
        assert_same(before, snapshot(store, opt, ema))


def test_mismatched_checkpoint_changes_nothing(tmp_path):
    store, opt, ema = setup(lr=0.01)
    train(store, opt, ema, grad_stream(np.random.default_rng(3), SHAPES, 4))
    other = fo.FlatParams([np.zeros(s) for s in [(6, 5), (5,), (4, 3, 2)]])
    fo.save(tmp_path / "other.npz", fo.Adam(other))
    before = snapshot(store, opt, ema)
    with pytest.raises(ValueError, match="parameter 2"):
        fo.load(tmp_path / "other.npz", opt, ema=ema)
    # Right shapes, but the EMA state is missing: nothing may change either.
    fo.save(tmp_path / "no_ema.npz", opt)
    train(store, opt, ema, grad_stream(np.random.default_rng(4), SHAPES, 2))
    before = snapshot(store, opt, ema)
    with pytest.raises(ValueError, match="no ema"):
        fo.load(tmp_path / "no_ema.npz", opt, ema=ema)
    assert_same(before, snapshot(store, opt, ema))


def test_a_failing_later_load_rolls_back_the_earlier_ones(tmp_path):
    store, opt, ema = setup(lr=0.01)
    train(store, opt, ema, grad_stream(np.random.default_rng(5), SHAPES, 3))
    fo.save(tmp_path / "c.npz", opt, ema=ema)
    train(store, opt, ema, grad_stream(np.random.default_rng(6), SHAPES, 3))
    before = snapshot(store, opt, ema)
    ema.swap()  # a state the checkpoint's EMA cannot be loaded into
    with pytest.raises(ValueError, match="swap"):
        fo.load(tmp_path / "c.npz", opt, ema=ema)
    ema.swap()
    assert_same(before, snapshot(store, opt, ema))


def test_version_mismatch(tmp_path):
    import json

    store, opt, ema = setup()
    fo.save(tmp_path / "c.npz", opt)
    with np.load(tmp_path / "c.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["version"] = 999
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="version 999"):
        fo.load(tmp_path / "future.npz", opt)


def test_resume_with_a_scheduler_continues_bit_for_bit(tmp_path):
    from fastoptim import lr_scheduler

    stream = list(grad_stream(np.random.default_rng(7), SHAPES, 24))

    def run(grads, store, opt, ema, sched):
        for gs in grads:
            train(store, opt, ema, [gs])
            sched.step()

    store, opt, ema = setup(lr=0.01)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=24)
    run(stream, store, opt, ema, sched)

    store1, opt1, ema1 = setup(lr=0.01)
    sched1 = lr_scheduler.OneCycleLR(opt1, max_lr=0.05, total_steps=24)
    run(stream[:10], store1, opt1, ema1, sched1)
    fo.save(tmp_path / "c.npz", opt1, scheduler=sched1, ema=ema1)

    store2, opt2, ema2 = setup(seed=5, lr=0.01)
    sched2 = lr_scheduler.OneCycleLR(opt2, max_lr=0.05, total_steps=24)
    fo.load(tmp_path / "c.npz", opt2, scheduler=sched2, ema=ema2)
    run(stream[10:], store2, opt2, ema2, sched2)
    assert np.array_equal(store.data, store2.data)
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["betas"] == opt.param_groups[0]["betas"]
