"""``python -m fastoptim.bench``, the installed microbenchmark: a tiny run end to end (table,
JSON, PNG), its errors, the parsing of its options and the agreement check of its contenders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fastoptim import bench

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One run as a user would type it: the smallest case, through ``python -m``."""
    return smallest_run(tmp_path_factory.mktemp("bench"))


def smallest_run(out, *options):
    """`python -m fastoptim.bench` on Adam at 2^12, 1 thread, writing to `out`."""
    proc = subprocess.run(
        [sys.executable, "-m", "fastoptim.bench", "--quick", "--rules", "adam", "--sizes", "12",
         "--threads", "1", *options, "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def test_run_prints_the_table(quick_run):
    proc, out = quick_run
    text = proc.stdout
    assert "Agreement: after 5 steps" in text
    assert "## Adam (lr=0.001" in text
    header = next(line for line in text.splitlines() if line.startswith("| size"))
    for column in ("ceiling (GB/s)", "fastoptim", "NumPy in-place", "NumPy textbook",
                   "× in-place", "× textbook"):
        assert column in header
    row = next(line for line in text.splitlines() if line.startswith("| 2^12"))
    assert "%" in row and "×" in row
    assert (out / "results.md").read_text() == text.rstrip("\n") + "\n"


def test_run_writes_the_json(quick_run):
    _, out = quick_run
    doc = json.loads((out / "results.json").read_text())
    assert {"cpu", "cores", "fastoptim", "cpu_target", "numpy", "torch", "date"} <= set(
        doc["machine"])
    cfg = doc["config"]
    assert (cfg["rules"], cfg["sizes"], cfg["threads"], cfg["quick"]) == (["adam"], [4096], [1],
                                                                          True)
    assert cfg["bytes_per_elem"] == {"adam": 28} and cfg["state_arrays"] == {"adam": 2}
    assert cfg["hyperparameters"]["adam"]["lr"] == 1e-3
    assert cfg["command"].startswith("python -m fastoptim.bench --quick")
    (row,) = doc["results"]
    assert (row["rule"], row["n"], row["threads"]) == ("adam", 4096, 1)
    expected = {"fastoptim", "numpy_inplace", "numpy_textbook", "ceiling"}
    if doc["machine"]["torch"]:
        expected |= {"torch_default", "torch_fused"}  # torch has a fused CPU Adam
    assert set(row["median_s"]) == expected
    for k, s in row["median_s"].items():
        assert s > 0
        assert row["gelem_s"][k] == pytest.approx(4096 / s / 1e9)
        assert len(row["samples_s"][k]) == row["reps"] >= bench.QUICK.min_reps
    assert row["pct_of_ceiling"]["ceiling"] == pytest.approx(100)
    assert set(row["speedup"]) == expected - {"fastoptim", "ceiling"}
    assert set(doc["agreement"]["max_abs_diff"]["adam"]) == expected - {"fastoptim", "ceiling"}


def test_run_draws_the_png(quick_run):
    pytest.importorskip("matplotlib")
    _, out = quick_run
    data = (out / "results.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("--rules", "--sizes", "--threads", "--quick", "--out", "ceiling",
                 "NumPy textbook", "ProximalAdagrad", "--state-dtype", "bfloat16-nearest",
                 "fastoptim fp32"):
        assert word in text


@pytest.mark.parametrize("rules, message", [
    ("adam,foo", "unknown rule 'foo'; valid rules: SGD, Adam, AdamW"),
    ("lbfgs", "LBFGS is not an element-wise rule"),
    (",", "no rules given"),
])
def test_bad_rules_exit_with_a_clear_message(capsys, rules, message):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--rules", rules])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "big"], "bad size 'big'"),
    (["--threads", "0"], "thread counts of at least 1"),
    (["--sizes", "2^40"], "choose smaller --sizes"),
    (["--state-dtype", "int8"], "invalid choice: 'int8'"),
])
def test_bad_sizes_and_threads_exit_with_a_clear_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_rules_are_case_insensitive():
    assert bench.parse_rules("ADAM, Proximal_SGD,adam,rmsProp") == ["adam", "proximalsgd",
                                                                   "rmsprop"]
    assert bench.parse_rules("all") == list(bench.RULES)


def test_sizes_are_exponents_or_counts():
    assert bench.parse_sizes("20, 2^5,1000,2**3,20") == [8, 32, 1000, 2**20]


def test_every_numpy_implementation_agrees_with_fastoptim():
    torch = bench._import_torch()
    diffs = bench.check_agreement(list(bench.RULES), torch)
    assert set(diffs) == set(bench.RULES)
    for rule, per in diffs.items():
        assert {"numpy_inplace", "numpy_textbook"} <= set(per)
        if torch is not None and bench.RULES[rule].torch:
            assert "torch_default" in per
        assert max(per.values()) < 1e-5, (rule, per)


