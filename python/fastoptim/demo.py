"""Compare every fastoptim optimizer on one network: ``python -m fastoptim.demo``.

The classic optimizer study: train the same small MLP with each rule (SGD, momentum, Nesterov,
Adagrad, RMSprop, Adadelta, Adam, AMSGrad, AdamW, Adamax, NAdam, RAdam, Lion, proximal SGD and
Adagrad, Lookahead) from the same initial weights on the same batches, and compare loss and
accuracy per epoch, epochs to a target accuracy, time per epoch and the share of it spent in
``opt.step()``. The data are scikit-learn's bundled 8x8 digits (no download), or MNIST /
Fashion-MNIST IDX files with ``--data DIR``.

Forward and backward passes are plain NumPy that write the gradients straight into a
:class:`~fastoptim.FlatParams` store, so each optimizer steps every parameter in one native call.
``--compare-numpy`` also trains with float32 NumPy versions of the rules
(``fastoptim._numpy_rules``): the loss curves must agree to float32 rounding, and the step times
give the speedup of the kernels. ``--state-dtype bfloat16`` stores every optimizer's state in
bfloat16, rounded stochastically (``bfloat16-nearest``: to nearest), and ``int8`` in 8-bit
blocks, to see what a half or a quarter of the state memory costs in accuracy;
``--param-dtype bfloat16`` makes the network's weights and gradients bfloat16 (the forward and
backward passes read the bfloat16 weights), with the optimizer keeping the low 16 bits of each
float32 master weight (``bfloat16-stochastic`` and ``bfloat16-nearest``: no master, the weights
rounded as written; ``float16``: a float32 master copy). Results go to ``--out``: a figure (``curves.png``: the curves
in one column of panels per optimizer family, and a summary of epochs to the target and final
accuracy per optimizer), the table (``results.md``) and everything measured (``results.json``).

tqdm (progress bars, when stderr is a terminal), rich (table) and matplotlib (figure) are
optional, and scikit-learn is needed only for digits: ``pip install "fastoptim[demo]"``
installs them all.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import ml_dtypes
import numpy as np

import fastoptim as fo
from fastoptim import _core, _numpy_rules
from fastoptim.idx import load_mnist

INSTALL_HINT = 'pip install "fastoptim[demo]"'


@dataclass(frozen=True)
class Rule:
    """An optimizer of the study: ``build(lib, store, lr, **state)`` makes it from ``lib``,
    which is either ``fastoptim`` or ``fastoptim._numpy_rules`` (same class names and
    arguments); ``state`` holds fastoptim's state-format options (``state_dtype``,
    ``state_rounding``, ``seed``), empty for float32 state."""

    name: str
    # The usual value if it reaches 0.95 on digits within about 10 epochs, else the smallest
    # such value of a short sweep (see the table of a default run).
    lr: float
    build: Callable
    text: str  # the constructor, for --help


RULES = {r.name: r for r in [
    Rule("sgd", 0.2, lambda lib, s, lr, **kw: lib.SGD(s, lr=lr, **kw), "SGD"),
    Rule("momentum", 0.05, lambda lib, s, lr, **kw: lib.SGD(s, lr=lr, momentum=0.9, **kw),
         "SGD(momentum=0.9)"),
    Rule("nesterov", 0.05,
         lambda lib, s, lr, **kw: lib.SGD(s, lr=lr, momentum=0.9, nesterov=True, **kw),
         "SGD(momentum=0.9, nesterov=True)"),
    Rule("adagrad", 0.05, lambda lib, s, lr, **kw: lib.Adagrad(s, lr=lr, **kw), "Adagrad"),
    Rule("rmsprop", 1e-3, lambda lib, s, lr, **kw: lib.RMSprop(s, lr=lr, **kw), "RMSprop"),
    Rule("adadelta", 1.0, lambda lib, s, lr, **kw: lib.Adadelta(s, lr=lr, **kw), "Adadelta"),
    Rule("adam", 2e-3, lambda lib, s, lr, **kw: lib.Adam(s, lr=lr, **kw), "Adam"),
    Rule("amsgrad", 2e-3, lambda lib, s, lr, **kw: lib.Adam(s, lr=lr, amsgrad=True, **kw),
         "Adam(amsgrad=True)"),
    Rule("adamw", 2e-3, lambda lib, s, lr, **kw: lib.AdamW(s, lr=lr, **kw),
         "AdamW(weight_decay=1e-2)"),
    Rule("adamax", 5e-3, lambda lib, s, lr, **kw: lib.Adamax(s, lr=lr, **kw), "Adamax"),
    Rule("nadam", 2e-3, lambda lib, s, lr, **kw: lib.NAdam(s, lr=lr, **kw), "NAdam"),
    Rule("radam", 5e-3, lambda lib, s, lr, **kw: lib.RAdam(s, lr=lr, **kw), "RAdam"),
    Rule("lion", 5e-4, lambda lib, s, lr, **kw: lib.Lion(s, lr=lr, **kw), "Lion"),
    Rule("proximal-sgd", 0.2,
         lambda lib, s, lr, **kw: lib.ProximalSGD(s, lr=lr, l1=1e-4, **kw),
         "ProximalSGD(l1=1e-4)"),
    Rule("proximal-adagrad", 0.05,
         lambda lib, s, lr, **kw: lib.ProximalAdagrad(s, lr=lr, l1=1e-4, **kw),
         "ProximalAdagrad(l1=1e-4)"),
    # Lookahead keeps float32 slow weights of its own; the state format is the inner rule's.
    Rule("lookahead", 2e-3,
         lambda lib, s, lr, **kw: lib.Lookahead(lib.Adam(s, lr=lr, **kw), k=5, alpha=0.5),
         "Lookahead(Adam, k=5, alpha=0.5)"),
]}

# --state-dtype: the optimizers' state options of each choice, and how titles say it.
STATE_DTYPES = {
    "float32": {},
    "bfloat16": {"state_dtype": "bfloat16", "state_rounding": "stochastic"},
    "bfloat16-nearest": {"state_dtype": "bfloat16", "state_rounding": "nearest"},
    "int8": {"state_dtype": "int8"},
}
STATE_TEXT = {"float32": "", "bfloat16": ", bfloat16 state (stochastic rounding)",
              "bfloat16-nearest": ", bfloat16 state (round to nearest)",
              "int8": ", int8 state (blocks of 256)"}
# --param-dtype: the weights' dtype, the optimizers' options for it, and how titles say it.
PARAM_DTYPES = {
    "float32": (np.float32, {}, ""),
    "bfloat16": (ml_dtypes.bfloat16, {"master_weights": "split"},
                 ", bfloat16 weights (split master)"),
    "bfloat16-stochastic": (ml_dtypes.bfloat16, {"master_weights": "none"},
                            ", bfloat16 weights (no master, stochastic rounding)"),
    "bfloat16-nearest": (ml_dtypes.bfloat16,
                         {"master_weights": "none", "state_rounding": "nearest"},
                         ", bfloat16 weights (no master, round to nearest)"),
    "float16": (np.float16, {"master_weights": "copy"}, ", float16 weights (float32 master)"),
}


# ---- data ------------------------------------------------------------------------------------
class Data(NamedTuple):
    """A classification dataset: training and validation rows (float32) and labels (int)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def classes(self) -> int:
        return int(max(self.y.max(), self.y_val.max())) + 1


