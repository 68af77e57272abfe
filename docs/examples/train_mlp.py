"""Train a NumPy MLP with fastoptim: forward and backward in NumPy, Adam with clipping and a
one-cycle schedule, a checkpoint, and a resumed run that ends bit for bit where the first did.

    python docs/examples/train_mlp.py

Needs NumPy and fastoptim only. The documentation's "A NumPy training loop" page walks
through it, and the docs' doctest build runs it.
"""

import tempfile
from pathlib import Path

import numpy as np

import fastoptim as fo
from fastoptim import lr_scheduler

EPOCHS, BATCH = 20, 64


# ---- data ----
def spirals(n_per_class: int, seed: int):
    """Three interleaved spirals in the plane: 2-D points, labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(0.05, 1.0, size=(3, n_per_class))
    angle = 4.0 * r + 2.0 * np.pi / 3.0 * np.arange(3)[:, None] + rng.normal(0, 0.3, r.shape)
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=-1).reshape(-1, 2)
    return X.astype(np.float32), np.repeat(np.arange(3), n_per_class)


X_train, y_train = spirals(1000, seed=0)
X_val, y_val = spirals(300, seed=1)


# ---- model ----
def make_model(seed: int):
    """A 2-64-64-3 ReLU network in one FlatParams store, its optimizer and its schedule."""
    rng = np.random.default_rng(seed)
    sizes = [2, 64, 64, 3]
    init = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        init += [rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)]
    store = fo.FlatParams(init)  # float32 copies: W1, b1, W2, b2, W3, b3 in one buffer
    opt = fo.Adam(store, lr=1e-3, weight_decay=1e-4, max_grad_norm=1.0)  # clipping, fused
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1e-2,
                                    total_steps=EPOCHS * (len(X_train) // BATCH))
    return store, opt, sched
# ---- end model ----


# ---- forward and backward ----
def forward(store: fo.FlatParams, X: np.ndarray):
    """Logits of a batch, and the hidden activations backward() needs."""
    W1, b1, W2, b2, W3, b3 = store.params
    h1 = np.maximum(X @ W1 + b1, 0.0)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    return h2 @ W3 + b3, (X, h1, h2)


def loss_and_grads(store: fo.FlatParams, X: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of a batch; writes every gradient into the store's views."""
    W1, b1, W2, b2, W3, b3 = store.params
    gW1, gb1, gW2, gb2, gW3, gb3 = store.grads
    logits, (X, h1, h2) = forward(store, X)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = float(-np.log(p[rows, y]).mean())
    d = p  # d loss / d logits = (softmax - one_hot) / batch
    d[rows, y] -= 1.0
    d /= len(y)
    np.matmul(h2.T, d, out=gW3)  # out=: straight into the store, no copy
    d.sum(axis=0, out=gb3)
    d = (d @ W3.T) * (h2 > 0)
    np.matmul(h1.T, d, out=gW2)
    d.sum(axis=0, out=gb2)
    d = (d @ W2.T) * (h1 > 0)
    np.matmul(X.T, d, out=gW1)
    d.sum(axis=0, out=gb1)
    return loss


def accuracy(store: fo.FlatParams, X: np.ndarray, y: np.ndarray) -> float:
    logits, _ = forward(store, X)
    return float((logits.argmax(axis=1) == y).mean())
# ---- end forward and backward ----


# ---- training loop ----
def train_epoch(store, opt, sched, epoch: int) -> float:
    """One pass over the training set in minibatches; returns the mean loss."""
    order = np.random.default_rng(100 + epoch).permutation(len(X_train))  # same batches on resume
    losses = []
    for start in range(0, len(order) - BATCH + 1, BATCH):
        batch = order[start:start + BATCH]
        losses.append(loss_and_grads(store, X_train[batch], y_train[batch]))
        opt.step()  # reads store.grads: one native call updates all six arrays
        sched.step()  # after opt.step(), as in torch
    return float(np.mean(losses))
# ---- end training loop ----


def main() -> None:
    store, opt, sched = make_model(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        # ---- checkpoint ----
        checkpoint = Path(tmp) / "mlp.npz"
        for epoch in range(EPOCHS):
            loss = train_epoch(store, opt, sched, epoch)
            if epoch + 1 == EPOCHS // 2:  # parameters, Adam's state, the schedule, the epoch
                fo.save(checkpoint, opt, scheduler=sched, extra={"epoch": epoch + 1})
            if (epoch + 1) % 5 == 0:
                print(f"epoch {epoch + 1:2d}  loss {loss:.3f}  lr {sched.get_last_lr()[0]:.1e}"
                      f"  val accuracy {accuracy(store, X_val, y_val):.3f}")

        # A fresh process would rebuild everything as for a new run, then load: the checkpoint
        # replaces the parameters, the optimizer's state and the schedule's position.
        store2, opt2, sched2 = make_model(seed=1)
        extra = fo.load(checkpoint, opt2, scheduler=sched2)
        for epoch in range(extra["epoch"], EPOCHS):
            train_epoch(store2, opt2, sched2, epoch)
        # ---- end checkpoint ----
    same = np.array_equal(store2.data, store.data)
    print(f"resumed from epoch {extra['epoch']}: same parameters bit for bit: {same}")
    assert same
    assert accuracy(store, X_val, y_val) > 0.9


if __name__ == "__main__":
    main()
