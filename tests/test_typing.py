"""The public API's annotations: ``mypy --strict`` passes on a user's training loop
(tests/typing_sample.py), flags the mistakes the types exist to catch, and the sample runs.

mypy reads the package from python/ (the annotations being committed, not an installed copy);
errors inside the package are not this test's business (``ignore_errors`` for fastoptim.*), only
what its annotations make of the user's code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "typing_sample.py"

# Code a user might write, and the line of each mistake mypy must report (line: error code).
MISTAKES = textwrap.dedent("""\
    import numpy as np
    import fastoptim as fo
    from fastoptim import lr_scheduler
    store = fo.FlatParams([np.zeros(3, np.float32)])
    store.grads[0] = np.ones(3, np.float32)
    store.grads = store.params
    fo.Adam([np.zeros(3)])
    opt = fo.Adam(store, nonfinite="ignore")
    opt.step([np.zeros(3)])
    norm: str = fo.clip_grad_norm_(store.grads, 1.0)
    lrs: list[str] = lr_scheduler.StepLR(opt, step_size=1.5).get_last_lr()
    fo.LBFGS(store).step(lambda: "loss")
    """)
EXPECTED = {5: "index", 6: "misc", 7: "list-item", 8: "arg-type", 9: "list-item",
            10: "assignment", 11: "arg-type", 12: "arg-type"}


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    """Runs mypy --strict on a file; returns (exit status, output)."""
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install .[test]")
    tmp = tmp_path_factory.mktemp("mypy")
    config = tmp / "mypy.ini"
    config.write_text("[mypy]\n[mypy-fastoptim.*]\nignore_errors = True\n")
    env = dict(os.environ, MYPYPATH=str(ROOT / "python"))

    def run(path: Path):
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config),
             "--cache-dir", str(tmp / "cache"), "--no-color-output", "--show-error-codes",
             str(path)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr
    return run


def test_mypy_strict_passes_on_the_sample(mypy):
    assert "type: ignore" not in SAMPLE.read_text()
    status, output = mypy(SAMPLE)
    assert status == 0, f"mypy --strict {SAMPLE.name}:\n{output}"


def test_mypy_flags_the_mistakes_the_annotations_exist_for(mypy, tmp_path):
    path = tmp_path / "mistakes.py"
    path.write_text(MISTAKES)
    status, output = mypy(path)
    assert status == 1, output
    found: dict = {}
    for line in output.splitlines():
        if line.startswith(str(path)) and ": error: " in line:
            code = line.rsplit("[", 1)[-1].rstrip("]")
            found.setdefault(int(line.split(":")[1]), set()).add(code)
    assert set(found) == set(EXPECTED), output
    for lineno, code in EXPECTED.items():
        assert code in found[lineno], (lineno, output)


def test_the_sample_runs():
    # In a process of its own: it sets the thread count, which is global.
    proc = subprocess.run([sys.executable, str(SAMPLE)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "typing sample: accuracy" in proc.stdout