def digits(seed: int) -> Data:
    """scikit-learn's bundled 8x8 digits, pixels scaled to [0, 1], split 80/20 at random."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("error: the digits dataset needs scikit-learn "
                         f"({INSTALL_HINT}), or pass --data DIR with MNIST IDX files") from None
    bunch = load_digits()
    x, y = (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = order[: len(y) // 5], order[len(y) // 5 :]
    return Data("digits", x[train], y[train], x[val], y[val])


def idx_dataset(directory: str) -> Data:
    """MNIST-style IDX files: train-* for training, t10k-* for validation."""
    try:
        x, y, x_val, y_val = load_mnist(directory)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: --data: {e}") from None
    return Data(f"IDX files in {directory}", x, y, x_val, y_val)


# ---- the network -----------------------------------------------------------------------------
def initial_weights(sizes: tuple, seed: int) -> list:
    """W1, b1, W2, b2 for tanh layers: normal weights scaled by 1/sqrt(fan-in), zero biases."""
    d_in, hidden, d_out = sizes
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((d_in, hidden)) / np.sqrt(d_in), np.zeros(hidden),
            rng.standard_normal((hidden, d_out)) / np.sqrt(hidden), np.zeros(d_out)]


class MLP:
    """x -> tanh(x W1 + b1) -> softmax(h W2 + b2). float32 parameters and gradients live in a
    FlatParams (``store``: what an optimizer takes; ``step_args`` is then empty); 16-bit ones
    are lists of arrays (``store`` is the parameters, ``step_args`` the gradients), and the
    passes compute in float32 from the 16-bit weights."""

    def __init__(self, weights: list, dtype=np.float32):
        if dtype == np.float32:
            self.store = fo.FlatParams(weights)
            self.params, self.grads = self.store.params, self.store.grads
            self.step_args: tuple = ()
        else:
            self.store = [np.asarray(w, np.float32).astype(dtype) for w in weights]
            self.params, self.grads = self.store, [np.zeros_like(w) for w in self.store]
            self.step_args = (self.grads,)
        # Where the backward pass writes: the gradients, or float32 arrays rounded into them.
        self._grads32 = [g if g.dtype == np.float32 else np.empty(g.shape, np.float32)
                         for g in self.grads]

    def _weights(self) -> list:
        return [p if p.dtype == np.float32 else p.astype(np.float32) for p in self.params]

    def _forward(self, x, weights=None):
        """(hidden activations, log-probabilities of the classes)."""
        W1, b1, W2, b2 = weights or self._weights()
        h = np.tanh(x @ W1 + b1)
        z = h @ W2 + b2
        z -= z.max(axis=1, keepdims=True)
        return h, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def compute_grads(self, x, y) -> None:
        """Writes d(mean cross-entropy)/d(param) into the store's gradient views."""
        weights = self._weights()
        W2 = weights[2]
        gW1, gb1, gW2, gb2 = self._grads32
        h, logp = self._forward(x, weights)
        d = np.exp(logp)  # softmax - one-hot, over the batch size
        d[np.arange(len(y)), y] -= 1.0
        d /= len(y)
        np.matmul(h.T, d, out=gW2)
        np.sum(d, axis=0, out=gb2)
        dh = d @ W2.T
        dh *= 1.0 - h * h
        np.matmul(x.T, dh, out=gW1)
        np.sum(dh, axis=0, out=gb1)
        for g, g32 in zip(self.grads, self._grads32):
            if g is not g32:  # rounded to the gradients' 16-bit dtype
                g[...] = g32

    def evaluate(self, x, y) -> tuple:
        """(mean cross-entropy, accuracy) on x, y."""
        _, logp = self._forward(x)
        return float(-logp[np.arange(len(y)), y].mean()), float((logp.argmax(axis=1) == y).mean())


