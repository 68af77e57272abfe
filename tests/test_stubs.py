"""python/fastoptim/_core.pyi types the native module truly: the same public names, and for each
function and method the parameter names and the return type of its pybind11 signature."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from fastoptim import _core

STUB = Path(__file__).resolve().parents[1] / "python" / "fastoptim" / "_core.pyi"
TREE = ast.parse(STUB.read_text())

def stub_functions(body):
    return {n.name: n for n in body if isinstance(n, ast.FunctionDef)}


def stub_classes():
    return {n.name: n for n in TREE.body if isinstance(n, ast.ClassDef)}


def rule_classes():
    """The stub's rule classes, each with the methods of its base class."""
    classes = stub_classes()
    base = classes.pop("_Rule")
    classes.pop("StalePlan")
    return {name: base for name in classes}


def native_signature(fn):
    """(parameter names, return type) of a pybind11 function, from its docstring's first line."""
    first = fn.__doc__.strip().splitlines()[0]
    m = re.fullmatch(r"\w*\((.*)\) -> (.+)", first)
    assert m, first
    params = [p.split(":")[0].strip() for p in re.split(r",\s*(?![^\[]*\])", m.group(1)) if p]
    return [p for p in params if p not in ("self", "arg0")], m.group(2)


def assert_same_type(stub_annotation, native):
    """The stub's type is pybind11's, or narrows its `object` (py::object returns)."""
    stub = re.sub(r"^ClassVar\[(.*)\]$", r"\1", ast.unparse(stub_annotation))
    if native != "object":
        assert stub == native


def test_the_stub_names_every_public_member_and_no_other():
    stubbed = set(stub_functions(TREE.body)) | {n for n in stub_classes() if n != "_Rule"}
    stubbed |= {t.target.id for t in TREE.body if isinstance(t, ast.AnnAssign)}
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert stubbed == public
    assert isinstance(_core.openmp, bool)


@pytest.mark.parametrize("name", sorted(stub_functions(TREE.body)))
def test_module_function_signature(name):
    stub = stub_functions(TREE.body)[name]
    params, returns = native_signature(getattr(_core, name))
    assert [a.arg for a in stub.args.args] == params
    assert_same_type(stub.returns, returns)


@pytest.mark.parametrize("name", sorted(rule_classes()))
def test_rule_class_members(name):
    cls = getattr(_core, name)
    base = rule_classes()[name]
    methods = stub_functions(base.body)
    attrs = {n.target.id: n.annotation for n in base.body if isinstance(n, ast.AnnAssign)}
    native = {n for n in vars(cls) if not n.startswith("_")} | {"__init__", "__len__"}
    assert set(methods) | set(attrs) == native
    for mname, stub in methods.items():
        member = inspect.getattr_static(cls, mname)
        fn = member.fget if isinstance(member, property) else getattr(cls, mname)
        params, returns = native_signature(fn)
        if not isinstance(member, property):
            assert [a.arg for a in stub.args.args if a.arg != "self"] == params, mname
        assert_same_type(stub.returns, returns)
    for aname, annotation in attrs.items():
        member = inspect.getattr_static(cls, aname)
        assert isinstance(member, property), aname  # pybind11's (static) properties
        assert_same_type(annotation, native_signature(member.fget)[1])