def test_agreement_check_catches_a_wrong_implementation(monkeypatch):
    class WrongAdam(bench.TextbookAdam):  # bias correction of the second moment forgotten
        def update(self, p, g, t):
            b1, b2 = self.betas
            self.m = b1 * self.m + (1 - b1) * g
            self.v = b2 * self.v + (1 - b2) * g * g
            p -= self.lr * self.m / (1 - b1**t) / (bench.np.sqrt(self.v) + self.eps)

    monkeypatch.setitem(bench.RULES, "adam", bench.RULES["adam"]._replace(textbook=WrongAdam))
    with pytest.raises(bench.AgreementError, match="Adam: NumPy textbook differs from fastoptim"):
        bench.check_agreement(["adam"])


def test_runs_without_torch_and_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert bench.main(["--quick", "--rules", "sgd", "--sizes", "8", "--threads", "1",
                       "--budget", "0.01", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "Note: torch is not installed: the torch columns are skipped" in captured.out
    assert "torch default" not in captured.out.split("## SGD")[1]
    assert "matplotlib is not installed, so no results.png" in captured.err
    assert not (tmp_path / "results.png").exists()
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["machine"]["torch"] is None
    assert set(doc["results"][0]["median_s"]) == {"fastoptim", "numpy_inplace", "numpy_textbook",
                                                  "ceiling"}


# ---- --state-dtype: fastoptim with bfloat16 state --------------------------------------------

@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """The smallest run with bfloat16 state (rounded stochastically), through ``python -m``."""
    return smallest_run(tmp_path_factory.mktemp("bench_bf16"), "--state-dtype", "bfloat16")


def test_bfloat16_run_prints_its_bytes_and_the_fp32_speedup(bf16_run):
    proc, out = bf16_run
    text = proc.stdout
    assert "fastoptim with bfloat16 state, rounded stochastically, is within" in text
    assert "fastoptim keeps bfloat16 state, rounded stochastically (2 bytes" in text
    # Adam: p, g read, p written (12 B) and two bfloat16 state arrays read and written (8 B).
    assert ("20 B/elem moved (fastoptim fp32: 28), 4 B of state per parameter (fp32: 8)"
            in text)
    header = next(line for line in text.splitlines() if line.startswith("| size"))
    for column in ("ceiling (GB/s)", "fastoptim", "fastoptim fp32", "× fp32", "× in-place"):
        assert column in header
    assert (out / "results.md").read_text() == text.rstrip("\n") + "\n"


def test_bfloat16_run_writes_the_json(bf16_run):
    _, out = bf16_run
    doc = json.loads((out / "results.json").read_text())
    cfg = doc["config"]
    assert cfg["state_dtype"] == "bfloat16"
    assert cfg["bytes_per_elem"] == {"adam": 20} and cfg["state_bytes_per_param"] == {"adam": 4}
    (row,) = doc["results"]
    assert {"fastoptim", "fastoptim_fp32", "ceiling", "numpy_inplace"} <= set(row["median_s"])
    assert row["speedup"]["fastoptim_fp32"] == pytest.approx(
        row["gelem_s"]["fastoptim"] / row["gelem_s"]["fastoptim_fp32"])
    agreement = doc["agreement"]
    assert "fastoptim" not in agreement["max_abs_diff"]["adam"]  # the float32 contenders only
    assert 0 < agreement["bf16_relative_deviation"]["adam"] < agreement["bf16_tolerance"]


@pytest.mark.parametrize("state", ["bfloat16", "bfloat16-nearest"])
def test_bfloat16_state_agrees_within_its_rounding(state):
    """NumPy and torch against float32 fastoptim to float32 rounding, and bfloat16 state
    against float32 state within the tool's tolerance (6.25%; about 0.2% for most rules, a few
    percent for Lion, whose sign() flips where its interpolation is near zero)."""
    torch = bench._import_torch()
    diffs = bench.check_agreement(list(bench.RULES), torch, state=state)
    for rule, per in diffs.items():
        low = per.pop("fastoptim")
        assert low < (0.05 if rule == "lion" else 0.01), (rule, low)
        if rule == "adam":
            assert low > 0  # bfloat16 state was used: its rounding moved the parameters
        assert {"numpy_inplace", "numpy_textbook"} <= set(per)
        assert max(per.values()) < 1e-5, (rule, per)


def test_agreement_check_catches_a_wrong_bfloat16_step(monkeypatch):
    wrong = bench.StateFormat(dict(state_dtype="bfloat16", lr=2e-3), 2, 2, "bfloat16 state")
    monkeypatch.setitem(bench.STATE_DTYPES, "bfloat16", wrong)  # twice the learning rate
    with pytest.raises(bench.AgreementError,
                       match="Adam: fastoptim with bfloat16 state, differs from float32 state"):
        bench.check_agreement(["adam"], state="bfloat16")