# ---- training --------------------------------------------------------------------------------
class Progress:
    """A tqdm bar over the epochs of one run when `bar`; otherwise one plain line when the run
    ends (no carriage returns: what a log file or CI gets)."""

    def __init__(self, label: str, epochs: int, bar: bool):
        self.label = label
        self.bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=epochs, desc=label, unit="epoch")
        self.last = ""

    def update(self, loss: float, acc: float) -> None:
        self.last = f"loss {loss:.4f}, val acc {acc:.3f}"
        if self.bar is not None:
            self.bar.set_postfix_str(self.last, refresh=False)
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            print(f"{self.label}: {self.last}", flush=True)


def train(optimizer, model: MLP, data: Data, orders: list, batch_size: int,
          progress: Progress) -> dict:
    """Trains `model` one epoch per batch order; returns the curves (entry 0: before training),
    the seconds spent training, and the seconds of each ``optimizer.step()``."""
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}

    def record():
        for split, (x, y) in (("train", (data.x, data.y)), ("val", (data.x_val, data.y_val))):
            loss, acc = model.evaluate(x, y)
            history[f"{split}_loss"].append(loss)
            history[f"{split}_acc"].append(acc)

    record()
    train_s, step_s = 0.0, []
    rank, ranks = getattr(optimizer, "rank", 0), getattr(optimizer, "size", 1)
    for order in orders:
        start = time.perf_counter()
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            if ranks > 1:  # data-parallel: this rank's rows, weighted so that the average
                mine = batch[rank::ranks]  # over the ranks is the whole batch's mean
                model.compute_grads(data.x[mine], data.y[mine])
                _core.scale(model.grads, len(mine) * ranks / len(batch))
            else:
                model.compute_grads(data.x[batch], data.y[batch])
            t = time.perf_counter()
            optimizer.step(*model.step_args)
            step_s.append(time.perf_counter() - t)
        train_s += time.perf_counter() - start
        record()
        progress.update(history["train_loss"][-1], history["val_acc"][-1])
    progress.close()
    return {"history": history, "train_s": train_s, "step_s": step_s}


