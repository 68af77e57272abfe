"""Every update rule at memory scale: fastoptim against its own bandwidth ceiling and torch.

    python bench/rules.py                # 2**26 elements, 1 and 2 threads
    python bench/rules.py --skip-only    # just the cost of nonfinite="skip" (skip.md, skip.json)
    python bench/rules.py --lowprec-only # just bfloat16 state against float32 (lowprec.md, .json)
    python bench/rules.py --quick        # smoke test

The rows are the tests' table of rules (tests/conftest.py, ``RULES``): each rule with its
defaults, and again with its ``full_state`` options where those keep more state arrays (more
memory traffic: SGD with momentum, AMSGrad, ...). For each row, one flat tensor of --size
elements: fastoptim's step, the bandwidth ceiling for that row's own traffic (``_core.Traffic``
with as many state arrays: reads p, g and the state, writes p and the state, no arithmetic),
``torch.optim``'s default (for-loop) step and its fused CPU kernel where torch has one. Then the
cost of ``nonfinite="skip"`` over the default, without and with ``max_grad_norm``. Then
bfloat16 optimizer state (``state_dtype="bfloat16"``, rounded stochastically and to nearest)
against float32 state, each against the bandwidth ceiling of its own bytes. Timing,
interleaving and the guard against other processes are bench/run.py's (``measure``). Writes
rules.md and rules.json to --out (``--skip-only``: skip.md and skip.json; ``--lowprec-only``:
lowprec.md and lowprec.json; with --size other than 26, e.g. lowprec-2^20.md).
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
from typing import NamedTuple

import ml_dtypes
import numpy as np
import torch

from fastoptim import _core
from fastoptim.flat import aligned_zeros

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import RULES  # noqa: E402  (needs pytest: the bench extra has it)
from run import fill_random, machine_info, measure, set_threads  # noqa: E402

FRESH = 4  # arrays of fresh gradients the skip table cycles through
MAX_GRAD_NORM = 1.0  # below the norm of the skip table's gradients: clipping scales them
SKIP_ROWS = "SGD,SGD momentum,Adam"  # the skip table's rows unless --skip-rows says otherwise
LOWPREC_ROWS = "Adam,SGD momentum,RMSprop"  # the bfloat16 table's rows unless --lowprec-rows


class Row(NamedTuple):
    cls: type  # the fastoptim class
    torch: str | None  # the torch.optim class (None: torch has none)
    options: dict  # beyond the defaults, for both
    slots: int  # state arrays kept


def state_arrays(cls, options):
    """How many state arrays the rule keeps with these options (counted after one step)."""
    opt = cls([np.zeros(4, np.float32)], **options)
    opt.step([np.ones(4, np.float32)])
    return sum(isinstance(v, np.ndarray) for v in opt.state_dict()["state"].get(0, {}).values())


def table_rows():
    """Row name -> Row: every rule of the tests' table at its defaults, and as "<rule>
    <option>+<option>" with its full_state options where they keep more state arrays."""
    rows = {}
    for name, rule in RULES.items():
        rows[name] = Row(rule.cls, rule.torch, {}, state_arrays(rule.cls, {}))
        slots = state_arrays(rule.cls, rule.full_state)
        if slots > rows[name].slots:
            rows[f"{name} {'+'.join(rule.full_state)}"] = Row(rule.cls, rule.torch,
                                                                rule.full_state, slots)
    return rows


ROWS = table_rows()


def traffic_bytes(slots: int, state_bytes: int = 4) -> int:
    """Bytes per element: read p, g and each state array; write p and each state array (float32
    p and g; state elements of `state_bytes` bytes: 4 float32, 2 bfloat16)."""
    return 4 * 2 + state_bytes * slots + 4 + state_bytes * slots


def traffic_slots(n, slots, bf16=False):
    """State arrays for a Traffic plan: `slots` of them, as the plan's per-slot lists (3);
    bfloat16 state as the plan takes it: the bits, uint16 arrays."""
    def array():
        return aligned_zeros(n, ml_dtypes.bfloat16).view(np.uint16) if bf16 else aligned_zeros(n)
    return [[array()] if k < slots else None for k in range(3)]


# The native state formats (Optimizer._state_format; _core.Traffic's state_format).
FLOAT32, BF16_STOCHASTIC, BF16_NEAREST = 0, 1, 2


def traffic_plan(p, slots, state_format=FLOAT32):
    """A bandwidth-ceiling step on p with `slots` state arrays in the given state format."""
    plan = _core.Traffic([{"slots": slots}], [p], [0],
                         traffic_slots(p.size, slots, state_format != FLOAT32),
                         np.zeros(1, np.int64), None, [], state_format, 0)
    return plan


