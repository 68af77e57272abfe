"""Why stochastic rounding: bfloat16 weights at a small learning rate, rounded to nearest, stall.

Trains the demo's MLP (digits) with Adam and SGD at small learning rates for 30 epochs, with
float32 weights, and bfloat16 weights kept three ways: with exact master weights (the optimizer
keeps the low 16 bits), without a master rounded stochastically, and without a master rounded
to nearest. Writes docs/rounding-stall.png:

    python docs/examples/rounding_stall.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

from fastoptim import demo

RUNS = [("float32", "float32 weights", "0.3", "-"),
        ("bfloat16", "bfloat16 weights, split master (exact)", "#1f77b4", "--"),
        ("bfloat16-stochastic", "bfloat16 weights, no master, stochastic rounding", "#2ca02c",
         "-."),
        ("bfloat16-nearest", "bfloat16 weights, no master, round to nearest", "#d62728", ":")]
OPTIMIZERS = {"adam": 2e-4, "sgd": 0.02}


def main(out: Path) -> None:
    lr = ",".join(f"{name}={value}" for name, value in OPTIMIZERS.items())
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, *_ in RUNS:
            report = demo.main(["--optimizers", ",".join(OPTIMIZERS), "--lr", lr,
                                "--epochs", "30", "--param-dtype", dtype,
                                "--out", str(Path(tmp) / dtype)])
            curves[dtype] = {r["name"]: r["history"]["train_loss"] for r in report["results"]}
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, len(OPTIMIZERS), sharey=True)
    for ax, (name, value) in zip(axes, OPTIMIZERS.items()):
        for dtype, label, color, style in RUNS:
            ax.plot(curves[dtype][name], color=color, linestyle=style, linewidth=2, label=label)
        ax.set(title=f"{'Adam' if name == 'adam' else 'SGD'}, lr={value:g}", xlabel="epoch",
               yscale="log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training loss (log scale)")
    axes[0].legend(fontsize=9, loc="lower left")
    fig.suptitle("Small updates to bfloat16 weights: rounding to nearest loses them, "
                 "stochastic rounding keeps them on average (digits MLP)", fontsize=11)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         Path(__file__).resolve().parent.parent / "rounding-stall.png")
