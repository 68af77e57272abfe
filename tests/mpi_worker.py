"""The MPI side of tests/test_distributed.py: run as

    mpiexec -n N python -m mpi4py tests/mpi_worker.py CASE [ARGS...]

Every case compares DistributedOptimizer with one process stepping the mean of the ranks'
gradients, computed here on every rank, and rank 0 prints "OK <case>" when it holds. Rank r's
gradient at step k is G_k + (r - (N - 1) / 2) D_k, whose mean over the ranks is G_k whatever N
is, so runs with different world sizes (and checkpoints moved between them) are comparable.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastoptim as fo  # noqa: E402
from conftest import RULES, assert_close  # noqa: E402
from fastoptim.distributed import DistributedOptimizer, broadcast_parameters  # noqa: E402

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
SHAPES = [(5, 7), (33,), (2, 3, 17), (16,), (1,), (300,)]


def init():
    rng = np.random.default_rng(7)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def scales(k):
    """Each tensor's gradient scale at step k: 1e-3 to 10."""
    return 10.0 ** np.random.default_rng(k).integers(-3, 2, len(SHAPES))


def mean_grad(k):
    """G_k: the gradient one process steps at step k (of varied scale)."""
    rng = np.random.default_rng(1000 + k)
    return [(rng.standard_normal(s) * c).astype(np.float32) for s, c in zip(SHAPES, scales(k))]


def rank_grad(k, rank=RANK, size=SIZE):
    """Rank `rank`'s share: G_k + (rank - (size - 1) / 2) D_k (D_k of G_k's scale)."""
    rng = np.random.default_rng(5000 + k)
    d = [(rng.standard_normal(s) * c).astype(np.float32) for s, c in zip(SHAPES, scales(k))]
    c = np.float32(rank - (size - 1) / 2)
    return [g + c * e for g, e in zip(mean_grad(k), d)]


def groups(params, lr):
    return [{"params": params[:3], "lr": lr * 3}, {"params": params[3:]}]


def build(rule, config, flat, shard, **options):
    """(params, DistributedOptimizer, store or None) for rank's run."""
    lr = RULES[rule].lr
    if flat:
        store = fo.FlatParams(init())
        params = list(store.params)
    else:
        store, params = None, init()
    opt = RULES[rule].cls(groups(params, lr), lr=lr, **config, **options)
    return params, DistributedOptimizer(opt, shard_state=shard, timeout=5.0), store


def reference(rule, config, steps, **options):
    """One process, the mean gradients; returns (params, optimizer)."""
    lr = RULES[rule].lr
    params = init()
    opt = RULES[rule].cls(groups(params, lr), lr=lr, **config, **options)
    for k in range(steps):
        if k == steps // 2:
            opt.param_groups[0]["lr"] = lr / 4
        opt.step(mean_grad(k))
    return params, opt


def run(params, dist, store, steps, first=0, grads=rank_grad, schedule=True):
    """Steps first..steps-1; with `schedule`, group 0's rate drops to lr / 4 half way (set on
    the wrapped optimizer's param groups, as a scheduler does), as in reference()."""
    lr = dist.param_groups[1]["lr"]
    for k in range(first, steps):
        if schedule and k == steps // 2:
            dist.param_groups[0]["lr"] = lr / 4
        g = grads(k)
        if store is not None:
            for v, x in zip(store.grads, g):
                v[...] = x
            dist.step()
        else:
            dist.step(g)


def check(params, ref_params, what):
    for i, (p, r) in enumerate(zip(params, ref_params)):
        assert_close(p, r, err_msg=f"{what}: param {i} on rank {RANK}")


def case_rules():
    """Every rule's representative configurations, both modes, list API and flat store:
    equal to one process to float rounding, and bit for bit from run to run."""
    for rule, r in RULES.items():
        for config in r.core:
            ref, _ = reference(rule, config, 6)
            for shard in (False, True):
                for flat in (False, True):
                    what = f"{rule} {config} shard={shard} flat={flat}"
                    results = []
                    for _ in range(2):
                        params, dist, store = build(rule, config, flat, shard)
                        run(params, dist, store, 6)
                        results.append([p.copy() for p in params])
                    check(results[0], ref, what)
                    for a, b in zip(*results):
                        assert np.array_equal(a, b), f"{what}: not reproducible"


def case_clip_skip():
    """Global-norm clipping over every rank's averaged gradients; a NaN on one rank only
    skips the step on every rank."""
    ref, ropt = reference("Adam", {}, 6, max_grad_norm=0.5)
    for shard in (False, True):
        params, dist, store = build("Adam", {}, False, shard, max_grad_norm=0.5)
        run(params, dist, store, 6)
        check(params, ref, f"clipping shard={shard}")

    def with_nan(k):
        g = rank_grad(k)
        if k == 3 and RANK == SIZE - 1:
            g[2][0, 1, 5] = np.nan
        return g
    lr = RULES["Adam"].lr
    skip_ref = init()
    sopt = fo.Adam(groups(skip_ref, lr), lr=lr)
    for k in range(6):
        if k >= 3:
            sopt.param_groups[0]["lr"] = lr / 4
        if k != 3:
            sopt.step(mean_grad(k))
    for shard in (False, True):
        params, dist, store = build("Adam", {}, False, shard, nonfinite="skip")
        run(params, dist, store, 6, grads=with_nan)
        assert dist.optimizer.skipped_steps == 1, dist.optimizer.skipped_steps
        check(params, skip_ref, f"skip shard={shard}")


