"""The portable build: with the SIMD targets switched off (as on a CPU without x86 intrinsics)
the module still compiles, contains no vector instructions in its scalar kernels, and works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def test_scalar_only_build_compiles_and_steps(tmp_path):
    import pybind11

    cmake = shutil.which("cmake")
    assert cmake, "cmake is a test dependency (pip install '.[test]')"
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run([cmake, "-S", str(ROOT), "-B", str(build), *gen, "-DFASTOPTIM_SIMD=OFF",
                    f"-DPython_EXECUTABLE={sys.executable}",
                    f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
                   check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(build), "-j2"], check=True, capture_output=True)
    objects = list(build.rglob("scalar.cc.o"))
    assert len(objects) == 1 and not list(build.rglob("avx2.cc.o"))
    if shutil.which("objdump"):
        asm = subprocess.run(["objdump", "-d", str(objects[0])], check=True,
                             capture_output=True, text=True).stdout
        assert "%ymm" not in asm and "%zmm" not in asm
    pkg = tmp_path / "pkg" / "fastoptim"
    shutil.copytree(ROOT / "python" / "fastoptim", pkg)
    (module,) = build.glob("_core*")
    shutil.copy(module, pkg)
    code = (
        "import numpy as np, fastoptim as fo\n"
        "assert fo.available_targets() == ['scalar'], fo.available_targets()\n"
        "p = np.zeros(19, np.float32)\n"
        "fo.Adam([p], lr=0.1).step([np.ones(19, np.float32)])\n"
        "print(fo.cpu_target(), np.allclose(p, -0.1))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(pkg.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["scalar", "True"]
