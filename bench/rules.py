"""Every update rule at memory scale: fastoptim against its own bandwidth ceiling and torch.

    python bench/rules.py            # 2**26 elements, 1 and 2 threads, ~9 minutes
    python bench/rules.py --quick    # smoke test

For each element-wise rule (and the options that change its memory traffic), one flat tensor
of --size elements: fastoptim's step, the bandwidth ceiling for that rule's own traffic
(``_core.Traffic`` with the same state arrays: reads p, g and the state, writes p and the
state, no arithmetic), ``torch.optim``'s default (for-loop) step and its fused CPU kernel where
torch has one. Also the cost of ``nonfinite="skip"`` over the default, next to the cost of its
memory pattern alone (the guarded ceiling: ``_core.Traffic`` stepped guarded, state streamed to
second buffers), and the share of parameters its undo log kept. Timing, interleaving and the
guard against other processes are bench/run.py's (``measure``). Writes rules.md and rules.json
to --out (``--skip-only``: just the nonfinite table, to skip.md / skip.json).
"""

from __future__ import annotations

import argparse
import copy
import gc
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

import fastoptim as fo
from fastoptim import _core
from fastoptim.flat import aligned_zeros

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import fill_random, machine_info, measure, set_threads  # noqa: E402

FRESH = 4  # arrays of fresh gradients the skip table cycles through

# name: (fastoptim factory, torch factory (None: not in torch), number of state arrays)
RULES = {
    "SGD": (lambda p: fo.SGD(p, lr=1e-3), lambda p, **k: torch.optim.SGD(p, lr=1e-3, **k), 0),
    "SGD momentum": (lambda p: fo.SGD(p, lr=1e-3, momentum=0.9),
                     lambda p, **k: torch.optim.SGD(p, lr=1e-3, momentum=0.9, **k), 1),
    "Adam": (lambda p: fo.Adam(p), lambda p, **k: torch.optim.Adam(p, **k), 2),
    "AMSGrad": (lambda p: fo.Adam(p, amsgrad=True),
                lambda p, **k: torch.optim.Adam(p, amsgrad=True, **k), 3),
    "AdamW": (lambda p: fo.AdamW(p), lambda p, **k: torch.optim.AdamW(p, **k), 2),
    "Adagrad": (lambda p: fo.Adagrad(p), lambda p, **k: torch.optim.Adagrad(p, **k), 1),
    "RMSprop": (lambda p: fo.RMSprop(p), lambda p, **k: torch.optim.RMSprop(p, **k), 1),
    "RMSprop centered+momentum": (
        lambda p: fo.RMSprop(p, centered=True, momentum=0.9),
        lambda p, **k: torch.optim.RMSprop(p, centered=True, momentum=0.9, **k), 3),
    "Adadelta": (lambda p: fo.Adadelta(p), lambda p, **k: torch.optim.Adadelta(p, **k), 2),
    "Adamax": (lambda p: fo.Adamax(p), lambda p, **k: torch.optim.Adamax(p, **k), 2),
    "NAdam": (lambda p: fo.NAdam(p), lambda p, **k: torch.optim.NAdam(p, **k), 2),
    "RAdam": (lambda p: fo.RAdam(p), lambda p, **k: torch.optim.RAdam(p, **k), 2),
    "Lion": (lambda p: fo.Lion(p), None, 1),
    "ProximalSGD": (lambda p: fo.ProximalSGD(p, l1=1e-4), None, 0),
    "ProximalAdagrad": (lambda p: fo.ProximalAdagrad(p, l1=1e-4), None, 1),
}


def traffic_bytes(slots: int) -> int:
    """Bytes per element: read p, g and each state array; write p and each state array."""
    return 4 * (2 + slots) + 4 * (1 + slots)


def traffic_slots(n, slots):
    """State arrays for a Traffic plan: `slots` of them, as the plan's per-slot lists."""
    return [[aligned_zeros(n)] if k < slots else None for k in range(3)]


def contenders(name, p, g):
    fo_make, torch_make, slots = RULES[name]
    opt = fo_make([p])
    c = {"fastoptim": lambda: opt.step([g])}
    ceil = _core.Traffic([{"slots": slots}], [p], [0], traffic_slots(p.size, slots),
                         np.zeros(1, np.int64), None)
    c["ceiling"] = lambda: ceil.step([g])
    if torch_make is not None:
        t = torch.from_numpy(p).requires_grad_(True)
        t.grad = torch.from_numpy(g)
        c["torch default"] = torch_make([t], foreach=False).step
        try:
            fused = torch_make([t], fused=True)
            fused.step()
            c["torch fused"] = fused.step
        except (RuntimeError, TypeError, ValueError):
            pass  # torch has no fused CPU kernel for this rule
    return c