def summarize(name: str, lr: float, run: dict, target: float) -> dict:
    """The table's row for one run (final metrics, epochs to `target`, timings) plus curves.

    The step time is the median over steps: a step takes microseconds, so one preemption on a
    busy machine would otherwise dominate the mean.
    """
    h = run["history"]
    epochs = len(h["val_acc"]) - 1
    reached = [e for e in range(1, epochs + 1) if h["val_acc"][e] >= target]
    return {
        "name": name, "lr": lr,
        **{key: values[-1] for key, values in h.items()},
        "epochs_to_target": reached[0] if reached else None,
        "ms_per_epoch": 1e3 * run["train_s"] / epochs,
        "step_us": 1e6 * float(np.median(run["step_s"])),
        "step_share": sum(run["step_s"]) / run["train_s"],
        "history": h,
    }


def compare(result: dict, numpy_run: dict) -> dict:
    """NumPy's step time, the kernels' speedup, and how far apart the loss curves are."""
    diffs, rels = [], []
    for key in ("train_loss", "val_loss"):
        a, b = np.array(result["history"][key]), np.array(numpy_run["history"][key])
        diffs.append(np.abs(a - b).max())
        rels.append((np.abs(a - b) / np.abs(b)).max())
    numpy_step_us = 1e6 * float(np.median(numpy_run["step_s"]))
    return {"step_us": numpy_step_us, "speedup": numpy_step_us / result["step_us"],
            "max_abs_loss_diff": float(max(diffs)), "max_rel_loss_diff": float(max(rels)),
            "history": numpy_run["history"]}


# ---- output ----------------------------------------------------------------------------------
def table(results: list, target: float) -> tuple:
    """(headers, rows of strings) of the summary table; headers break in two lines, to keep the
    table narrow in a terminal."""
    headers = ["optimizer", "lr", "train\nloss", "train\nacc", "val\nloss", "val\nacc",
               f"epochs to\n{target:g}", "ms per\nepoch", "step\nµs", "in\nstep"]
    numpy = "numpy" in results[0]
    if numpy:
        headers += ["numpy\nstep µs", "speed-\nup", "max Δ\nloss"]
    rows = []
    for r in results:
        row = [r["name"], f"{r['lr']:g}", f"{r['train_loss']:.4f}", f"{r['train_acc']:.3f}",
               f"{r['val_loss']:.4f}", f"{r['val_acc']:.3f}",
               "-" if r["epochs_to_target"] is None else str(r["epochs_to_target"]),
               f"{r['ms_per_epoch']:.1f}", f"{r['step_us']:.1f}", f"{r['step_share']:.0%}"]
        if numpy:
            n = r["numpy"]
            row += [f"{n['step_us']:.1f}", f"{n['speedup']:.1f}x",
                    f"{n['max_abs_loss_diff']:.1e}"]
        rows.append(row)
    return headers, rows


def markdown(headers: list, rows: list) -> str:
    """A GitHub markdown table, numbers right-aligned."""
    lines = ["| " + " | ".join(h.replace("-\n", "").replace("\n", " ") for h in headers) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_table(headers: list, rows: list, use_rich: bool) -> None:
    """The table with rich, or as markdown."""
    if not use_rich:
        print("\n" + markdown(headers, rows))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD)
    for i, h in enumerate(headers):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        t.add_row(*row)
    # At its natural width, even where the terminal is narrower: wrapped lines beat cut numbers.
    console = Console()
    natural = console.measure(t, options=console.options.update_width(1000)).maximum
    console.width = max(console.width, natural)
    console.print(t, crop=False)


# The figure groups the rules by family, one column of panels each; rules not listed here (new
# ones) go to "Others".
FAMILIES = {
    "SGD family": ("sgd", "momentum", "nesterov", "proximal-sgd"),
    "Adagrad, RMSprop, Adadelta": ("adagrad", "proximal-adagrad", "rmsprop", "adadelta"),
    "Adam family": ("adam", "amsgrad", "adamw", "adamax", "nadam", "radam"),
    "Others": ("lion", "lookahead"),
}
# One colour and one marker per optimizer, the same in every panel (sixteen of each, then
# colours and markers repeat at different offsets); a family's colours are far apart in hue.
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",  # SGD family
          "#9467bd", "#8c564b", "#e377c2", "#17becf",  # Adagrad, RMSprop, Adadelta
          "#000000", "#bcbd22", "#4b0082", "#e6550d", "#7f7f7f", "#006d2c",  # Adam family
          "#b8860b", "#08519c", "#c51b7d", "#636363", "#74c476", "#fd8d3c"]  # Others
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "h", "*", "<", ">", "d", "p", "x", "H", "8"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]


def family_of(name: str) -> str:
    return next((f for f, names in FAMILIES.items() if name in names), "Others")


