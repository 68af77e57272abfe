"""CPU-target dispatch and threading: every target runs, the env override works, and results are
bitwise identical for any thread count."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastoptim as fo
from conftest import CORE_CONFIGS, RULES, config_id, grad_stream


def test_cpu_target_is_the_best_available():
    targets = fo.available_targets()
    assert targets[-1] == "scalar"
    assert set(targets) <= {"avx512", "avx2", "scalar"}
    if "FASTOPTIM_DISABLE" not in os.environ:
        assert fo.cpu_target() == targets[0]


def run_python(code, **env):
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("disable,expected_drop", [
    ("avx512", {"avx512"}),
    ("avx512,avx2", {"avx512", "avx2"}),
    (" avx2 , avx512 ", {"avx512", "avx2"}),
    ("scalar,avx512,avx2", {"avx512", "avx2"}),  # the scalar floor cannot be disabled
    ("all", {"avx512", "avx2"}),
])
def test_env_override_forces_lower_targets(disable, expected_drop):
    expected = [t for t in fo.available_targets() if t not in expected_drop][0]
    assert run_python("import fastoptim; print(fastoptim.cpu_target())",
                      FASTOPTIM_DISABLE=disable) == expected


def test_forced_scalar_target_steps_correctly_in_a_fresh_process():
    code = (
        "import numpy as np, fastoptim as fo\n"
        "p = np.ones(37, np.float32); g = np.full(37, 2.0, np.float32)\n"
        "fo.SGD([p], lr=0.25).step([g]); print(fo.cpu_target(), float(p.sum()))"
    )
    assert run_python(code, FASTOPTIM_DISABLE="avx512,avx2") == "scalar 18.5"


def test_unknown_target_is_rejected():
    with pytest.raises(ValueError, match="not available"):
        fo._core.set_target("avx1024")


def test_num_threads_setting(threads):
    threads(1)
    assert fo.get_num_threads() == 1
    threads(2)
    assert fo.get_num_threads() == 2
    with pytest.raises(ValueError, match="n must be >= 1"):
        fo.set_num_threads(0)
    assert fo.get_num_threads() == 2


def test_omp_num_threads_is_honoured():
    assert run_python("import fastoptim; print(fastoptim.get_num_threads())",
                      OMP_NUM_THREADS="3") == "3"


# Large enough to be split across threads (the kernel runs threaded from 2 * 2**15 elements).
BIG = [(300, 401), 70_001, 17, (2, 3, 4)]


@pytest.mark.parametrize("rule,config", CORE_CONFIGS, ids=[config_id(*c) for c in CORE_CONFIGS])
def test_results_are_bitwise_identical_for_any_thread_count(target, threads, rule, config):
    fo_cls = RULES[rule].cls
    rng = np.random.default_rng(1)
    init = [rng.standard_normal(s).astype(np.float32) for s in BIG]
    stream = list(grad_stream(rng, BIG, 6))
    results = []
    for n in (1, 2, 3):
        threads(n)
        params = [p.copy() for p in init]
        opt = fo_cls(params, lr=0.01, **config)
        for grads in stream:
            opt.step(grads)
        results.append((params, opt.state_dict()["state"]))
    for params, state in results[1:]:
        for a, b in zip(results[0][0], params):
            assert np.array_equal(a, b)
        for i in state:
            for k in state[i]:
                assert np.array_equal(results[0][1][i][k], state[i][k])
    assert not np.array_equal(results[0][0][0], init[0])


def test_targets_agree_to_rounding():
    rng = np.random.default_rng(2)
    init = rng.standard_normal(1000).astype(np.float32)
    stream = list(grad_stream(rng, [1000], 20))
    out = {}
    before = fo.cpu_target()
    try:
        for t in fo.available_targets():
            fo._core.set_target(t)
            p = init.copy()
            opt = fo.Adam([p], lr=0.01, amsgrad=True)
            for grads in stream:
                opt.step(grads)
            out[t] = p
    finally:
        fo._core.set_target(before)
    for t in out:
        np.testing.assert_allclose(out[t], out["scalar"], rtol=1e-5, atol=1e-6)


def test_the_callers_denormal_mode_holds_on_every_thread(target, threads):
    # torch.set_flush_denormal(True) sets flush-to-zero and denormals-are-zero on the calling
    # thread only. A step split across threads must follow the caller's mode in every piece,
    # not the mode each worker thread happened to start with.
    import torch

    n = 2 * 2**15 + 37  # split across 2 threads
    threads(2)
    fo.SGD([np.ones(n, np.float32)], lr=0.1).step([np.ones(n, np.float32)])  # workers started
    tiny = np.float32(1e-39)  # subnormal
    assert tiny != 0 and abs(tiny) < np.finfo(np.float32).tiny
    out = {}
    assert torch.set_flush_denormal(True)
    try:
        for n_threads in (1, 2):
            threads(n_threads)
            p = np.full(n, tiny, np.float32)
            fo.SGD([p], lr=0.1).step([np.zeros(n, np.float32)])
            out[n_threads] = p
    finally:
        torch.set_flush_denormal(False)
    # Denormals are zero: p - 0.1 * 0 reads p as 0, on every thread.
    assert not np.any(out[1]) and not np.any(out[2])
    # And the mode did not stay behind on this thread or the workers.
    p = np.full(n, tiny, np.float32)
    fo.SGD([p], lr=0.1).step([np.zeros(n, np.float32)])
    assert np.all(p == tiny)