def paired_pct(meas, a, b):
    """Quartiles (25%, median, 75%) over repetitions of 100 * (a / b - 1), each ratio taken from
    one repetition where both ran; repetitions others disturbed are left out unless too few
    remain."""
    clean = set(meas["clean"])
    per = {n: dict(zip(meas["per"][n]["sample_reps"], meas["per"][n]["samples_s"]))
           for n in (a, b)}
    both = [r for r in per[a] if r in per[b]]
    use = [r for r in both if r in clean]
    if len(use) < 3:
        use = both
    q = np.percentile([100 * (per[a][r] / per[b][r] - 1) for r in use], [25, 50, 75])
    return [float(x) for x in q]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--size", type=int, default=None, help="log2 of the elements (default 26)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--skip-only", action="store_true",
                    help='only the nonfinite="skip" measurements (to skip.md / skip.json)')
    args = ap.parse_args(argv)

    class Cfg:
        pass
    cfg = Cfg()
    cfg.quiet_cores, cfg.slow_s, cfg.max_retry_s, cfg.count_batches = 0.15, 0.25, 60.0, False
    if args.quick:
        cfg.warmup, cfg.calib_s, cfg.batch_s, cfg.min_reps, cfg.max_reps = 1, 0.001, 0.005, 3, 7
        cfg.budget_s, cfg.min_clean, cfg.retries, cfg.max_wait_s = 0.3, 2, 0, 2.0
        cfg.wait_budget_s = 10.0
    else:
        cfg.warmup, cfg.calib_s, cfg.batch_s, cfg.min_reps, cfg.max_reps = 1, 0.01, 0.05, 5, 15
        cfg.budget_s, cfg.min_clean, cfg.retries, cfg.max_wait_s = 2.5, 3, 1, 10.0
        cfg.wait_budget_s = 90.0
    log2n = args.size or (16 if args.quick else 26)
    n = 2**log2n
    threads = [int(t) for t in args.threads.split(",")]
    start = time.perf_counter()
    info = machine_info()
    rng = np.random.default_rng(0)
    p, g = aligned_zeros(n), aligned_zeros(n)
    rows = []
    for name in ([] if args.skip_only else RULES):
        fill_random([p], rng)
        fill_random([g], rng, 1e-2)
        c = contenders(name, p, g)
        for t in threads:
            set_threads(t)
            meas = measure(c, cfg, t)
            med = {k: v["median_s"] for k, v in meas["per"].items()}
            row = dict(rule=name, threads=t, n=n, bytes_per_elem=traffic_bytes(RULES[name][2]),
                       median_s=med, gelem_s={k: n / s / 1e9 for k, s in med.items()},
                       pct_ceiling=100 * med["ceiling"] / med["fastoptim"],
                       vs_torch_default=med.get("torch default", np.nan) / med["fastoptim"],
                       vs_torch_fused=med.get("torch fused", np.nan) / med["fastoptim"],
                       disturbed=meas["disturbed"])
            rows.append(row)
            print(f"{name:26s} {t} thr: {row['gelem_s']['fastoptim']:.2f} Gelem/s = "
                  f"{row['pct_ceiling']:.0f}% of ceiling, {row['vs_torch_default']:.1f}x torch "
                  f"default, {row['vs_torch_fused']:.2f}x torch fused", file=sys.stderr)
        del c
        gc.collect()

    # nonfinite="skip" against the default, same data (no NaN: the step goes through), and
    # the same two for the memory pattern alone (Traffic in place / guarded). A few percent
    # matter here, so more repetitions than above, and each cost is the median over repetitions
    # of the ratio of two contenders timed in the same repetition: drift over the
    # run (another tenant's load, the host's memory clock) cancels in the ratio.
    skip_cfg = copy.copy(cfg)
    if not args.quick:
        skip_cfg.min_reps, skip_cfg.max_reps, skip_cfg.budget_s = 9, 41, 15.0
    # Two kinds of gradients: *fixed*, the same array every step (the moving averages settle
    # on it), and *fresh*, a new draw of noise every step (cycling through FRESH arrays), as
    # minibatch gradients whose noise is as large as their mean are: the averages keep
    # crossing zero, and the in-place restore of the state misses more often.
    skip_rows = []
    fill_random([p], rng)
    fill_random([g], rng, 1e-2)
    fresh = []
    for _ in range(FRESH):
        fresh.append(aligned_zeros(n))
        fill_random([fresh[-1]], rng, 1e-2)
    rules = (("SGD", 0, lambda s: fo.SGD([p], lr=1e-3, nonfinite=s)),
             ("Adam", 2, lambda s: fo.Adam([p], nonfinite=s)),
             ("SGD momentum", 1, lambda s: fo.SGD([p], lr=1e-3, momentum=0.9, nonfinite=s)))
    for (name, slots, make), grads in itertools.product(rules, ("fixed", "fresh")):
        fixed = grads == "fixed"
        if not fixed and slots == 0:
            continue  # no state: the same step as with fixed gradients
        opts = {s: make(s) for s in ("propagate", "skip")}
        for forced, fused in (("skip pre-scan", False), ("skip fused", True)):
            opts[forced] = make("skip")  # either check, forced whatever the size
            opts[forced]._fused_check = fused
        opts["skip buffers"] = make("skip")  # fused, with every state array to second buffers
        opts["skip buffers"]._fused_check = True
        opts["skip buffers"]._state_in_place = False
        if slots:
            opts["skip in place"] = make("skip")  # fused, restorable state always in place
            opts["skip in place"]._fused_check = True
            opts["skip in place"]._state_in_place = True
        if fixed:
            c = {s: (lambda o=o: o.step([g])) for s, o in opts.items()}
            for mode in ("propagate", "skip"):
                ceil = _core.Traffic([{"slots": slots}], [p], [0], traffic_slots(n, slots),
                                     np.zeros(1, np.int64), None, [],
                                     traffic_slots(n, slots) if mode == "skip" else None)
                ceil.nonfinite = mode
                c[f"ceiling {mode}"] = lambda ceil=ceil: ceil.step([g])
        else:
            c = {s: (lambda o=o, k=itertools.count(): o.step([fresh[next(k) % FRESH]]))
                 for s, o in opts.items()}
            for _ in range(2 * FRESH):  # past the first steps, whose averages still grow
                for step in c.values():
                    step()
        for t in threads:
            set_threads(t)
            meas = measure(c, skip_cfg, t)
            over = lambda a, b: paired_pct(meas, a, b)  # noqa: E731
            skip_q = over("skip", "propagate")
            in_place = opts.get("skip in place", opts["skip fused"])
            row = dict(rule=name, threads=t, gradients=grads,
                       overhead_pct=skip_q[1], overhead_quartiles_pct=skip_q,
                       prescan_overhead_pct=over("skip pre-scan", "propagate")[1],
                       fused_overhead_pct=over("skip fused", "propagate")[1],
                       in_place_overhead_pct=over("skip in place", "propagate")[1]
                       if slots else float("nan"),
                       buffers_overhead_pct=over("skip buffers", "propagate")[1],
                       check=opts["skip"]._plan.last_check,
                       fused=(opts["skip"]._plan.last_check or "").startswith("fused"),
                       ceiling_overhead_pct=over("ceiling skip", "ceiling propagate")[1]
                       if fixed else float("nan"),
                       pct_guarded_ceiling=100 + over("ceiling skip", "skip fused")[1]
                       if fixed else float("nan"),
                       median_s={k: v["median_s"] for k, v in meas["per"].items()},
                       reps=meas["reps"], clean_reps=meas["clean_reps"],
                       logged_pct=100 * in_place._plan.logged / n,
                       disturbed=meas["disturbed"])
            skip_rows.append(row)
            print(f"skip {name} {grads} {t} thr: {row['overhead_pct']:+.1f}% over propagate "
                  f"({row['check']}; pre-scan {row['prescan_overhead_pct']:+.1f}%, fused "
                  f"{row['fused_overhead_pct']:+.1f}%, in place "
                  f"{row['in_place_overhead_pct']:+.1f}%, second buffers "
                  f"{row['buffers_overhead_pct']:+.1f}%); pattern alone "
                  f"{row['ceiling_overhead_pct']:+.1f}%; {row['pct_guarded_ceiling']:.0f}% of its "
                  f"ceiling; logged in place {row['logged_pct']:.2f}%", file=sys.stderr)
        del c, opts
    del fresh

    info["seconds"] = round(time.perf_counter() - start)
    os.makedirs(args.out, exist_ok=True)
    stem = "skip" if args.skip_only else "rules"
    if args.size and args.size != 26:
        stem += f"-2^{args.size}"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(dict(machine=info, size=n, rows=rows, skip=skip_rows), f, indent=1)
    command = "python bench/rules.py" + "".join(
        f" {flag}" for flag, on in (("--quick", args.quick), ("--skip-only", args.skip_only),
                                    (f"--size {args.size}", args.size)) if on)
    md = render(info, n, rows, skip_rows, threads, command)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(md)
    print(md)


