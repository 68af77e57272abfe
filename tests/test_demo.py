"""The demo trains for real: every optimizer learns the spirals well above chance (1/3)."""

from __future__ import annotations

from fastoptim import demo


def test_demo_trains_every_optimizer(capsys):
    demo.main(["--epochs", "8"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [r[0] for r in rows] == list(demo.OPTIMIZERS)
    for r in rows:
        loss, val_acc = float(r[1]), float(r[3])
        assert loss < 0.6 and val_acc > 0.75, r
