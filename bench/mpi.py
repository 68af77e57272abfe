#!/usr/bin/env python
"""Data-parallel Adam over MPI: a step split into communication and optimizer work.

    mpiexec -n 2 python -m mpi4py bench/mpi.py               # 2^20, 2^22, 2^24 elements
    mpiexec -n 2 python -m mpi4py bench/mpi.py --sizes 16 --reps 5 --out /tmp/m   # smoke test

Every rank wraps fastoptim.Adam over a FlatParams store of the size in a DistributedOptimizer,
plain (Allreduce of the gradients, every rank steps everything) and with shard_state=True
(ZeRO-1: Reduce_scatter, each rank steps its slice, Allgather of the parameters), and times
--reps steps of each, alternating. Per step: the median wall time, the part spent in the MPI
collectives (timed around them on every rank, the slowest rank's), the rest (averaging, the
optimizer step, copies), bytes sent per rank by the ring algorithms' count, and the optimizer
state each rank keeps. One process stepping the same size alone (no MPI) is timed as the
baseline. Rank 0 writes mpi.md and mpi.json to --out (default bench/results).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fastoptim as fo
from fastoptim.bench import _table, machine_info, write_results
from fastoptim.distributed import DistributedOptimizer

HERE = Path(__file__).resolve().parent
COMM = MPI.COMM_WORLD


def timed_steps(step, reps, dist=None):
    """Median (wall, communication) seconds per step over `reps` steps, slowest rank's."""
    walls, comms = [], []
    for _ in range(reps):
        before = dist.comm_seconds if dist is not None else 0.0
        COMM.Barrier()
        t0 = time.perf_counter()
        step()
        wall = time.perf_counter() - t0
        comm = (dist.comm_seconds - before) if dist is not None else 0.0
        wall, comm = COMM.allreduce(wall, op=MPI.MAX), COMM.allreduce(comm, op=MPI.MAX)
        walls.append(wall)
        comms.append(comm)
    return statistics.median(walls), statistics.median(comms)


def case(n: int, reps: int) -> dict:
    rng = np.random.default_rng(COMM.Get_rank())
    out = {"elements": n}
    single = fo.FlatParams([n])
    single.grad[...] = rng.standard_normal(n, dtype=np.float32)
    alone = fo.Adam(single, lr=1e-3)
    out["alone_s"], _ = timed_steps(alone.step, reps)
    for shard in (False, True):
        store = fo.FlatParams([n])
        dist = DistributedOptimizer(fo.Adam(store, lr=1e-3), shard_state=shard)
        store.grad[...] = rng.standard_normal(n, dtype=np.float32)

        def step(store=store, dist=dist):
            dist.step()
        step()  # warm-up
        wall, comm = timed_steps(step, reps, dist)
        key = "zero1" if shard else "plain"
        out[key] = {"step_s": wall, "comm_s": comm, "other_s": wall - comm,
                    "sent_bytes": dist.sent_per_step,
                    "state_bytes": COMM.allreduce(dist.state_bytes, op=MPI.MAX)}
    return out


def render(doc: dict) -> str:
    m = doc["machine"]
    lines = [f"# Data-parallel Adam over MPI ({doc['ranks']} ranks)", "",
             f"{m['cpu']}, {m['cores']} cores; {doc['mpi']}; {doc['threads']} kernel "
             f"thread(s) per rank. Command: `{doc['command']}`.", "",
             "Median milliseconds per step (the slowest rank's); *comm*: in the MPI "
             "collectives; *rest*: averaging, the optimizer step, copies. *sent*: bytes each "
             "rank sends per step (ring algorithms' count); *state*: optimizer state per "
             "rank. *alone*: one process stepping the whole model without MPI.", ""]
    rows = []
    for c in doc["cases"]:
        for key, name in (("plain", "plain (Allreduce)"), ("zero1", "ZeRO-1 (shard_state)")):
            r = c[key]
            rows.append([f"{c['elements']:,}", name, f"{c['alone_s'] * 1e3:.3g}",
                         f"{r['step_s'] * 1e3:.3g}", f"{r['comm_s'] * 1e3:.3g}",
                         f"{r['other_s'] * 1e3:.3g}", f"{r['sent_bytes'] / 2**20:.1f} MiB",
                         f"{r['state_bytes'] / 2**20:.1f} MiB"])
    lines += _table(["elements", "mode", "alone", "step", "comm", "rest", "sent", "state"],
                    rows)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20,22,24", help="exponents of 2 (default 20,22,24)")
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    cases = [case(2 ** int(s), args.reps) for s in args.sizes.split(",")]
    if COMM.Get_rank() == 0:
        doc = dict(machine=machine_info(None), ranks=COMM.Get_size(),
                   mpi=MPI.Get_library_version().splitlines()[0].strip(),
                   threads=fo.get_num_threads(), cases=cases,
                   command=" ".join(["mpiexec -n", str(COMM.Get_size()),
                                     "python -m mpi4py bench/mpi.py", *(argv or sys.argv[1:])]))
        text = render(doc)
        write_results(args.out, "mpi", doc, text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
