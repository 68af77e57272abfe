"""Where nonfinite="skip" should stop restoring state in place: its cost against gradient noise.

    python bench/noise.py                     # Adam and SGD with momentum, 2^26, 1 thread
    python bench/noise.py --rule sgdm --alphas 0,0.3,1,3 --size 24

The gradient of each step is base + alpha * noise: one fixed array plus one of four arrays of
fresh noise in turn, both of scale 1e-2. alpha 0 is bench/rules.py's *fixed* gradients, and a
large alpha comes close to its *fresh* ones. The more noise, the more often the moving averages
cross zero, where the in-place restore misses and logs the old value (kernels/io-inl.h).
Per alpha, each of these steps is timed against propagate, in turn, in one process:
- the fused check with the restorable state always in place (*in place*);
- the same with all state streamed to second buffers (*second buffers*);
- the optimizer's own choice (*auto*), per slot.

Each cost is the median of the ratios within a round. The logged share where in place stops
paying is the threshold in cpp/module.cc (kInPlaceMissesPerSlot).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import fastoptim as fo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import fill_random  # noqa: E402

MAKE = {
    "adam": lambda p, s: fo.Adam([p], nonfinite=s),
    "sgdm": lambda p, s: fo.SGD([p], lr=1e-3, momentum=0.9, nonfinite=s),
}


def sweep(rule, n, alphas, rounds):
    rng = np.random.default_rng(0)
    p0, base = np.empty(n, np.float32), np.empty(n, np.float32)
    fill_random([p0], rng)
    fill_random([base], rng, 1e-2)
    noise = [np.empty(n, np.float32) for _ in range(4)]
    for z in noise:
        fill_random([z], rng, 1e-2)
    print(f"{rule}, 2^{n.bit_length() - 1} elements, {fo.get_num_threads()} thread(s)")
    print("| alpha | logged in place | in place | second buffers | auto | auto's checks |")
    print("|--:|--:|--:|--:|--:|---|")
    for alpha in alphas:
        grads = [base + np.float32(alpha) * z for z in noise]
        opts = {"propagate": MAKE[rule](p0.copy(), "propagate")}
        for name, in_place in (("in place", True), ("second buffers", False), ("auto", None)):
            o = MAKE[rule](p0.copy(), "skip")
            o._fused_check, o._state_in_place = True, in_place
            opts[name] = o
        for s in range(12):  # past the first steps, whose averages still grow
            for o in opts.values():
                o.step([grads[s % 4]])
        times = {k: [] for k in opts}
        checks = Counter()
        for r in range(rounds):
            order = list(opts.items())
            for k, o in order if r % 2 else order[::-1]:
                t0 = time.perf_counter()
                o.step([grads[r % 4]])
                times[k].append(time.perf_counter() - t0)
            checks[opts["auto"]._plan.last_check] += 1
        base_t = np.array(times["propagate"])
        cost = {k: 100 * (np.median(np.array(times[k]) / base_t) - 1) for k in opts}
        logged = 100 * opts["in place"]._plan.logged_state / n
        print(f"| {alpha:g} | {logged:.2f}% | {cost['in place']:+.1f}% | "
              f"{cost['second buffers']:+.1f}% | {cost['auto']:+.1f}% | "
              + ", ".join(f"{c} {k}" for k, c in checks.items()) + " |", flush=True)
        del opts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rule", choices=("adam", "sgdm", "both"), default="both")
    ap.add_argument("--size", type=int, default=26, help="log2 of the elements")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--alphas", default="0,0.1,0.3,1,3,10")
    ap.add_argument("--rounds", type=int, default=12, help="timed steps per contender")
    args = ap.parse_args(argv)
    fo.set_num_threads(args.threads)
    alphas = [float(a) for a in args.alphas.split(",")]
    for rule in ("adam", "sgdm") if args.rule == "both" else (args.rule,):
        sweep(rule, 2**args.size, alphas, args.rounds)


if __name__ == "__main__":
    main()
