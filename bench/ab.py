"""The cost of nonfinite="skip" over "propagate", paired between two builds of fastoptim.

A change to the guarded kernels moves skip's cost by a point or two, less than the noise between
two runs of bench/rules.py on a shared machine. This compares builds side by side instead:

    pip install --no-build-isolation . -q --target /tmp/vA -C cmake.define.CMAKE_CXX_FLAGS=""
    (change, then the same into /tmp/vB)
    python bench/ab.py /tmp/vA /tmp/vB --rule adam --rounds 6 --threads 1

Each round runs one process per build, in turn, so that drift in the machine's load hits every
build alike. A process steps two optimizers over the same data (2^--size elements, random as in
bench/rules.py), one with nonfinite="propagate" and one with "skip" (the fused check), --pairs
times each, in alternating order, and reports the median ratio of the two step times. Printed per
build: the median over rounds of that ratio, its range, and the median ns per element of each
mode. Builds given as directories (pip --target), in the order given.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time

import numpy as np


def child(size, rule, pairs, threads):
    """One process: prints '<ratio> <propagate ns/elem> <skip ns/elem> <logged %>'."""
    import fastoptim as fo

    fo.set_num_threads(threads)
    n = 2**size
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32) * np.float32(1e-2)
    make = {
        "sgd": lambda s: fo.SGD([p], lr=1e-3, nonfinite=s),
        "sgdm": lambda s: fo.SGD([p], lr=1e-3, momentum=0.9, nonfinite=s),
        "adam": lambda s: fo.Adam([p], nonfinite=s),
    }[rule]
    opts = {"propagate": make("propagate"), "skip": make("skip")}
    for o in opts.values():
        for _ in range(3):  # past the first steps, whose state goes to second buffers
            o.step([g])
    check = opts["skip"]._plan.last_check
    if not (check or "").startswith("fused"):
        sys.exit(f"skip took the {check!r} check at 2^{size}, not the fused one")
    ratio, times = [], collections.defaultdict(list)
    for k in range(pairs):
        t = {}
        for mode in ("propagate", "skip") if k % 2 else ("skip", "propagate"):
            t0 = time.perf_counter()
            opts[mode].step([g])
            t[mode] = time.perf_counter() - t0
            times[mode].append(t[mode])
        ratio.append(t["skip"] / t["propagate"])
    ns = {m: np.median(v) / n * 1e9 for m, v in times.items()}
    logged = 100 * opts["skip"]._plan.logged / n
    print(f"{np.median(ratio):.5f} {ns['propagate']:.4f} {ns['skip']:.4f} {logged:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="*", help="directories holding an installed fastoptim")
    ap.add_argument("--rule", choices=("sgd", "sgdm", "adam"), default="adam")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=12, help="step pairs per process")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=26, help="log2 of the elements")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.size, args.rule, args.pairs, args.threads)
    if not args.builds:
        ap.error("give at least one build directory")
    rows = collections.defaultdict(list)
    for r in range(args.rounds):
        for build in args.builds:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(build)}
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", "--rule", args.rule,
                 "--pairs", str(args.pairs), "--threads", str(args.threads),
                 "--size", str(args.size)],
                env=env, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{build}: {proc.stderr.strip()}")
            out = proc.stdout.split()
            rows[build].append([float(x) for x in out])
            print(f"round {r + 1}: {build}: skip {100 * (float(out[0]) - 1):+.2f}%", file=sys.stderr)
    print(f"{args.rule}, 2^{args.size} elements, {args.threads} thread(s), {args.rounds} rounds "
          f"of {args.pairs} pairs")
    for build, xs in rows.items():
        a = np.array(xs)
        pct = 100 * (a[:, 0] - 1)
        print(f"{build}: skip {np.median(pct):+.2f}% [{pct.min():+.2f}% .. {pct.max():+.2f}%]  "
              f"propagate {np.median(a[:, 1]):.3f} ns/elem, skip {np.median(a[:, 2]):.3f} "
              f"ns/elem, logged {np.median(a[:, 3]):.2f}%")


if __name__ == "__main__":
    main()