def format_lr(lr: float) -> str:
    """0.05 -> '0.05', 0.002 -> '2e-3', 0.0015 -> '1.5e-3': short, for legends."""
    if lr >= 0.01:
        return f"{lr:g}"
    mantissa, exponent = f"{lr:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def figure(results: list, title: str, target: float):
    """The figure of a study, as a matplotlib ``Figure`` (Agg, not pyplot: no GUI backend, no
    global state).

    Top: one column per optimizer family, training loss (log scale) over validation accuracy
    (zoomed on `target`, which is drawn and labelled) per epoch, a legend with the learning
    rates under each column. Bottom: the summary, epochs to reach `target` and the final
    validation accuracy per optimizer. Every optimizer has its own colour and marker.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    groups = {}
    for r in results:
        groups.setdefault(family_of(r["name"]), []).append(r)
    groups = {f: groups[f] for f in FAMILIES if f in groups}  # in the order of FAMILIES
    ordered = [r for rs in groups.values() for r in rs]
    style = {r["name"]: {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)]}
             for i, r in enumerate(ordered)}
    labels = {r["name"]: f"{r['name']} (lr={format_lr(r['lr'])})" for r in ordered}
    epochs = len(results[0]["history"]["train_loss"]) - 1
    every = max(1, round(epochs / 5))
    ncols = len(groups)
    longest = max(len(rs) for rs in groups.values())

    curves_h = 5.4 + 0.19 * (longest + 1)
    summary_h = 1.3 + 0.23 * (len(ordered) + len(groups) - 1)
    fig = Figure(figsize=(12.5, curves_h + summary_h), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[curves_h, summary_h], hspace=0.04)
    axes = top.subplots(2, ncols, sharex=True, sharey="row", squeeze=False)
    for col, (family, rs) in enumerate(groups.items()):
        ax_loss, ax_acc = axes[:, col]
        for j, r in enumerate(rs):
            h = r["history"]
            kw = {**style[r["name"]], "label": labels[r["name"]],
                  "linestyle": LINESTYLES[j % len(LINESTYLES)], "linewidth": 1.6,
                  "markersize": 7.5 if style[r["name"]]["marker"] == "*" else 5.5,
                  "markevery": (j % every, every)}
            ax_loss.plot(range(epochs + 1), h["train_loss"], **kw)
            ax_acc.plot(range(epochs + 1), h["val_acc"], **kw)
        ax_acc.axhline(target, color="0.35", linestyle=(0, (1, 1.5)), linewidth=1.2,
                       label=f"{target:g} val accuracy (target)")
        ax_loss.set_title(family, fontsize=11, fontweight="bold")
        ax_acc.set_xlabel("epoch")
        ax_acc.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=9.5,
                      frameon=False, handlelength=3.2)
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.set_xlim(0, epochs)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 5, 10]))
    axes[0, 0].set(yscale="log", ylabel="training loss\n(cross-entropy, log scale)")
    axes[1, 0].set(ylim=(max(0.0, target - 0.15), 1.0), ylabel="validation accuracy")
    top.suptitle("Training curves per optimizer family", fontsize=11)

    # Summary: one row per optimizer, grouped by family, a gap with the family's name between.
    ax_epochs, ax_final = bottom.subplots(1, 2, sharey=True)
    ticks, ticklabels, y = [], [], 0
    rows = []
    for family, rs in groups.items():
        if len(groups) > 1:
            ticks.append(y)
            ticklabels.append(family)
            y += 1
        for r in rs:
            rows.append((y, r))
            ticks.append(y)
            ticklabels.append(labels[r["name"]])
            y += 1
    finals = [r["val_acc"] for r in ordered]
    low = max(0.0, math.floor((min(min(finals), target) - 0.02) * 50) / 50)
    for y, r in rows:
        color = style[r["name"]]["color"]
        reached = r["epochs_to_target"]
        if reached is None:
            ax_epochs.text(0.2, y, f"not reached in {epochs} epochs", va="center",
                           fontsize=9.5, color="0.35", style="italic")
        else:
            ax_epochs.barh(y, reached, height=0.7, color=color, label=labels[r["name"]])
            ax_epochs.text(reached + 0.15, y, str(reached), va="center", fontsize=9.5)
        ax_final.hlines(y, low, r["val_acc"], color=color, linewidth=1.5, alpha=0.5)
        ax_final.plot(r["val_acc"], y, linestyle="none",
                      markersize=9.5 if style[r["name"]]["marker"] == "*" else 7,
                      label=labels[r["name"]], **style[r["name"]])
    ax_epochs.set_yticks(ticks, ticklabels, fontsize=10)
    for tick, text in zip(ax_epochs.get_yticklabels(), ticklabels):
        if text in groups:
            tick.set(fontweight="bold", fontstyle="italic")
    ax_epochs.set_ylim(len(ticks) - 0.4, -0.6)  # first row at the top
    ax_epochs.set_xlim(0, epochs + 1)
    ax_epochs.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax_epochs.set(xlabel="epochs (fewer is better)",
                  title=f"Epochs to reach {target:g} validation accuracy")
    ax_final.set_xlim(low, 1.0)
    ax_final.axvline(target, color="0.35", linestyle=(0, (1, 1.5)), linewidth=1.2,
                     label=f"{target:g} val accuracy (target)")
    ax_final.set(xlabel="validation accuracy (higher is better)",
                 title=f"Validation accuracy after {epochs} epoch{'s' if epochs > 1 else ''}"
                       f" (dotted: the {target:g} target)")
    values = ax_final.twinx()  # the values, in a column on the right
    values.set_ylim(ax_epochs.get_ylim())
    values.set_yticks([y for y, _ in rows], [f"{r['val_acc']:.3f}" for _, r in rows],
                      fontsize=10)
    values.tick_params(axis="y", length=0)
    for ax in (ax_epochs, ax_final):
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="y", length=0)
    bottom.suptitle("Summary", fontsize=11)
    fig.suptitle(title, fontsize=12.5, fontweight="bold")
    return fig


def save_figure(path: Path, results: list, title: str, target: float) -> None:
    """Writes :func:`figure` to `path` (PNG)."""
    figure(results, title, target).savefig(path, dpi=110)


def installed(module: str) -> bool:
    """Whether `module` can be imported (the demo does without tqdm, rich and matplotlib)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


