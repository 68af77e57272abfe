"""Every Python block of the README runs, so no example in it can rot."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # blocks may write files (the checkpoint)
    script = tmp_path / f"block{index}.py"
    script.write_text(BLOCKS[index])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    if "train accuracy" in BLOCKS[index]:  # the training loop learns its toy task
        accuracy = float(re.search(r"train accuracy ([0-9.]+)", out).group(1))
        assert accuracy > 0.9, out
        assert (tmp_path / "checkpoint.npz").exists()