def case_save(path, shard):
    """Trains 5 steps and writes a checkpoint (a collective)."""
    params, dist, store = build("AdamW", dict(amsgrad=True), True, shard == "shard")
    sched = fo.lr_scheduler.StepLR(dist.optimizer, step_size=2, gamma=0.5)
    for k in range(5):
        run(params, dist, store, k + 1, first=k, schedule=False)
        sched.step()
    fo.save(path, dist, scheduler=sched, extra={"world": SIZE})


def case_load(path, shard):
    """Loads the checkpoint (any world size wrote it), trains 5 more steps, and compares with
    one process that trained 10 steps without stopping."""
    params, dist, store = build("AdamW", dict(amsgrad=True), False, shard == "shard")
    sched = fo.lr_scheduler.StepLR(dist.optimizer, step_size=2, gamma=0.5)
    extra = fo.load(path, dist, scheduler=sched)
    for k in range(5, 10):
        run(params, dist, store, k + 1, first=k, schedule=False)
        sched.step()
    ref = init()
    lr = RULES["AdamW"].lr
    ropt = fo.AdamW(groups(ref, lr), lr=lr, amsgrad=True)
    rsched = fo.lr_scheduler.StepLR(ropt, step_size=2, gamma=0.5)
    for k in range(10):
        ropt.step(mean_grad(k))
        rsched.step()
    check(params, ref, f"checkpoint written by {extra['world']} ranks, read by {SIZE}")
    full = dist.state_dict()
    for i, entry in ropt.state_dict()["state"].items():
        assert full["state"][i]["step"] == entry["step"]
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert_close(full["state"][i][name], entry[name], err_msg=f"{name} of {i}")


def case_lowprec():
    """bfloat16 and int8 state with sharding, an EMA of the weights and a scheduler: every rank
    ends with the same parameters and average, close to one process (the shards quantize and
    round their own slices, so not to the bit)."""
    lr = RULES["Adam"].lr
    for state_dtype in ("bfloat16", "int8"):
        ref = init()
        ropt = fo.Adam(groups(ref, lr), lr=lr, state_dtype=state_dtype)
        rsched = fo.lr_scheduler.ExponentialLR(ropt, gamma=0.9)
        for k in range(6):
            ropt.step(mean_grad(k))
            rsched.step()
        params, dist, store = build("Adam", {}, True, True, state_dtype=state_dtype)
        ema = fo.EMA(params, decay=0.9)
        sched = fo.lr_scheduler.ExponentialLR(dist.optimizer, gamma=0.9)
        for k in range(6):
            run(params, dist, store, k + 1, first=k, schedule=False)
            ema.update()
            sched.step()
        start = init()
        moved = sum(float(np.linalg.norm(p - s)) for p, s in zip(params, start))
        off = sum(float(np.linalg.norm(p - r)) for p, r in zip(params, ref))
        assert off < 0.05 * moved, (state_dtype, off, moved)
        flat = np.concatenate([p.ravel() for p in params] + [a.ravel() for a in ema.shadow])
        everyone = COMM.allgather(flat.tobytes())
        assert all(b == everyone[0] for b in everyone), f"{state_dtype}: ranks differ"


def case_bad_grad():
    """A wrong gradient on one rank: every rank raises, nothing changes anywhere."""
    params, dist, store = build("Adam", {}, False, True)
    before = [p.copy() for p in params]
    g = rank_grad(0)
    if RANK == 1:
        g[1] = np.zeros(34, np.float32)
    try:
        dist.step(g)
    except ValueError as e:
        assert "rank 1" in str(e) and "grads[1]" in str(e), str(e)
    else:
        raise AssertionError("no error")
    for p, b in zip(params, before):
        assert np.array_equal(p, b)
    run(params, dist, store, 1)  # and the communicator still works


def case_crash():
    """A rank that fails in the user's code before a step: -m mpi4py aborts every rank."""
    params, dist, store = build("SGD", {}, False, False)
    if RANK == 1:
        raise RuntimeError("rank 1 failed before its step")
    time.sleep(0.5)
    run(params, dist, store, 1)  # the others would wait here forever without the abort


def case_lonely_save(path):
    """fo.save called by rank 0 alone: an error after the timeout, not a hang."""
    params, dist, store = build("SGD", {}, False, False)
    dist.timeout = 2.0
    if RANK == 0:
        try:
            fo.save(path, dist)
        except RuntimeError as e:
            assert "every rank must call it" in str(e), str(e)
            print("OK lonely_save", flush=True)
            os._exit(0)  # the pending barrier would keep MPI_Finalize waiting
        raise AssertionError("no error")
    time.sleep(4.0)
    os._exit(0)


def case_broadcast():
    params = [np.full(s, RANK, np.float32) for s in SHAPES]
    broadcast_parameters(params, root=SIZE - 1)
    assert all((p == SIZE - 1).all() for p in params)


def main():
    case, args = sys.argv[1], sys.argv[2:]
    globals()[f"case_{case}"](*args)
    COMM.Barrier()
    if RANK == 0:
        print(f"OK {case}", flush=True)


if __name__ == "__main__":
    main()
