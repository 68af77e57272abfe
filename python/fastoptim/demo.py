"""Train a small NumPy MLP with fastoptim: ``python -m fastoptim.demo``.

A two-layer network classifies a synthetic three-arm spiral (no download needed). Forward and
backward passes are plain NumPy that write the gradients straight into a FlatParams store, and
each optimizer steps every parameter in one native call. Every optimizer starts from the same
weights and sees the same batches; the table compares the final loss and accuracy and the share
of the time spent in ``opt.step()``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastoptim as fo


def spirals(n_per_class: int, classes: int, rng) -> tuple:
    """Points on `classes` interleaved noisy spiral arms, labelled by arm."""
    t = rng.uniform(0.0, 1.0, size=(classes, n_per_class))
    angle = 4.0 * t + 2.0 * np.pi * np.arange(classes)[:, None] / classes
    r = t + 0.05 * rng.standard_normal(t.shape)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=-1).reshape(-1, 2)
    y = np.repeat(np.arange(classes), n_per_class)
    return x.astype(np.float32), y


class MLP:
    """x -> tanh(x W1 + b1) -> softmax(h W2 + b2), parameters and gradients in a FlatParams."""

    def __init__(self, sizes, rng):
        d_in, d_hidden, d_out = sizes
        self.store = fo.FlatParams([
            rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in), np.zeros(d_hidden),
            rng.standard_normal((d_hidden, d_out)) / np.sqrt(d_hidden), np.zeros(d_out),
        ])

    def loss_and_grads(self, x, y):
        """Mean cross-entropy; writes d(loss)/d(param) into the store's grads."""
        W1, b1, W2, b2 = self.store.params
        gW1, gb1, gW2, gb2 = self.store.grads
        h = np.tanh(x @ W1 + b1)
        logits = h @ W2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        d = p
        d[np.arange(len(y)), y] -= 1.0
        d /= len(y)
        np.matmul(h.T, d, out=gW2)
        np.sum(d, axis=0, out=gb2)
        dh = (d @ W2.T) * (1.0 - h * h)
        np.matmul(x.T, dh, out=gW1)
        np.sum(dh, axis=0, out=gb1)
        return float(loss)

    def accuracy(self, x, y):
        W1, b1, W2, b2 = self.store.params
        return float(((np.tanh(x @ W1 + b1) @ W2 + b2).argmax(axis=1) == y).mean())


OPTIMIZERS = {
    "sgd": lambda ps: fo.SGD(ps, lr=0.5),
    "momentum": lambda ps: fo.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov": lambda ps: fo.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: fo.Adam(ps, lr=1e-2),
    "adamw": lambda ps: fo.AdamW(ps, lr=1e-2, weight_decay=1e-2),
    "amsgrad": lambda ps: fo.Adam(ps, lr=1e-2, amsgrad=True),
}


def train(name, args, data):
    x, y, xv, yv = data
    rng = np.random.default_rng(args.seed)
    model = MLP((2, args.hidden, 3), rng)  # same seed: same initial weights for every optimizer
    opt = OPTIMIZERS[name](model.store)
    order = np.random.default_rng(args.seed + 1)
    step_time, t0, losses = 0.0, time.perf_counter(), []
    for _ in range(args.epochs):
        perm = order.permutation(len(y))
        epoch_loss = 0.0
        for s in range(0, len(y), args.batch_size):
            idx = perm[s : s + args.batch_size]
            epoch_loss += model.loss_and_grads(x[idx], y[idx]) * len(idx)
            t = time.perf_counter()
            opt.step()
            step_time += time.perf_counter() - t
        losses.append(epoch_loss / len(y))
    total = time.perf_counter() - t0
    return dict(name=name, loss=losses[-1], train_acc=model.accuracy(x, y),
                val_acc=model.accuracy(xv, yv), seconds=total, step_share=step_time / total)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fastoptim.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help="comma-separated, from: " + ", ".join(OPTIMIZERS))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        fo.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    x, y = spirals(1000, 3, rng)
    xv, yv = spirals(300, 3, rng)
    print(f"fastoptim {fo.__version__} on {fo.cpu_target()}, {fo.get_num_threads()} threads; "
          f"spirals: {len(y)} train / {len(yv)} validation points, MLP 2-{args.hidden}-3")
    print(f"{'optimizer':<10} {'loss':>8} {'train acc':>10} {'val acc':>8} {'time s':>7} "
          f"{'in step':>8}")
    for name in args.optimizers.split(","):
        if name not in OPTIMIZERS:
            ap.error(f"unknown optimizer {name!r}")
        r = train(name, args, (x, y, xv, yv))
        print(f"{r['name']:<10} {r['loss']:8.4f} {r['train_acc']:10.3f} {r['val_acc']:8.3f} "
              f"{r['seconds']:7.2f} {r['step_share']:8.1%}")


if __name__ == "__main__":
    main()
