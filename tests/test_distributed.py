"""fastoptim.distributed under MPI: each test runs tests/mpi_worker.py with mpiexec (2 ranks,
and 3 for uneven shards) in a subprocess with a timeout, so a hang fails instead of blocking.

Needs mpi4py and an mpiexec (the test extra installs mpi4py and MPICH); skipped without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason='MPI tests need mpi4py: pip install ".[test]"')

HERE = Path(__file__).resolve().parent
WORKER = HERE / "mpi_worker.py"


def mpiexec() -> str:
    """The mpiexec beside this Python (pip's MPICH), else the one on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec: pip install \".[test]\" installs MPICH's")
    return found


def launch(n: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py",
                           str(WORKER), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def ok(n: int, case: str, *args: str) -> None:
    out = launch(n, case, *args)
    assert out.returncode == 0 and f"OK {case}" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("n", [2, 3])
def test_every_rule_both_modes_equals_one_process(n):
    ok(n, "rules")


@pytest.mark.parametrize("n", [2, 3])
def test_global_clipping_and_skip_on_every_rank(n):
    ok(n, "clip_skip")


def test_low_precision_state_ema_and_schedulers():
    ok(3, "lowprec")


@pytest.mark.parametrize("n", [2, 3])
def test_broadcast_parameters(n):
    ok(n, "broadcast")


@pytest.mark.parametrize("writer,reader", [(2, 3), (3, 2), (2, 2)])
@pytest.mark.parametrize("save_mode,load_mode", [("shard", "shard"), ("plain", "shard"),
                                                 ("shard", "plain")])
def test_checkpoint_moves_between_world_sizes(writer, reader, save_mode, load_mode, tmp_path):
    path = str(tmp_path / "ckpt.npz")
    ok(writer, "save", path, save_mode)
    ok(reader, "load", path, load_mode)


def test_checkpoint_written_by_ranks_loads_in_one_process(tmp_path):
    """The consolidated file is an ordinary checkpoint: one process resumes from it."""
    sys.path.insert(0, str(HERE))
    import mpi_worker as w  # imports mpi4py, which initialises MPI as a singleton: fine

    import fastoptim as fo
    from conftest import assert_close

    path = str(tmp_path / "ckpt.npz")
    ok(3, "save", path, "shard")
    lr = w.RULES["AdamW"].lr
    params = w.init()
    opt = fo.AdamW(w.groups(params, lr), lr=lr, amsgrad=True)
    sched = fo.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    assert fo.load(path, opt, scheduler=sched) == {"world": 3}
    for k in range(5, 10):
        opt.step(w.mean_grad(k))
        sched.step()
    ref = w.init()
    ropt = fo.AdamW(w.groups(ref, lr), lr=lr, amsgrad=True)
    rsched = fo.lr_scheduler.StepLR(ropt, step_size=2, gamma=0.5)
    for k in range(10):
        ropt.step(w.mean_grad(k))
        rsched.step()
    for p, r in zip(params, ref):
        assert_close(p, r)


def test_bad_gradient_on_one_rank_raises_on_every_rank():
    ok(2, "bad_grad")


def test_a_failing_rank_ends_the_job_instead_of_hanging():
    out = launch(2, "crash", timeout=60)
    assert out.returncode != 0
    assert "rank 1 failed before its step" in out.stderr


def test_a_collective_called_by_one_rank_raises_instead_of_hanging(tmp_path):
    out = launch(2, "lonely_save", str(tmp_path / "x.npz"), timeout=60)
    assert "OK lonely_save" in out.stdout, out.stdout + out.stderr
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("shard", [False, True])
def test_demo_trains_data_parallel_to_the_same_accuracy(shard, tmp_path):
    import json

    common = ["--optimizers", "adam,momentum", "--epochs", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "fastoptim.demo", *common, "--out",
                          str(tmp_path / "one")], capture_output=True, text=True, timeout=300,
                         env=env)
    assert one.returncode == 0, one.stdout + one.stderr
    two = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                          "fastoptim.demo", "--distributed", *common,
                          *(["--shard-state"] if shard else []), "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stdout + two.stderr
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert b["config"]["ranks"] == 2
    for x, y in zip(a["results"], b["results"]):
        assert x["val_acc"] == y["val_acc"], (x["name"], x["val_acc"], y["val_acc"])
        assert abs(x["val_loss"] - y["val_loss"]) < 1e-4 * x["val_loss"]


def test_shard_bounds_are_balanced_to_a_cache_line():
    from fastoptim.distributed import shard_bounds

    for total in (0, 1, 15, 16, 17, 1000, 4097, 10**6 + 3):
        for n in (1, 2, 3, 7):
            b = shard_bounds(total, n)
            sizes = np.diff(b)
            assert b[0] == 0 and b[-1] == total and (sizes >= 0).all()
            assert sizes.max() - sizes.min() <= 16
            assert all(x % 16 == 0 for x in b[:-1])