def render(info, n, rows, skip_rows, threads, command):
    out = [f"# Every rule at 2^{n.bit_length() - 1} elements",
           "",
           f"`{command}` · {info['date']} · {info['cpu']} ({info['cores']} cores) · target "
           f"`{info['cpu_target']}` · torch {info['torch']} · {info['seconds']} s",
           "",
           "Gelem/s of one step (median), % of the bandwidth ceiling measured for the rule's own "
           "traffic at the same size and threads, and fastoptim's speedup over torch.optim's "
           "default (for-loop) step and its fused CPU kernel (— where torch has none). † marks "
           "a row measured while other processes were busy.",
           ""]
    head = "| rule | B/elem |" + "".join(f" {t} thr Gelem/s | % ceil | × torch default | "
                                        f"× torch fused |" for t in threads)
    if rows:
        out += [head, "|" + "---|" * (2 + 4 * len(threads))]
    for name in (RULES if rows else []):
        cells = [name, str(traffic_bytes(RULES[name][2]))]
        for t in threads:
            r = next(r for r in rows if r["rule"] == name and r["threads"] == t)
            dag = "†" if r["disturbed"] else ""
            fmt = lambda x, s="×": "—" if not np.isfinite(x) else f"{x:.2f}{s}"  # noqa: E731
            cells += [f"{r['gelem_s']['fastoptim']:.2f}{dag}", f"{r['pct_ceiling']:.0f}%",
                      fmt(r["vs_torch_default"]), fmt(r["vs_torch_fused"])]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "Cost of `nonfinite=\"skip\"` over the default, gradients finite. *skip* is "
            "what the optimizer does at this size: beyond the last-level cache, or from 8 MiB "
            "for a step that writes no second buffer, the check is fused into the update "
            "(parameters and moving averages updated in place and restored from their new "
            "values plus a log if a NaN turns up; other state streamed to second buffers, the "
            "same bytes as in place), else a read-only pre-scan of the gradients. *pre-scan* "
            "and *fused* force either check; *in place* and *second buffers* force the fused "
            "check with the moving averages always in place, or all state streamed to second "
            "buffers. *Gradients*: *fixed*, the same array every step (the averages settle on "
            "it); *fresh*, a new draw of noise every step (cycling through "
            f"{FRESH} arrays), so that the averages keep crossing zero, as with minibatch "
            "gradients whose noise is as large as their mean. "
            "*Pattern alone* compares the bandwidth-ceiling kernel (no arithmetic, state "
            "streamed) guarded against in place: what this machine charges for streaming to a "
            "second buffer instead of writing back in place. *% of guarded ceiling* is the "
            "fused check's speed against that ceiling; *logged in place*, the values "
            "(parameters and state) the undo log of the step with state in place kept, as a "
            "share of the elements. Each cost is the median over repetitions of the ratio "
            "of two steps timed in the same repetition (*quartiles*: the middle half of those "
            "ratios for *skip*); *reps*: repetitions undisturbed by other processes / run.",
            "",
            "| rule | gradients | threads | skip | (quartiles) | (check) | pre-scan | fused "
            "| in place | second buffers | pattern alone | % of guarded ceiling | logged in place "
            "| reps |",
            "|---|---|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    pct = lambda x: "—" if not np.isfinite(x) else f"{x:+.1f}%"  # noqa: E731
    for r in skip_rows:
        q1, _, q3 = r["overhead_quartiles_pct"]
        check = r.get("check") or ("fused" if r["fused"] else "pre-scan")
        ceiling = r["pct_guarded_ceiling"]
        out.append(f"| {r['rule']} | {r.get('gradients', 'fixed')} | {r['threads']} | "
                   f"{r['overhead_pct']:+.1f}%{'†' if r['disturbed'] else ''} | "
                   f"{q1:+.1f}% .. {q3:+.1f}% | {check} "
                   f"| {r['prescan_overhead_pct']:+.1f}% | {r['fused_overhead_pct']:+.1f}% | "
                   f"{pct(r.get('in_place_overhead_pct', float('nan')))} | "
                   f"{r['buffers_overhead_pct']:+.1f}% | {pct(r['ceiling_overhead_pct'])} | "
                   + ("—" if not np.isfinite(ceiling) else f"{ceiling:.0f}%")
                   + f" | {r['logged_pct']:.2f}% | {r['clean_reps']}/{r['reps']} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
