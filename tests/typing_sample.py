"""A user's NumPy training loop, as fastoptim's annotations must type it.

tests/test_typing.py runs ``mypy --strict`` on this file (no ignore comments allowed) and
runs it, so that it can neither stop type-checking nor stop working. A two-layer MLP learns a
toy classification task: parameters and gradients in a FlatParams store, Adam with a warm-up
and cosine schedule, gradient clipping, an EMA of the weights, a checkpoint written and read
back, and state dicts round-tripped; then the list API, Lookahead and LBFGS.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastoptim as fo
from fastoptim import lr_scheduler

F32 = NDArray[np.float32]


def make_data(rng: np.random.Generator, n: int) -> tuple[F32, NDArray[np.int64]]:
    """Points in the plane, labelled by the quadrant they fall in."""
    x = rng.standard_normal((n, 2), dtype=np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0).astype(np.int64)
    return x, y


def make_store(rng: np.random.Generator, n_in: int, n_hidden: int, n_out: int) -> fo.FlatParams:
    """W1, b1, W2, b2 of the MLP, in one flat store."""
    return fo.FlatParams([
        rng.standard_normal((n_in, n_hidden), dtype=np.float32) * np.float32(0.5),
        np.zeros(n_hidden, np.float32),
        rng.standard_normal((n_hidden, n_out), dtype=np.float32) * np.float32(0.5),
        (n_out,),  # a shape: zero-filled
    ])


def softmax(z: F32) -> F32:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p: F32 = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return p


def loss_and_grads(store: fo.FlatParams, x: F32, y: NDArray[np.int64]) -> float:
    """Cross-entropy of the batch; writes its gradients into the store's grads (views)."""
    W1, b1, W2, b2 = store.params
    gW1, gb1, gW2, gb2 = store.grads
    h = np.tanh(x @ W1 + b1)
    p = softmax(h @ W2 + b2)
    n = len(y)
    loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
    d2 = p.copy()
    d2[np.arange(n), y] -= 1.0
    d2 /= np.float32(n)
    np.matmul(h.T, d2, out=gW2)  # into the views: the optimizer reads the store's buffer
    np.copyto(gb2, d2.sum(axis=0))
    d1 = (d2 @ W2.T) * (1.0 - h * h)
    np.matmul(x.T, d1, out=gW1)
    gb1[...] = d1.sum(axis=0)
    return loss


def accuracy(store: fo.FlatParams, x: F32, y: NDArray[np.int64]) -> float:
    W1, b1, W2, b2 = store.params
    logits = np.tanh(x @ W1 + b1) @ W2 + b2
    return float((logits.argmax(axis=1) == y).mean())


def train(epochs: int = 30, batch: int = 64, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x, y = make_data(rng, 1024)
    store = make_store(rng, 2, 16, 4)
    opt = fo.Adam(store, lr=3e-2, betas=(0.9, 0.99), weight_decay=1e-4, nonfinite="skip")
    steps = epochs * (len(x) // batch)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=10)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=steps - 10)
    sched = lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[10])
    ema = fo.EMA(store, decay=0.9)
    norms: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            loss_and_grads(store, x[idx], y[idx])
            norms.append(fo.clip_grad_norm_(store.grads, max_norm=5.0))
            opt.step()
            sched.step()
            ema.update()
    lrs: list[float] = sched.get_last_lr()
    with ema.average_parameters():
        ema_acc = accuracy(store, x, y)
    return {"store": store, "opt": opt, "sched": sched, "ema": ema, "acc": accuracy(store, x, y),
            "ema_acc": ema_acc, "lr": lrs[0], "max_norm": max(norms)}


def checkpoint_round_trip(run: dict[str, Any], directory: Path) -> None:
    """fo.save / fo.load into a fresh optimizer, scheduler and EMA; state dicts round trip."""
    store: fo.FlatParams = run["store"]
    opt: fo.Adam = run["opt"]
    sched: lr_scheduler.LRScheduler = run["sched"]
    ema: fo.EMA = run["ema"]
    path = directory / "ckpt.npz"
    fo.save(path, opt, scheduler=sched, ema=ema, extra={"epoch": 30, "note": "sample"})

    fresh = fo.FlatParams([np.zeros_like(p) for p in store.params])
    opt2 = fo.Adam(fresh, lr=3e-2, betas=(0.9, 0.99), weight_decay=1e-4, nonfinite="skip")
    sched2 = lr_scheduler.SequentialLR(
        opt2, [lr_scheduler.LinearLR(opt2, start_factor=0.1, total_iters=10),
               lr_scheduler.CosineAnnealingLR(opt2, T_max=470)], milestones=[10])
    ema2 = fo.EMA(fresh, decay=0.9)
    extra = fo.load(path, opt2, scheduler=sched2, ema=ema2)
    assert extra == {"epoch": 30, "note": "sample"}
    assert np.array_equal(fresh.data, store.data)
    assert sched2.get_last_lr() == sched.get_last_lr()

    state: dict[str, Any] = opt.state_dict()
    opt2.load_state_dict(state)
    sched2.load_state_dict(sched.state_dict())
    ema2.load_state_dict(ema.state_dict())
    exp_avg: F32 = opt2.state[0]["exp_avg"]
    assert np.array_equal(exp_avg, opt.state[0]["exp_avg"])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def list_api_and_wrappers(seed: int = 1) -> None:
    """The list API (arrays the user owns), a bare array, Lookahead, param groups and LBFGS."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((3, 2), dtype=np.float32)
    b = np.zeros(2, np.float32)
    opt = fo.SGD([{"params": [W], "lr": 0.1}, {"params": [b]}], lr=0.05, momentum=0.9)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=2)
    for _ in range(5):
        gW, gb = 2 * W, 2 * b  # gradients of |W|^2 + |b|^2
        opt.step([gW, gb])
        plateau.step(float((W * W).sum() + (b * b).sum()))
    fo.clip_grad_value_([W, b], 10.0)

    theta = np.ones(4, np.float32)  # one parameter: step() takes its gradient bare
    la = fo.Lookahead(fo.AdamW(theta, lr=0.1), k=2, alpha=0.5)
    for _ in range(4):
        la.step(2 * theta)
    assert float(np.abs(theta).max()) < 1.0

    store = fo.FlatParams([np.full(2, 3.0, np.float32)])
    (x,) = store.params
    (gx,) = store.grads

    def closure() -> float:
        np.copyto(gx, 2 * (x - 1))
        return float(((x - 1) ** 2).sum())

    lbfgs = fo.LBFGS(store, lr=1, max_iter=20, line_search_fn="strong_wolfe")
    lbfgs.step(closure)
    lbfgs.zero_grad()
    assert np.allclose(x, 1.0, atol=1e-4)

    v = np.zeros(3, np.float32)
    lb2 = fo.LBFGS([v], max_iter=5)

    def closure2() -> tuple[float, list[F32]]:
        return float(((v - 2) ** 2).sum()), [(2 * (v - 2)).astype(np.float32)]

    lb2.step(closure2)


def main() -> None:
    fo.set_num_threads(2)
    assert fo.get_num_threads() == 2
    assert fo.cpu_target() in fo.available_targets()
    run = train()
    acc: float = run["acc"]
    assert acc > 0.9, acc
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint_round_trip(run, Path(tmp))
    list_api_and_wrappers()
    print(f"typing sample: accuracy {acc:.3f}, EMA accuracy {run['ema_acc']:.3f}")


if __name__ == "__main__":
    main()