def contenders(row, p, g):
    opt = row.cls([p], **row.options)
    c = {"fastoptim": lambda: opt.step([g])}
    ceil = traffic_plan(p, row.slots)
    c["ceiling"] = lambda: ceil.step([g])
    if row.torch is not None:
        make = getattr(torch.optim, row.torch)
        t = torch.from_numpy(p).requires_grad_(True)
        t.grad = torch.from_numpy(g)
        c["torch default"] = make([t], foreach=False, **row.options).step
        try:
            fused = make([t], fused=True, **row.options)
            fused.step()
            c["torch fused"] = fused.step
        except (RuntimeError, TypeError, ValueError):
            pass  # torch has no fused CPU kernel for this rule
    return c


def paired_ratio(meas, a, b):
    """Quartiles (25%, median, 75%) over repetitions of time(a) / time(b), each ratio taken
    from one repetition where both ran; repetitions others disturbed are left out unless too
    few remain."""
    clean = set(meas["clean"])
    per = {n: dict(zip(meas["per"][n]["sample_reps"], meas["per"][n]["samples_s"]))
           for n in (a, b)}
    both = [r for r in per[a] if r in per[b]]
    use = [r for r in both if r in clean]
    if len(use) < 3:
        use = both
    q = np.percentile([per[a][r] / per[b][r] for r in use], [25, 50, 75])
    return [float(x) for x in q]


def paired_pct(meas, a, b):
    """paired_ratio as a cost in percent: quartiles of 100 * (time(a) / time(b) - 1)."""
    return [100 * (q - 1) for q in paired_ratio(meas, a, b)]


class Lowprec(NamedTuple):
    """A contender of the bfloat16 table."""
    state_bytes: int  # bytes per state element (4 float32, 2 bfloat16)
    ceiling: str | None  # the contender whose traffic is this one's bytes (None: a ceiling)


# The bfloat16 table's contenders, in the table's order. "bf16 ceiling" writes the (unchanged)
# state back rounded to nearest, which adds a shift and a few integer operations to the pure
# traffic; "bf16 ceiling, stochastic" is the same traffic through the stochastic rounding (its
# counter-based random bits: a hash per element), to show what that arithmetic costs apart
# from any rule's.
LOWPREC = {
    "fp32 fastoptim": Lowprec(4, "fp32 ceiling"),
    "bf16 stochastic": Lowprec(2, "bf16 ceiling"),
    "bf16 nearest": Lowprec(2, "bf16 ceiling"),
    "torch fused": Lowprec(4, "fp32 ceiling"),
    "fp32 ceiling": Lowprec(4, None),
    "bf16 ceiling": Lowprec(2, None),
    "bf16 ceiling, stochastic": Lowprec(2, "bf16 ceiling"),
}


def lowprec_contenders(row, p, g):
    """The bfloat16 table's step functions for one row, all on p and g (each its own state)."""
    c = {}
    for name, kw in (("fp32 fastoptim", {}), ("bf16 stochastic", dict(state_dtype="bfloat16")),
                     ("bf16 nearest", dict(state_dtype="bfloat16", state_rounding="nearest"))):
        opt = row.cls([p], **row.options, **kw)
        c[name] = lambda opt=opt: opt.step([g])
    if row.torch is not None:
        t = torch.from_numpy(p).requires_grad_(True)
        t.grad = torch.from_numpy(g)
        try:
            fused = getattr(torch.optim, row.torch)([t], fused=True, **row.options)
            fused.step()
            c["torch fused"] = fused.step
        except (RuntimeError, TypeError, ValueError):
            pass  # torch has no fused CPU kernel for this rule
    for name, fmt in (("fp32 ceiling", FLOAT32), ("bf16 ceiling", BF16_NEAREST),
                      ("bf16 ceiling, stochastic", BF16_STOCHASTIC)):
        plan = traffic_plan(p, row.slots, fmt)
        c[name] = lambda plan=plan: plan.step([g])
    return c


