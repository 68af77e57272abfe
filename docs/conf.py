"""Sphinx configuration of fastoptim's documentation.

Build (from the repository root, with the package installed: ``pip install ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W --keep-going -b doctest docs docs/_build/doctest

The API pages document the *installed* package (its native core cannot be imported from the
source tree), so reinstall after changing a docstring.
"""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

try:
    import fastoptim
except ImportError as e:  # pragma: no cover - a clear message beats autodoc's 40 warnings
    raise RuntimeError(
        "the documentation documents the installed package: run `pip install \".[docs]\"` "
        f"from the repository root first ({e})"
    ) from e

DOCS = Path(__file__).resolve().parent

# ---- project ----------------------------------------------------------------------------------
project = "fastoptim"
author = "the fastoptim developers"
copyright = "the fastoptim developers"
release = fastoptim.__version__
version = ".".join(release.split(".")[:2])

# ---- extensions -------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "examples"]
templates_path: list = []

# Markdown pages (MyST): $...$ math, ::: fences, definition lists, anchors for ## headings.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# ---- API reference ----------------------------------------------------------------------------
# The API pages name every object with an explicit autoclass/autofunction directive (no
# generated stub files in the tree); autosummary only draws the overview tables.
autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
# The public API's annotations name type aliases (ParamsLike, GradsLike, ...): signatures show
# those names, linked to their entries on the API index (the fastoptim-type-aliases directive
# below documents every one it finds), rather than the unions they stand for.
python_use_unqualified_type_names = True


def _type_aliases() -> dict:
    """Module-level type aliases of the package, by name: ``{"ParamsLike": "fastoptim.optimizer.
    ParamsLike", ...}``, found in the installed sources (CamelCase names assigned a subscripted
    type such as ``Union[...]``, ``Literal[...]``, ``Callable[...]``, ``Dict[...]``)."""
    import ast
    import pkgutil

    found = {}
    for info in sorted(pkgutil.iter_modules(fastoptim.__path__), key=lambda m: m.name):
        path = Path(fastoptim.__path__[0]) / f"{info.name}.py"
        if info.name.startswith("_") or not path.exists():
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                name, value = node.target.id, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                name, value = node.targets[0].id, node.value
            else:
                continue
            if name[:1].isupper() and not name.isupper() and isinstance(value, ast.Subscript):
                found.setdefault(name, f"fastoptim.{info.name}.{name}")
    used = " ".join(_public_annotations())
    return {name: target for name, target in found.items() if re.search(rf"\b{name}\b", used)}


def _public_annotations():
    """The annotation strings of every public function, class and method (the aliases that
    the API never names, such as a script's own, are left out)."""
    import inspect

    from fastoptim import lr_scheduler

    objects = [getattr(fastoptim, n) for n in fastoptim.__all__]
    objects += [getattr(lr_scheduler, n) for n in lr_scheduler.__all__]
    for obj in objects:
        members = [obj]
        if inspect.isclass(obj):
            members += [m for _, m in inspect.getmembers(obj)
                        if inspect.isfunction(m) or isinstance(m, property)]
        for m in members:
            for f in (m.fget, m.fset) if isinstance(m, property) else (m,):
                yield from map(str, getattr(f, "__annotations__", {}).values())


TYPE_ALIASES = _type_aliases()
autodoc_type_aliases = {**TYPE_ALIASES, "NDArray": "numpy.typing.NDArray"}

# Sphinx shows an alias nested in a generic (list[ParamGroup]) by its repr,
# "TypeAliasForwardRef('fastoptim.optimizer.ParamGroup')"; show its name instead.
try:
    from sphinx.util.inspect import TypeAliasForwardRef as _AliasRef

    _AliasRef.__repr__ = lambda self: str(self.name).rsplit(".", 1)[-1]
except ImportError:  # pragma: no cover - another Sphinx: at worst the repr shows
    pass

# numpydoc reads the docstrings (reST prose, math, ``Example::`` blocks); the member tables it
# would add to every class duplicate the explicit :members: lists of the API pages.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# ---- math -------------------------------------------------------------------------------------
# MathJax from its CDN by default. For a site read offline, point FASTOPTIM_MATHJAX at a local
# copy when building, e.g. Debian's libjs-mathjax (MathJax 2):
#   FASTOPTIM_MATHJAX="file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML"
if os.environ.get("FASTOPTIM_MATHJAX"):
    mathjax_path = os.environ["FASTOPTIM_MATHJAX"]
    if "MathJax.js" in mathjax_path:
        # MathJax 2 reads neither the configuration MyST writes for MathJax 3/4 nor the classes
        # it puts on Markdown pages to scope it; left alone, it finds the math by itself.
        myst_update_mathjax = False

# ---- doctest ----------------------------------------------------------------------------------
# `python -m sphinx -b doctest docs OUT` runs every {doctest}/{testcode} block of the pages and
# the ``>>>`` examples of the docstrings that autodoc pulls in (see _docstring_examples below).
doctest_global_setup = f"""
import numpy as np
import fastoptim as fo
DOCS_DIR = {str(DOCS)!r}
"""
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1
trim_doctest_flags = True

# ---- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastoptim {release}"
html_static_path = ["_static"]
html_css_files = ["fastoptim.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without subpages get no left sidebar (it would hold an empty "Section Navigation").
html_sidebars = {page: [] for page in (
    "index", "getting-started", "training-loop", "flat-store", "rules", "schedulers",
    "clipping-ema", "checkpoints", "threads-simd", "nonfinite", "low-precision", "benchmarks",
    "design")}


# ---- hooks ------------------------------------------------------------------------------------
def _docstring_examples(app, doctree) -> None:
    """Makes the ``>>>`` examples of autodoc'd docstrings doctests.

    The docstrings write them as literal blocks (``Example::``), which the doctest builder
    would skip; marking them as its own nodes runs them, and the HTML is unchanged.
    """
    from docutils import nodes

    for node in doctree.findall(nodes.literal_block):
        source = node.source or ""
        if "docstring of" in source and node.astext().lstrip().startswith(">>>") \
                and "testnodetype" not in node:
            node["testnodetype"] = "doctest"
            node["groups"] = ["docstrings"]
            node["options"] = {}


def _alias_directive():
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles

    class TypeAliases(SphinxDirective):
        """``.. fastoptim-type-aliases::``: an autodata entry for every alias in TYPE_ALIASES,
        so that an alias added to (or renamed in) the package is documented without an edit
        here."""

        def run(self):
            from docutils import nodes

            lines = StringList()
            for target in sorted(TYPE_ALIASES.values(), key=lambda t: t.rsplit(".", 1)[1]):
                lines.append(f".. autodata:: {target}", "<fastoptim-type-aliases>")
                lines.append("", "<fastoptim-type-aliases>")
            container = nodes.container()
            nested_parse_with_titles(self.state, lines, container)
            return container.children

    return TypeAliases


def setup(app):
    app.connect("doctree-read", _docstring_examples)
    app.add_directive("fastoptim-type-aliases", _alias_directive())