# ---- command line ----------------------------------------------------------------------------
def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def parse_optimizers(text: str) -> list:
    """The names in a comma-separated --optimizers value, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in RULES:
            raise ValueError(f"--optimizers: unknown optimizer {name!r} "
                             f"(choose from {', '.join(RULES)})")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"--optimizers: each optimizer once, at least one (got {text!r})")
    return names


def parse_lrs(values: list) -> dict:
    """{optimizer: learning rate} from --lr values like ``adam=1e-3,sgd=0.1`` (repeatable)."""
    lrs = {}
    for pair in (p.strip() for v in values for p in v.split(",") if p.strip()):
        name, sep, text = (s.strip() for s in pair.partition("="))
        if not sep:
            raise ValueError(f"--lr {pair!r}: expected NAME=VALUE, e.g. adam=1e-3")
        if name not in RULES:
            raise ValueError(f"--lr {pair!r}: unknown optimizer {name!r} "
                             f"(choose from {', '.join(RULES)})")
        try:
            lr = float(text)
        except ValueError:
            raise ValueError(f"--lr {pair!r}: {text!r} is not a number") from None
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"--lr {pair!r}: the learning rate must be a positive number")
        lrs[name] = lr
    return lrs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m fastoptim.demo", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="optimizers, their default learning rates, and what they run:\n" + "\n".join(
            f"  {r.name:<17} lr={r.lr:<7g} {r.text}" for r in RULES.values()))
    ap.add_argument("--optimizers", default=",".join(RULES),
                    help="comma-separated names, run in this order (default: all)")
    ap.add_argument("--lr", action="append", default=[], metavar="NAME=LR[,NAME=LR...]",
                    help="override learning rates, e.g. --lr adam=3e-3,sgd=0.2 (repeatable)")
    ap.add_argument("--data", metavar="DIR",
                    help="train on MNIST-style IDX files in DIR (train-*/t10k-*, optionally "
                         ".gz) instead of scikit-learn's digits")
    ap.add_argument("--epochs", type=positive_int, default=20)
    ap.add_argument("--batch-size", type=positive_int, default=64)
    ap.add_argument("--hidden", type=positive_int, default=128, help="hidden units")
    ap.add_argument("--target", type=fraction, default=0.95,
                    help="validation accuracy for the 'epochs to' column (default 0.95)")
    ap.add_argument("--threads", type=positive_int, help="fastoptim kernel threads")
    ap.add_argument("--state-dtype", choices=list(STATE_DTYPES), default="float32",
                    help="how the optimizers store their state: float32 (default), bfloat16 "
                         "rounded stochastically (half the memory), bfloat16 rounded to "
                         "nearest even (for comparison), or int8 blocks (a quarter)")
    ap.add_argument("--param-dtype", choices=list(PARAM_DTYPES), default="float32",
                    help="the weights' (and gradients') dtype: float32 (default); bfloat16 with "
                         "exact float32 master weights (the optimizer keeps their low 16 bits); "
                         "bfloat16 without master, rounded stochastically or to nearest; "
                         "float16 with a float32 master copy")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the split, the initial weights, the batch order and the "
                         "stochastic rounding of bfloat16 state")
    ap.add_argument("--distributed", action="store_true",
                    help="data-parallel over MPI (launch with mpiexec -n N python -m mpi4py -m "
                         "fastoptim.demo --distributed): each rank computes the gradients of its "
                         "share of every batch, fastoptim.distributed averages them; rank 0 "
                         "reports (needs mpi4py: pip install \".[mpi]\")")
    ap.add_argument("--shard-state", action="store_true",
                    help="with --distributed: each rank keeps the optimizer state of its slice "
                         "of the parameters only (ZeRO-1)")
    ap.add_argument("--compare-numpy", action="store_true",
                    help="also train with pure-NumPy rules: step speedup, loss curve agreement")
    ap.add_argument("--out", default="fastoptim-demo", type=Path,
                    help="folder for curves.png, results.md, results.json "
                         "(default ./fastoptim-demo)")
    return ap


def parse_args(argv) -> tuple:
    """(args, optimizer names to run, {name: learning rate}); usage errors exit with a message."""
    ap = parser()
    args = ap.parse_args(argv)
    try:
        names = parse_optimizers(args.optimizers)
        lrs = {name: RULES[name].lr for name in names} | parse_lrs(args.lr)
    except ValueError as e:
        ap.error(str(e))
    if args.compare_numpy and (args.state_dtype != "float32" or args.param_dtype != "float32"):
        ap.error("--compare-numpy compares float32 state with the float32 NumPy rules: "
                 "drop it or use --state-dtype float32 --param-dtype float32")
    if args.shard_state and not args.distributed:
        ap.error("--shard-state shards the state over the ranks of --distributed")
    if args.distributed and (args.compare_numpy or args.param_dtype != "float32"):
        ap.error("--distributed steps float32 parameters with fastoptim's rules: drop "
                 "--compare-numpy and --param-dtype")
    if args.distributed and "lookahead" in names:
        if args.optimizers != ",".join(RULES):
            ap.error("--distributed: lookahead is not an element-wise rule that "
                     "fastoptim.distributed can wrap")
        names.remove("lookahead")
    if args.param_dtype != "float32" and "lookahead" in names:
        if args.optimizers != ",".join(RULES):
            ap.error("--param-dtype: lookahead keeps float32 slow weights and needs float32 "
                     "parameters")
        names.remove("lookahead")  # the default list, without it
    return args, names, lrs


def warm_up(model: MLP, data: Data, batch_size: int) -> None:
    """One untimed pass of forward/backward, so that the first optimizer's timings are not
    inflated by cold caches and BLAS start-up."""
    for i in range(0, len(data.y), batch_size):
        model.compute_grads(data.x[i : i + batch_size], data.y[i : i + batch_size])


def state_options(state_dtype: str, seed: int, param_dtype: str = "float32") -> dict:
    """The optimizers' keyword arguments for a --state-dtype and --param-dtype choice; bfloat16
    rounds with its own stream of random bits keyed on --seed (reduced to the optimizers' 32
    bits)."""
    options = {**STATE_DTYPES[state_dtype], **PARAM_DTYPES[param_dtype][1]}
    return {**options, "seed": seed % 2**32} if options else {}


def run_study(names: list, lrs: dict, data: Data, weights: list, args, bars: bool) -> list:
    """Trains an MLP from `weights` with each optimizer (and, with --compare-numpy, with its
    NumPy twin), all over the same batch orders; returns one summary per optimizer."""
    rng = np.random.default_rng(args.seed + 1)
    orders = [rng.permutation(len(data.y)) for _ in range(args.epochs)]
    warm_up(MLP(weights), data, args.batch_size)
    width = max(map(len, names)) + (len(" (numpy)") if args.compare_numpy else 0)
    state = state_options(args.state_dtype, args.seed, args.param_dtype)
    dtype = PARAM_DTYPES[args.param_dtype][0]
    results = []
    for name in names:
        rule, lr = RULES[name], lrs[name]
        model = MLP(weights, dtype)
        optimizer = rule.build(fo, model.store, lr, **state)
        if args.distributed:
            from fastoptim.distributed import DistributedOptimizer

            optimizer = DistributedOptimizer(optimizer, shard_state=args.shard_state)
        run = train(optimizer, model, data, orders, args.batch_size,
                    Progress(f"{name:<{width}}", args.epochs, bars))
        result = summarize(name, lr, run, args.target)
        if args.compare_numpy:
            model = MLP(weights)
            run = train(rule.build(_numpy_rules, model.store, lr), model, data, orders,
                        args.batch_size,
                        Progress(f"{name + ' (numpy)':<{width}}", args.epochs, bars))
            result["numpy"] = compare(result, run)
        results.append(result)
    return results


def print_numpy_summary(results: list) -> None:
    """One line: the worst loss-curve disagreement and the range of step speedups."""
    worst = max(results, key=lambda r: r["numpy"]["max_rel_loss_diff"])
    speedups = [r["numpy"]["speedup"] for r in results]
    print(f"NumPy rules vs fastoptim: loss curves agree to "
          f"{worst['numpy']['max_rel_loss_diff']:.1e} relative at worst ({worst['name']}); "
          f"optimizer step {min(speedups):.1f}x to {max(speedups):.1f}x faster with fastoptim")


def main(argv=None) -> dict:
    """Runs the study, prints the table and writes the results; returns results.json's content."""
    args, names, lrs = parse_args(argv)
    if args.distributed:
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() != 0:  # every rank trains; rank 0 reports
            args.out = None
            sys.stdout = open(os.devnull, "w")
    have = {m: installed(m) for m in ("tqdm", "rich", "matplotlib")}
    if args.threads:
        fo.set_num_threads(args.threads)
    data = idx_dataset(args.data) if args.data else digits(args.seed)
    sizes = (data.x.shape[1], args.hidden, data.classes)
    config = {
        "fastoptim": fo.__version__, "cpu_target": fo.cpu_target(),
        "threads": fo.get_num_threads(), "data": data.label, "train_rows": len(data.y),
        "validation_rows": len(data.y_val), "mlp": "-".join(map(str, sizes)) + " (tanh)",
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "target": args.target, "state_dtype": args.state_dtype,
        "param_dtype": args.param_dtype,
        "ranks": MPI.COMM_WORLD.Get_size() if args.distributed else 1,
        "shard_state": args.shard_state,
    }
    setup = (f"{data.label}: {len(data.y)} train / {len(data.y_val)} validation rows, "
             f"MLP {config['mlp']}, batch {args.batch_size}, {args.epochs} epoch"
             + ("s" if args.epochs > 1 else "") + STATE_TEXT[args.state_dtype]
             + PARAM_DTYPES[args.param_dtype][2]
             + (f", data-parallel over {config['ranks']} MPI ranks"
                + (" (state sharded)" if args.shard_state else "") if args.distributed else ""))
    threads = f"{config['threads']} thread" + ("s" if config["threads"] > 1 else "")
    title = f"fastoptim {config['fastoptim']} ({config['cpu_target']}, {threads}) on {setup}"
    print(title, flush=True)
    missing = [m for m, ok in have.items() if not ok]
    if missing:
        print(f"note: {', '.join(missing)} not installed: plain output"
              f"{'' if have['matplotlib'] else ', no figure'} ({INSTALL_HINT})", flush=True)

    # Bars only on a terminal: elsewhere (a log, CI, a pipe) tqdm's carriage returns are noise.
    bars = have["tqdm"] and sys.stderr.isatty()
    results = run_study(names, lrs, data, initial_weights(sizes, args.seed), args, bars)
    headers, rows = table(results, args.target)
    print_table(headers, rows, have["rich"])
    if args.compare_numpy:
        print_numpy_summary(results)

    report = {"config": config, "results": results}
    if args.out is None:  # a rank other than 0
        return report
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "results.md", args.out / "results.json"]
    written[0].write_text(f"{title}\n\n{markdown(headers, rows)}")
    written[1].write_text(json.dumps(report, indent=1) + "\n")
    if have["matplotlib"]:
        written.append(args.out / "curves.png")
        what = (f"{len(results)} optimizer{'s' if len(results) > 1 else ''} (fastoptim "
                f"{config['fastoptim']}) training one MLP from the same initial weights on "
                f"the same batches")
        save_figure(written[-1], results, f"{what}\n{setup}", args.target)
    print("wrote " + ", ".join(map(str, written)))
    return report


if __name__ == "__main__":
    main()
