"""The demo (``python -m fastoptim.demo``): it trains, writes its results, reads IDX files, and
its NumPy rules compute what the kernels compute."""

from __future__ import annotations

import gzip
import json
import math
import sys

import ml_dtypes
import numpy as np
import pytest

import fastoptim as fo
from conftest import CORE_CONFIGS, assert_close, config_id
from fastoptim import _numpy_rules, demo
from fastoptim.idx import load_mnist, read_idx

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.float32): 0x0D}


def write_idx(path, array, gz=False, header=None):
    """Writes `array` as an IDX file (its own header unless `header` replaces it)."""
    a = np.asarray(array)
    if header is None:
        header = bytes([0, 0, IDX_CODES[a.dtype], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    data = header + a.astype(a.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def block(monkeypatch, *packages):
    """Makes `packages` (and their already imported submodules) fail to import."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            monkeypatch.setitem(sys.modules, name, None)
    for name in packages:
        monkeypatch.setitem(sys.modules, name, None)


def check_report(report, names, epochs):
    """Sane rows: one per optimizer, in order; accuracies in [0, 1]; finite losses."""
    assert [r["name"] for r in report["results"]] == names
    for r in report["results"]:
        for key, curve in r["history"].items():
            assert len(curve) == epochs + 1, key
            if key.endswith("acc"):
                assert all(0.0 <= a <= 1.0 for a in curve), (r["name"], key)
            else:
                assert all(math.isfinite(x) and x > 0 for x in curve), (r["name"], key)
        assert r["val_acc"] == r["history"]["val_acc"][-1]
        assert r["ms_per_epoch"] > 0 and r["step_us"] > 0 and 0 < r["step_share"] < 1


# ---- the demo --------------------------------------------------------------------------------
def test_demo_writes_figure_table_and_json(tmp_path, capsys):
    report = demo.main(["--epochs", "1", "--optimizers", "sgd,adam", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    check_report(report, ["sgd", "adam"], epochs=1)
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads((tmp_path / "results.json").read_text()) == report
    table = (tmp_path / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows] == ["optimizer", "sgd", "adam"]
    assert "sgd" in out and "adam" in out and "digits" in out


def test_every_rule_trains_digits_well(tmp_path, capsys):
    """Each rule's default learning rate reaches 0.95 validation accuracy in a few epochs."""
    report = demo.main(["--epochs", "8", "--out", str(tmp_path)])
    check_report(report, list(demo.RULES), epochs=8)
    for r in report["results"]:
        assert max(r["history"]["val_acc"]) >= 0.9 and r["train_loss"] < 0.5, r["name"]


def test_demo_without_optional_packages(tmp_path, capsys, monkeypatch):
    block(monkeypatch, "tqdm", "rich", "matplotlib")
    report = demo.main(["--epochs", "1", "--optimizers", "momentum", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    check_report(report, ["momentum"], epochs=1)
    assert "note: tqdm, rich, matplotlib not installed: plain output, no figure" in out
    assert "| momentum |" in out  # the markdown table stands in for rich's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]


def test_progress_bars_only_on_a_terminal(tmp_path, capsys, monkeypatch):
    """Under pytest stderr is no terminal: one plain line per optimizer, no carriage returns;
    with a terminal, tqdm's bars."""
    pytest.importorskip("tqdm")
    argv = ["--epochs", "2", "--optimizers", "sgd,adam", "--out", str(tmp_path)]
    demo.main(argv)
    captured = capsys.readouterr()
    assert "\r" not in captured.out + captured.err
    plain = [line for line in captured.out.splitlines() if ": loss " in line]
    assert [line.split(":")[0].strip() for line in plain] == ["sgd", "adam"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    demo.main(argv)
    captured = capsys.readouterr()
    assert "\r" in captured.err and "2/2" in captured.err
    assert ": loss " not in captured.out


# ---- the figure ------------------------------------------------------------------------------
def fake_results(names, epochs=20, target=0.95):
    """Summaries of made-up runs (no training): optimizer i reaches `target` after i % 7 + 1
    epochs; the last one never does."""
    results = []
    for i, name in enumerate(names):
        e = np.arange(epochs + 1)
        reach = epochs + 5 if i == len(names) - 1 else i % 7 + 1
        acc = np.minimum(0.99, 0.1 + (target + 0.005 - 0.1) * e / reach) - 0.001 * i
        loss = 2.3 * np.exp(-e / (3 + i % 5))
        h = {"train_loss": list(loss + 0.05), "train_acc": list(acc), "val_loss": list(loss + 0.1),
             "val_acc": list(acc)}
        lr = demo.RULES[name].lr if name in demo.RULES else 1e-3
        results.append(demo.summarize(name, lr, {"history": h, "train_s": 1.0, "step_s": [1e-3]},
                                      target))
    return results


def curve_lines(ax):
    """The optimizers' lines of an axes (those with a marker: the target line has none)."""
    return [line for line in ax.get_lines() if line.get_marker() not in (None, "None", "")]


def test_figure_groups_optimizers_by_family_with_a_summary():
    pytest.importorskip("matplotlib")
    names = list(demo.RULES)
    results = fake_results(names)
    fig = demo.figure(results, "16 optimizers training an MLP", 0.95)
    assert fig._suptitle.get_text() == "16 optimizers training an MLP"
    axes = {ax.get_title(): ax for ax in fig.get_axes() if ax.get_title()}
    families = ["SGD family", "Adagrad, RMSprop, Adadelta", "Adam family", "Others"]
    assert all(f in axes for f in families), list(axes)

    # Every optimizer is drawn once per curve panel, with its own colour, marker and lr.
    loss_axes = [axes[f] for f in families]
    acc_axes = [ax for ax in fig.get_axes() if ax.get_legend() is not None]
    assert len(acc_axes) == len(families)
    seen = {}
    for ax in loss_axes + acc_axes:
        lines = curve_lines(ax)
        styles = [(line.get_color(), line.get_marker()) for line in lines]
        assert len(set(styles)) == len(styles)
        for line in lines:
            seen.setdefault(line.get_label(), set()).add((line.get_color(), line.get_marker()))
            markevery = line.get_markevery()
            assert isinstance(markevery, tuple) and markevery[1] >= 2  # not a marker per point
    assert sorted(seen) == sorted(f"{r['name']} (lr={demo.format_lr(r['lr'])})"
                                  for r in results)
    assert all(len(s) == 1 for s in seen.values())  # the same style in every panel
    assert len({s for (s,) in seen.values()}) == len(names)
    assert len({c for ((c, _),) in seen.values()}) == len(names)  # 16 colours
    assert len({m for ((_, m),) in seen.values()}) == len(names)  # 16 markers
    assert "adam (lr=2e-3)" in seen and "sgd (lr=0.2)" in seen

    # The target line is drawn and labelled in each accuracy panel, and listed in its legend.
    for ax in acc_axes:
        target = [line for line in ax.get_lines() if line not in curve_lines(ax)]
        assert [line.get_label() for line in target] == ["0.95 val accuracy (target)"]
        assert list(target[0].get_ydata()) == [0.95, 0.95]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend[-1] == "0.95 val accuracy (target)"
        assert all("lr=" in text for text in legend[:-1])
        assert ax.get_ylabel() in ("validation accuracy", "") and ax.get_xlabel() == "epoch"

    # The summary: one bar per optimizer that reached the target, the final accuracies.
    bars = axes["Epochs to reach 0.95 validation accuracy"]
    assert bars.get_xlabel().startswith("epochs")
    assert sorted(p.get_width() for p in bars.patches) == sorted(
        r["epochs_to_target"] for r in results if r["epochs_to_target"] is not None)
    assert "not reached in 20 epochs" in [t.get_text() for t in bars.texts]
    labels = [t.get_text() for t in bars.get_yticklabels()]
    assert labels[0] == "SGD family" and "lookahead (lr=2e-3)" in labels
    final = axes["Validation accuracy after 20 epochs (dotted: the 0.95 target)"]
    assert final.get_xlabel().startswith("validation accuracy")
    assert len(curve_lines(final)) == len(names)


def test_figure_reads_at_readme_width_without_overlaps(monkeypatch):
    """About 1000-1400 pixels wide as saved; no text drawn overlaps other text or leaves the
    figure, no legend covers an axes."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    drawn, draw = [], Text.draw

    def record(text, renderer):
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)
        return draw(text, renderer)

    fig = demo.figure(fake_results(list(demo.RULES)), "title\nsetup", 0.95)
    fig.set_dpi(110)  # as save_figure writes it
    canvas = FigureCanvasAgg(fig)
    monkeypatch.setattr(Text, "draw", record)
    canvas.draw()
    assert 1000 <= fig.bbox.width <= 1400 and len(drawn) > 100
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]
    for i, (s, a) in enumerate(boxes):
        assert fig.bbox.contains(a.x0, a.y0) and fig.bbox.contains(a.x1, a.y1), s
        for u, b in boxes[i + 1 :]:
            assert not a.shrunk(0.98, 0.9).overlaps(b.shrunk(0.98, 0.9)), (s, u)
    legends = [ax.get_legend().get_window_extent(renderer) for ax in fig.get_axes()
               if ax.get_legend() is not None]
    for legend in legends:
        assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
        for ax in fig.get_axes():
            assert not legend.overlaps(ax.get_window_extent(renderer))


def test_figure_of_a_few_optimizers_and_unknown_names():
    """Only the families present get a column; a rule of no known family joins "Others"."""
    pytest.importorskip("matplotlib")
    results = fake_results(["adam", "sgd", "brand-new"], epochs=1)
    fig = demo.figure(results, "title", 0.95)
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert [t for t in titles if t in ("SGD family", "Adam family", "Others")] == [
        "SGD family", "Adam family", "Others"]
    assert "Adagrad, RMSprop, Adadelta" not in titles


# ---- bfloat16 optimizer state ----------------------------------------------------------------
# Rules with state of each kind: a momentum buffer, a running sum, moving averages of g and g^2
# (rmsprop, adam), and Lookahead, whose inner Adam takes the state format.
BF16_RULES = ["momentum", "adagrad", "rmsprop", "adam", "lookahead"]


@pytest.mark.parametrize("options, title", [
    (["--state-dtype", "bfloat16"], "bfloat16 state (stochastic rounding)"),
    (["--state-dtype", "int8"], "int8 state (blocks of 256)"),
    (["--param-dtype", "bfloat16"], "bfloat16 weights (split master)"),
    (["--param-dtype", "bfloat16", "--state-dtype", "int8"], "int8 state"),
], ids=["bf16-state", "int8-state", "bf16-params", "bf16-params-int8-state"])
def test_low_precision_reaches_the_float32_accuracy(options, title, tmp_path, capsys,
                                                    monkeypatch, target):
    """bfloat16 state rounded stochastically, int8 state, bfloat16 weights with split master
    weights: the validation accuracy after 20 epochs is the float32 run's within 0.5 points
    (under 2 of digits' 359 validation rows; int8 state: see below), on every SIMD target."""
    block(monkeypatch, "matplotlib")  # no figure: a second per run saved
    rules = [r for r in BF16_RULES if "--param-dtype" not in options or r != "lookahead"]
    argv = ["--epochs", "20", "--optimizers", ",".join(rules)]
    fp32 = demo.main(argv + ["--out", str(tmp_path / "fp32")])
    low = demo.main(argv + options + ["--out", str(tmp_path / "low")])
    assert title in capsys.readouterr().out
    assert low["config"]["cpu_target"] == target
    check_report(low, rules, epochs=20)
    # int8 state: Adam's runs end 2 validation rows (0.56 points) under float32's, with a lower
    # validation loss; allowed 2 rows, and no worse loss.
    int8 = "int8" in options
    for a, b in zip(fp32["results"], low["results"]):
        allowed = 2 / 359 + 1e-9 if int8 else 0.005
        assert b["val_acc"] >= a["val_acc"] - allowed, (a["name"], a["val_acc"], b["val_acc"])
        if int8:
            assert b["val_loss"] <= 1.05 * a["val_loss"], (a["name"], a["val_loss"], b["val_loss"])
        assert b["val_acc"] >= 0.95, a["name"]
        # The formats really were used: the curves part from the float32 ones.
        assert b["history"]["train_loss"] != a["history"]["train_loss"], a["name"]


def test_bfloat16_weights_rounded_to_nearest_stall_and_stochastic_rounding_does_not(
        tmp_path, monkeypatch):
    """Adam at a small learning rate on bfloat16 weights without master weights: most updates
    are under half a bfloat16 spacing, so rounding to nearest drops them and training stalls;
    stochastic rounding keeps them on average and follows the exact (split) run."""
    block(monkeypatch, "matplotlib")
    loss = {}
    for dtype in ("bfloat16", "bfloat16-stochastic", "bfloat16-nearest"):
        report = demo.main(["--epochs", "10", "--optimizers", "adam", "--lr", "adam=2e-4",
                            "--param-dtype", dtype, "--out", str(tmp_path / dtype)])
        loss[dtype] = report["results"][0]["train_loss"]
    assert abs(loss["bfloat16-stochastic"] - loss["bfloat16"]) < 0.02 * loss["bfloat16"]
    assert loss["bfloat16-nearest"] > 1.3 * loss["bfloat16"]  # 1.97 against 1.36


@pytest.mark.parametrize("choice, dtype, rounding", [
    ("bfloat16", ml_dtypes.bfloat16, "stochastic"),
    ("bfloat16-nearest", ml_dtypes.bfloat16, "nearest"),
    ("float32", np.float32, "stochastic"),
])
def test_state_dtype_choices_reach_every_optimizer(choice, dtype, rounding):
    state = demo.state_options(choice, seed=-1)
    assert state.get("seed", 2**32 - 1) == 2**32 - 1  # negative --seed values are fine
    for name, rule in demo.RULES.items():
        model = demo.MLP(demo.initial_weights((6, 5, 3), 0))
        opt = rule.build(fo, model.store, rule.lr, **state)
        inner = getattr(opt, "optimizer", opt)  # Lookahead passes it to its inner Adam
        assert inner.state_dtype == np.dtype(dtype).name, name
        assert inner._state_rounding == rounding, name
        model.store.grad[...] = 0.1
        opt.step()
        for entry in inner.state.values():
            for key, value in entry.items():
                if isinstance(value, np.ndarray):
                    assert value.dtype == dtype, (name, key)


@pytest.mark.parametrize("lr, text", [(0.2, "0.2"), (0.05, "0.05"), (1.0, "1"),
                                      (2e-3, "2e-3"), (5e-4, "5e-4"), (1.5e-3, "1.5e-3")])
def test_learning_rates_in_legends_are_short(lr, text):
    assert demo.format_lr(lr) == text


def test_digits_without_scikit_learn_is_a_clear_error(tmp_path, monkeypatch):
    block(monkeypatch, "sklearn")
    with pytest.raises(SystemExit, match="digits dataset needs scikit-learn.*--data DIR"):
        demo.main(["--epochs", "1", "--out", str(tmp_path)])


def test_compare_numpy_gives_the_same_loss_curves(tmp_path, capsys):
    names = ["nesterov", "adam", "lookahead"]
    report = demo.main(["--epochs", "2", "--optimizers", ",".join(names), "--compare-numpy",
                        "--out", str(tmp_path)])
    assert "NumPy rules vs fastoptim: loss curves agree" in capsys.readouterr().out
    check_report(report, names, epochs=2)
    for r in report["results"]:
        n = r["numpy"]
        for key in ("train_loss", "val_loss", "val_acc"):
            np.testing.assert_allclose(n["history"][key], r["history"][key], rtol=1e-5)
        assert n["max_rel_loss_diff"] < 1e-5 and n["step_us"] > 0 and n["speedup"] > 0
    assert "max Δ loss" in (tmp_path / "results.md").read_text()


# ---- command line ----------------------------------------------------------------------------
def test_lr_values_parse_and_override_defaults(tmp_path, capsys):
    assert demo.parse_lrs(["adam=3e-3, sgd=0.5", "lion=1e-4"]) == {
        "adam": 3e-3, "sgd": 0.5, "lion": 1e-4}
    report = demo.main(["--epochs", "1", "--optimizers", "adam,sgd", "--lr", "adam=3e-3",
                        "--out", str(tmp_path)])
    assert [r["lr"] for r in report["results"]] == [3e-3, demo.RULES["sgd"].lr]


@pytest.mark.parametrize("argv, message", [
    (["--lr", "adamm=1e-3"], "unknown optimizer 'adamm'"),
    (["--lr", "adam=fast"], "'fast' is not a number"),
    (["--lr", "adam=-1e-3"], "must be a positive number"),
    (["--lr", "adam=nan"], "must be a positive number"),
    (["--lr", "adam"], "expected NAME=VALUE"),
    (["--optimizers", "adam,sgdd"], "unknown optimizer 'sgdd'"),
    (["--optimizers", "adam,adam"], "each optimizer once"),
    (["--epochs", "0"], "must be >= 1"),
    (["--state-dtype", "int4"], "invalid choice: 'int4'"),
    (["--param-dtype", "float64"], "invalid choice: 'float64'"),
    (["--param-dtype", "bfloat16", "--optimizers", "adam,lookahead"], "lookahead keeps"),
    (["--param-dtype", "float16", "--compare-numpy"], "--compare-numpy compares float32"),
    (["--state-dtype", "bfloat16", "--compare-numpy"], "--compare-numpy compares float32"),
])
def test_bad_arguments_are_clear_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(argv + ["--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# ---- the IDX reader --------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_read_idx_round_trips(tmp_path, gz, dtype):
    values = {np.uint8: np.arange(60) * 4, np.int16: np.arange(60) * -500,
              np.float32: np.linspace(-1.0, 1.0, 60)}[dtype]
    a = values.astype(dtype).reshape(5, 4, 3)  # values that byte order would garble
    got = read_idx(write_idx(tmp_path / "x-idx3-ubyte", a, gz=gz))
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    labels = np.array([3, 0, 9, 255, 1], np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "y", labels, gz=gz)), labels)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x08", "too short for an IDX header"),
    (b"\x01\x00\x08\x01" + bytes(8), "not an IDX file"),
    (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),
    (b"\x00\x00\x08\x00", "not an IDX file"),
    (b"\x00\x00\x08\x03" + bytes(6), "header truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05" + bytes(4),
     r"shape \(5,\) \(uint8\) needs 5 bytes, the file has 4"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05" + bytes(6), "needs 5 bytes, the file has 6"),
    (b"\x00\x00\x0b\x01\x00\x00\x00\x02" + bytes(2), r"int16\) needs 4 bytes"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip data"),
])
def test_read_idx_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as exc:
        read_idx(path)
    assert str(path) in str(exc.value)


def test_read_idx_rejects_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x04abcd")[:-6])
    with pytest.raises(ValueError, match="corrupt gzip data"):
        read_idx(path)


def mnist_like(directory, n_train=90, n_test=30, side=6):
    """A tiny MNIST-layout dataset (3 classes; class k lights row k), train gzipped, t10k not."""
    directory.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", n_train, True), ("t10k", n_test, False)):
        y = (np.arange(n) % 3).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, side, side)).astype(np.uint8)
        x[np.arange(n), y, :] = 255
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", x, gz=gz)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", y, gz=gz)
    return directory


def test_load_mnist_reads_gzipped_and_plain_splits(tmp_path):
    x, y, xt, yt = load_mnist(mnist_like(tmp_path))
    assert x.shape == (90, 36) and xt.shape == (30, 36) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(y[:4], [0, 1, 2, 0])
    assert y.dtype == yt.dtype == np.int64


def test_load_mnist_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte or "
                                                "train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)
    mnist_like(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(29, np.uint8))
    with pytest.raises(ValueError, match="30 t10k images but 29 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((30, 1), np.uint8))
    with pytest.raises(ValueError, match=r"t10k labels must be uint8 of shape \(n,\)"):
        load_mnist(tmp_path)


def test_demo_trains_on_idx_files(tmp_path, capsys):
    data = mnist_like(tmp_path / "data")
    report = demo.main(["--data", str(data), "--epochs", "2", "--optimizers", "adam",
                        "--hidden", "8", "--batch-size", "16", "--out", str(tmp_path / "out")])
    check_report(report, ["adam"], epochs=2)
    assert report["config"]["mlp"] == "36-8-3 (tanh)" and report["config"]["train_rows"] == 90


def test_demo_reports_bad_idx_data(tmp_path):
    with pytest.raises(SystemExit, match="error: --data: .*no train-images-idx3-ubyte"):
        demo.main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])


# ---- the NumPy rules -------------------------------------------------------------------------
def numpy_twin(name, config):
    """The NumPy rule for a fastoptim rule and config (maximize is fastoptim's alone)."""
    return getattr(_numpy_rules, name), {k: v for k, v in config.items() if k != "maximize"}


@pytest.mark.parametrize("name, config", CORE_CONFIGS,
                         ids=[config_id(n, c) for n, c in CORE_CONFIGS])
def test_numpy_rules_step_like_the_kernels(name, config):
    numpy_cls, numpy_config = numpy_twin(name, config)
    rng = np.random.default_rng(1)
    init = [rng.standard_normal((37, 11)), rng.standard_normal(29)]  # not a whole vector
    native, plain = fo.FlatParams(init), fo.FlatParams(init)
    opt = getattr(fo, name)(native, lr=0.01, **numpy_config)
    twin = numpy_cls(plain, lr=0.01, **numpy_config)
    for _ in range(25):
        native.grad[...] = plain.grad[...] = rng.standard_normal(native.grad.size)
        opt.step()
        twin.step()
    assert_close(plain.data, native.data, err_msg=f"{name} {config}")


def test_numpy_lookahead_steps_like_the_native_one():
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(100)]
    native, plain = fo.FlatParams(init), fo.FlatParams(init)
    opt = fo.Lookahead(fo.Adam(native, lr=0.01), k=3, alpha=0.5)
    twin = _numpy_rules.Lookahead(_numpy_rules.Adam(plain, lr=0.01), k=3, alpha=0.5)
    for _ in range(10):
        native.grad[...] = plain.grad[...] = rng.standard_normal(100)
        opt.step()
        twin.step()
    assert_close(plain.data, native.data)
