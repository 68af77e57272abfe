"""The documentation site (docs/): every public name has an API entry, the examples run, and
the Sphinx build is warning-free with every example passing.

The two Sphinx builds need the `docs` extra (pip install ".[docs]") and are skipped without it;
the rest runs everywhere.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastoptim
from fastoptim import lr_scheduler

DOCS = Path(__file__).resolve().parent.parent / "docs"

AUTO = re.compile(r"^\s*\.\. (autoclass|autofunction|automodule|autodata|automethod)::\s*(\S+)")
CURRENT = re.compile(r"^\s*\.\. (?:currentmodule|module)::\s*(\S+)")


def doc_sources() -> list:
    return [p for p in sorted(DOCS.rglob("*")) if p.suffix in (".md", ".rst")
            and "_build" not in p.relative_to(DOCS).parts]


def documented() -> dict:
    """Fully qualified name -> the pages whose autodoc directives document it."""
    out: dict = {}
    for path in doc_sources():
        current = None
        for line in path.read_text(encoding="utf-8").splitlines():
            m = CURRENT.match(line)
            if m:
                current = m.group(1)
                continue
            m = AUTO.match(line)
            if m:
                target = m.group(2)
                if not target.startswith("fastoptim") and current:
                    target = f"{current}.{target}"
                out.setdefault(target, []).append(str(path.relative_to(DOCS)))
    return out


def public_names() -> list:
    """Fully qualified names of the public API: fastoptim.__all__ and lr_scheduler.__all__."""
    names = [f"fastoptim.{n}" for n in fastoptim.__all__]
    names += [f"fastoptim.lr_scheduler.{n}" for n in lr_scheduler.__all__]
    for module in ("torch", "distributed"):  # optional: they need torch and mpi4py
        try:
            mod = importlib.import_module(f"fastoptim.{module}")
        except ImportError:
            continue
        names += [f"fastoptim.{module}.{n}" for n in mod.__all__]
    return names


def test_every_public_name_has_an_api_entry():
    entries = documented()
    missing = [n for n in public_names() if n not in entries]
    assert not missing, f"public names without an autodoc entry in docs/: {missing}"


def test_every_public_name_is_in_the_api_overview():
    overview = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", overview))
    missing = [n for n in public_names()
               if n.rsplit(".", 1)[1] not in words and n not in words]
    assert not missing, f"public names missing from docs/api/index.rst: {missing}"


def test_no_name_is_documented_twice():
    twice = {n: pages for n, pages in documented().items() if len(pages) > 1}
    assert not twice, f"documented more than once (Sphinx warns on duplicates): {twice}"


def test_docs_name_only_public_objects():
    """An autodoc entry for a name that no longer exists fails the build; say which here."""
    stale = []
    for name in documented():
        module, _, attr = name.rpartition(".")
        try:
            obj = importlib.import_module(name)
        except ImportError:
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                obj = None
        if obj is None:
            stale.append(name)
    assert not stale, f"docs/ documents names that do not exist: {stale}"


def package_modules() -> list:
    mods = [fastoptim]
    for info in pkgutil.iter_modules(fastoptim.__path__):
        try:
            mods.append(importlib.import_module(f"fastoptim.{info.name}"))
        except ImportError:  # fastoptim.torch and .distributed without torch or mpi4py
            if info.name not in ("torch", "distributed"):
                raise
    return mods


def test_docstring_examples_run():
    """Every ``>>>`` example in the package's docstrings (the docs build runs them too)."""
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    attempted = 0
    for mod in package_modules():
        result = doctest.testmod(mod, optionflags=flags, verbose=False, report=False)
        assert result.failed == 0, f"{result.failed} docstring example(s) of {mod.__name__} failed"
        attempted += result.attempted
    assert attempted > 0


def test_training_loop_example_runs():
    """docs/examples/train_mlp.py, the training-loop page's script, runs and resumes exactly."""
    out = subprocess.run([sys.executable, str(DOCS / "examples" / "train_mlp.py")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "same parameters bit for bit: True" in out.stdout


def sphinx(builder: str, outdir: Path) -> subprocess.CompletedProcess:
    for module in ("sphinx", "pydata_sphinx_theme", "myst_parser", "numpydoc"):
        pytest.importorskip(module, reason='the docs extra: pip install ".[docs]"')
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder, str(DOCS),
         str(outdir)], capture_output=True, text=True, timeout=600)


def test_sphinx_html_build_is_warning_free(tmp_path):
    out = sphinx("html", tmp_path / "html")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "html" / "index.html").exists()


def test_sphinx_doctest_build_passes(tmp_path):
    """Every {doctest}/{testcode} block of the pages and every docstring example they show."""
    out = sphinx("doctest", tmp_path / "doctest")
    report = (tmp_path / "doctest" / "output.txt")
    detail = report.read_text() if report.exists() else ""
    assert out.returncode == 0, out.stdout + out.stderr + detail
    assert "0 failures in tests" in detail


def test_scaling_model_table_is_the_scripts_output():
    """docs/distributed.md's table is what docs/examples/scaling_model.py prints."""
    out = subprocess.run([sys.executable, str(DOCS / "examples" / "scaling_model.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    page = (DOCS / "distributed.md").read_text(encoding="utf-8")
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 9 and all(row in page for row in rows)