def lowprec_rows(row_name, row, n, t, meas):
    """One result per contender of one (row, thread count) measurement."""
    med = {k: v["median_s"] for k, v in meas["per"].items()}
    out = []
    for name in (k for k in LOWPREC if k in med):
        spec = LOWPREC[name]
        q = paired_ratio(meas, "fp32 fastoptim", name)  # > 1: faster than fp32 fastoptim
        out.append(dict(
            rule=row_name, threads=t, n=n, contender=name,
            bytes_per_elem=traffic_bytes(row.slots, spec.state_bytes),
            state_bytes_per_param=row.slots * spec.state_bytes,
            median_s=med[name], gelem_s=n / med[name] / 1e9,
            gb_s=n / med[name] / 1e9 * traffic_bytes(row.slots, spec.state_bytes),
            vs_fp32=q[1], vs_fp32_quartiles=q,
            vs_fp32_of_medians=med["fp32 fastoptim"] / med[name],
            own_ceiling=spec.ceiling,
            pct_own_ceiling=(100 * med[spec.ceiling] / med[name]) if spec.ceiling else None,
            reps=meas["reps"], clean_reps=meas["clean_reps"], disturbed=meas["disturbed"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--size", type=int, default=None, help="log2 of the elements (default 26)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default=str(HERE / "results"))
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--skip-only", action="store_true",
                      help='only the nonfinite="skip" measurements (to skip.md / skip.json)')
    only.add_argument("--lowprec-only", action="store_true",
                      help="only the bfloat16-state measurements (to lowprec.md / lowprec.json)")
    ap.add_argument("--skip-rows", default=SKIP_ROWS,
                    help=f'rows of the skip table, or "all" (default "{SKIP_ROWS}"; rows: '
                         + ", ".join(ROWS) + ")")
    ap.add_argument("--lowprec-rows", default=LOWPREC_ROWS,
                    help=f'rows of the bfloat16-state table, or "all" (default "{LOWPREC_ROWS}"; '
                         "rows: " + ", ".join(k for k, r in ROWS.items() if r.slots) + ")")
    args = ap.parse_args(argv)
    skip_names = list(ROWS) if args.skip_rows == "all" else args.skip_rows.split(",")
    unknown = [name for name in skip_names if name not in ROWS]
    if unknown:
        ap.error(f"--skip-rows: unknown {unknown}; rows: {list(ROWS)}")
    lowprec_names = ([k for k, r in ROWS.items() if r.slots] if args.lowprec_rows == "all"
                     else args.lowprec_rows.split(","))
    unknown = [name for name in lowprec_names if name not in ROWS]
    stateless = [name for name in lowprec_names if name in ROWS and not ROWS[name].slots]
    if unknown or stateless:
        ap.error(f"--lowprec-rows: {'unknown' if unknown else 'keeps no state'} "
                 f"{unknown or stateless}; rows: {[k for k, r in ROWS.items() if r.slots]}")

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
    for name in ([] if args.skip_only or args.lowprec_only else ROWS):
        fill_random([p], rng)
        fill_random([g], rng, 1e-2)
        c = contenders(ROWS[name], p, g)
        for t in threads:
            set_threads(t)
            meas = measure(c, cfg, t)
            med = {k: v["median_s"] for k, v in meas["per"].items()}
            row = dict(rule=name, threads=t, n=n, bytes_per_elem=traffic_bytes(ROWS[name].slots),
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

    # nonfinite="skip" against the default on the same data (finite: every step goes through),
    # and the same pair with max_grad_norm, whose norm already reads every gradient and decides
    # for skip without a pass of its own. A few percent matter here, so more repetitions than
    # above, and each cost is the median over repetitions of the ratio of two contenders timed
    # in the same repetition: drift over the run (another tenant's load, the host's memory
    # clock) cancels in the ratio. Each step takes a fresh gradient (FRESH arrays in turn), as
    # training does.
    skip_cfg = copy.copy(cfg)
    if not args.quick:
        skip_cfg.min_reps, skip_cfg.max_reps, skip_cfg.budget_s = 9, 41, 15.0
    skip_rows = []
    fill_random([p], rng)
    fresh = []
    for _ in range(FRESH):
        fresh.append(aligned_zeros(n))
        fill_random([fresh[-1]], rng, 1e-2)
    for name in ([] if args.lowprec_only else skip_names):
        row = ROWS[name]
        opts = {"propagate": dict(), "skip": dict(nonfinite="skip"),
                "propagate, max_grad_norm": dict(max_grad_norm=MAX_GRAD_NORM),
                "skip, max_grad_norm": dict(max_grad_norm=MAX_GRAD_NORM, nonfinite="skip")}
        opts = {k: row.cls([p], **row.options, **kw) for k, kw in opts.items()}
        c = {k: (lambda o=o, i=itertools.count(): o.step([fresh[next(i) % FRESH]]))
             for k, o in opts.items()}
        for t in threads:
            set_threads(t)
            meas = measure(c, skip_cfg, t)
            over = lambda a, b: paired_pct(meas, a, b)  # noqa: E731
            skip_q = over("skip", "propagate")
            clip_q = over("skip, max_grad_norm", "propagate, max_grad_norm")
            r = dict(rule=name, threads=t, n=n, gradients="fresh",
                     overhead_pct=skip_q[1], overhead_quartiles_pct=skip_q,
                     check=opts["skip"]._plan.last_check,
                     clip_overhead_pct=clip_q[1], clip_overhead_quartiles_pct=clip_q,
                     clip_check=opts["skip, max_grad_norm"]._plan.last_check,
                     norm_cost_pct=over("propagate, max_grad_norm", "propagate")[1],
                     median_s={k: v["median_s"] for k, v in meas["per"].items()},
                     reps=meas["reps"], clean_reps=meas["clean_reps"],
                     disturbed=meas["disturbed"])
            skip_rows.append(r)
            print(f"skip {name} {t} thr: {r['overhead_pct']:+.1f}% over propagate "
                  f"({r['check']}); with max_grad_norm {r['clip_overhead_pct']:+.1f}% "
                  f"({r['clip_check']}); max_grad_norm itself {r['norm_cost_pct']:+.1f}%",
                  file=sys.stderr)
        del c, opts
        gc.collect()
    del fresh

    # bfloat16 state against float32 state: fastoptim's step with each, torch's fused step
    # (float32 state), and the bandwidth ceilings of both byte counts, on one flat tensor.
    # Speedups over fp32 fastoptim are, like the skip table's costs, medians over repetitions
    # of the ratio of two steps timed in the same repetition.
    low_rows = []
    for name in ([] if args.skip_only else lowprec_names):
        row = ROWS[name]
        fill_random([p], rng)
        fill_random([g], rng, 1e-2)
        c = lowprec_contenders(row, p, g)
        for t in threads:
            set_threads(t)
            meas = measure(c, cfg, t)
            res = lowprec_rows(name, row, n, t, meas)
            low_rows += res
            by = {r["contender"]: r for r in res}
            print(f"bf16 {name} {t} thr: " + ", ".join(
                f"{k} {r['gelem_s']:.2f} Gelem/s ({r['vs_fp32']:.2f}x fp32"
                + (f", {r['pct_own_ceiling']:.0f}% of {r['own_ceiling']})" if r["own_ceiling"]
                   else ")") for k, r in by.items()), file=sys.stderr)
        del c
        gc.collect()

    info["seconds"] = round(time.perf_counter() - start)
    os.makedirs(args.out, exist_ok=True)
    stem = "skip" if args.skip_only else "lowprec" if args.lowprec_only else "rules"
    if args.size and args.size != 26:
        stem += f"-2^{args.size}"
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(dict(machine=info, size=n, rows=rows, skip=skip_rows, lowprec=low_rows), f,
                  indent=1)
    command = "python bench/rules.py" + "".join(
        f" {flag}" for flag, on in (("--quick", args.quick), ("--skip-only", args.skip_only),
                                    ("--lowprec-only", args.lowprec_only),
                                    (f"--size {args.size}", args.size),
                                    (f"--skip-rows '{args.skip_rows}'",
                                     args.skip_rows != SKIP_ROWS and not args.lowprec_only),
                                    (f"--lowprec-rows '{args.lowprec_rows}'",
                                     args.lowprec_rows != LOWPREC_ROWS and not args.skip_only))
        if on)
    md = render(info, n, rows, skip_rows, threads, command, low_rows)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(md)
    print(md)


def render(info, n, rows, skip_rows, threads, command, low_rows=()):
    title = ("Every rule" if rows else 'The cost of nonfinite="skip"' if skip_rows
             else "bfloat16 optimizer state")
    out = [f"# {title} at 2^{n.bit_length() - 1} elements",
           "",
           f"`{command}` · {info['date']} · {info['cpu']} ({info['cores']} cores) · target "
           f"`{info['cpu_target']}` · torch {info['torch']} · {info['seconds']} s",
           ""]
    if rows:
        out += ["Gelem/s of one step (median), % of the bandwidth ceiling measured for the "
                "rule's own traffic at the same size and threads, and fastoptim's speedup over "
                "torch.optim's default (for-loop) step and its fused CPU kernel (— where torch "
                "has none). † marks a row measured while other processes were busy.",
                "",
                "| rule | B/elem |" + "".join(f" {t} thr Gelem/s | % ceil | × torch default | "
                                             f"× torch fused |" for t in threads),
                "|" + "---|" * (2 + 4 * len(threads))]
    fmt = lambda x: "—" if not np.isfinite(x) else f"{x:.2f}×"  # noqa: E731
    for name in dict.fromkeys(r["rule"] for r in rows):
        cells = [name, str(next(r["bytes_per_elem"] for r in rows if r["rule"] == name))]
        for t in threads:
            r = next(r for r in rows if r["rule"] == name and r["threads"] == t)
            cells += [f"{r['gelem_s']['fastoptim']:.2f}{'†' if r['disturbed'] else ''}",
                      f"{r['pct_ceiling']:.0f}%", fmt(r["vs_torch_default"]),
                      fmt(r["vs_torch_fused"])]
        out.append("| " + " | ".join(cells) + " |")
    if rows and skip_rows:
        out.append("")
    if skip_rows:
        out += ["Cost of `nonfinite=\"skip\"` over the default, gradients finite (a fresh one "
                f"each step, {FRESH} arrays in turn). *skip*: a read-only scan of the "
                "gradients before the step writes anything (`_plan.last_check == \"scan\"`). "
                "*skip, max_grad_norm*: the same against the default with `max_grad_norm="
                f"{MAX_GRAD_NORM:g}`, where the clipping norm, a full read of the gradients "
                "anyway, decides (`\"norm\"`): near zero expected. *max_grad_norm itself*: "
                "the default with clipping against without, for scale. Each cost is the median "
                "over repetitions of the ratio of two steps timed in the same repetition "
                "(*quartiles*: the middle half of those ratios); *reps*: repetitions "
                "undisturbed by other processes / run; † a row measured while other processes "
                "were busy.",
                "",
                "| rule | threads | skip | (quartiles) | skip, max_grad_norm | (quartiles) "
                "| max_grad_norm itself | reps |",
                "|---|--:|--:|---|--:|---|--:|--:|"]
    for r in skip_rows:
        q1, _, q3 = r["overhead_quartiles_pct"]
        c1, _, c3 = r["clip_overhead_quartiles_pct"]
        out.append(f"| {r['rule']} | {r['threads']} | "
                   f"{r['overhead_pct']:+.1f}%{'†' if r['disturbed'] else ''} | "
                   f"{q1:+.1f}% .. {q3:+.1f}% | {r['clip_overhead_pct']:+.1f}% | "
                   f"{c1:+.1f}% .. {c3:+.1f}% | {r['norm_cost_pct']:+.1f}% | "
                   f"{r['clean_reps']}/{r['reps']} |")
    if low_rows and (rows or skip_rows):
        out.append("")
    if low_rows:
        out += render_lowprec(low_rows, threads)
    return "\n".join(out) + "\n"


def render_lowprec(low_rows, threads):
    """The bfloat16-state table: a row per rule and contender, columns per thread count."""
    out = ["## bfloat16 state",
           "",
           "One step of each rule on one flat float32 tensor with its state arrays in float32 "
           "(*fp32 fastoptim*) or bfloat16 (`state_dtype=\"bfloat16\"`, rounded as written: "
           "*stochastic*, the default, or *nearest*, `state_rounding=\"nearest\"`), torch's "
           "fused step (float32 state), and the bandwidth ceilings (`_core.Traffic`: the same "
           "traffic, no arithmetic) for float32 state and for bfloat16 state (written back "
           "rounded to nearest), and the bfloat16 one through the stochastic rounding (the cost "
           "of its random bits: a counter-based hash per element written). *B/elem*: bytes "
           "moved per element (float32 p and g; 4 or 2 per state element); *state B/param*: "
           "the state's memory per parameter. *Gelem/s*: median over repetitions; *× fp32*: "
           "speedup over fp32 fastoptim, the median over repetitions of the ratio of the two "
           "steps' times in the same repetition; *% ceil*: of the ceiling for the contender's "
           "own bytes (fp32 or bf16 ceiling). † a measurement taken while other processes were "
           "busy.",
           "",
           "| rule | contender | B/elem | state B/param |"
           + "".join(f" {t} thr Gelem/s | × fp32 | % ceil |" for t in threads),
           "|---|---|--:|--:|" + "--:|" * (3 * len(threads))]
    for name in dict.fromkeys(r["rule"] for r in low_rows):
        for k in (k for k in LOWPREC if any(r["rule"] == name and r["contender"] == k
                                             for r in low_rows)):
            mine = [r for r in low_rows if r["rule"] == name and r["contender"] == k]
            cells = [name, k, str(mine[0]["bytes_per_elem"]),
                     str(mine[0]["state_bytes_per_param"])]
            for t in threads:
                r = next((r for r in mine if r["threads"] == t), None)
                if r is None:
                    cells += ["—"] * 3
                    continue
                cells += [f"{r['gelem_s']:.2f}{'†' if r['disturbed'] else ''}",
                          f"{r['vs_fp32']:.2f}×",
                          "—" if r["pct_own_ceiling"] is None else f"{r['pct_own_ceiling']:.0f}%"]
            out.append("| " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    main()
