#!/usr/bin/env python
"""fastoptim benchmark: one optimizer step, against NumPy, torch.optim and the bandwidth ceiling.

    python bench/run.py                 # full run (~5 min on 2 cores), writes bench/results/
    python bench/run.py --quick         # small sizes, few reps: a smoke test (~1 min)
    python bench/run.py --rules adam --threads 1 --sizes 20,model --out /tmp/b

See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import fastoptim as fo
from fastoptim import _core
from fastoptim.flat import aligned_zeros

LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
MOMENTUM = 0.9

# Bytes moved per element by one step (the rule's minimal traffic; float32).
TRAFFIC_BYTES = {"adam": 28, "sgd": 20}  # adam: read p,g,m,v write p,m,v; sgd: read p,g,b write p,b

# Column order of the contenders (keys of the measurements) and their display names.
CONTENDERS = [
    ("fo_flat", "fastoptim flat"),
    ("fo_list", "fastoptim list"),
    ("np_textbook", "NumPy textbook"),
    ("np_inplace", "NumPy in-place"),
    ("torch_default", "torch default"),
    ("torch_foreach", "torch foreach"),
    ("torch_fused", "torch fused"),
    ("ceiling", "ceiling"),
]
NUMPY = ("np_textbook", "np_inplace")


# ---------------------------------------------------------------------------------------------
# The "model": a fixed list of shapes like a small GPT (196 tensors, ~4.2M elements)
# ---------------------------------------------------------------------------------------------
def model_shapes(d=128, layers=16, vocab=6000, ctx=512, mlp=4):
    shapes = [(vocab, d), (ctx, d)]  # token and position embeddings (head tied)
    for _ in range(layers):
        shapes += [
            (d,), (d,),                    # ln1 weight, bias
            (d, 3 * d), (3 * d,),          # attention qkv
            (d, d), (d,),                  # attention out
            (d,), (d,),                    # ln2 weight, bias
            (d, mlp * d), (mlp * d,),      # mlp fc1
            (mlp * d, d), (d,),            # mlp fc2
        ]
    shapes += [(d,), (d,)]  # final ln
    return shapes


# ---------------------------------------------------------------------------------------------
# NumPy contenders
# ---------------------------------------------------------------------------------------------
class NumpyAdamTextbook:
    """Adam as written in the paper: every expression allocates its temporaries."""

    def __init__(self, params, grads):
        self.p, self.g = params, grads
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = BETAS
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for i, (p, g) in enumerate(zip(self.p, self.g)):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / bc1
            v_hat = self.v[i] / bc2
            p -= LR * m_hat / (np.sqrt(v_hat) + EPS)


class NumpyAdamInplace:
    """Adam with out= and in-place ufuncs only: one preallocated scratch array, no temporaries."""

    def __init__(self, params, grads):
        self.p, self.g = params, grads
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = np.empty(max(p.size for p in params), np.float32)
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = BETAS
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(self.p, self.g, self.m, self.v):
            t = self.tmp[: p.size].reshape(p.shape)
            np.subtract(g, m, out=t)          # m += (1 - b1) (g - m)
            t *= 1 - b1
            m += t
            v *= b2                            # v = b2 v + (1 - b2) g^2
            np.multiply(g, g, out=t)
            t *= 1 - b2
            v += t
            np.sqrt(v, out=t)                  # p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
            t *= 1 / math.sqrt(bc2)
            t += EPS
            np.divide(m, t, out=t)
            t *= -LR / bc1
            p += t


class NumpySgdTextbook:
    """SGD with momentum (torch's rule: b = mu b + g, first step b = g), with temporaries."""

    def __init__(self, params, grads):
        self.p, self.g = params, grads
        self.b = [None] * len(params)

    def step(self):
        for i, (p, g) in enumerate(zip(self.p, self.g)):
            self.b[i] = g.copy() if self.b[i] is None else MOMENTUM * self.b[i] + g
            p -= LR * self.b[i]


class NumpySgdInplace:
    def __init__(self, params, grads):
        self.p, self.g = params, grads
        self.b = [np.zeros_like(p) for p in params]
        self.tmp = np.empty(max(p.size for p in params), np.float32)
        self.started = False

    def step(self):
        for p, g, b in zip(self.p, self.g, self.b):
            t = self.tmp[: p.size].reshape(p.shape)
            if self.started:
                b *= MOMENTUM
                b += g
            else:
                np.copyto(b, g)
            np.multiply(b, -LR, out=t)
            p += t
        self.started = True


NUMPY_RULES = {"adam": (NumpyAdamTextbook, NumpyAdamInplace),
               "sgd": (NumpySgdTextbook, NumpySgdInplace)}


# ---------------------------------------------------------------------------------------------
# Contender factories
# ---------------------------------------------------------------------------------------------
def fo_opt(rule, params):
    if rule == "adam":
        return fo.Adam(params, lr=LR, betas=BETAS, eps=EPS)
    return fo.SGD(params, lr=LR, momentum=MOMENTUM)


def torch_opt(rule, tparams, **kw):
    if rule == "adam":
        return torch.optim.Adam(tparams, lr=LR, betas=BETAS, eps=EPS, **kw)
    return torch.optim.SGD(tparams, lr=LR, momentum=MOMENTUM, **kw)


def torch_params(params, grads):
    """torch views (shared memory) of the numpy params, with .grad set once."""
    out = []
    for p, g in zip(params, grads):
        t = torch.from_numpy(p).requires_grad_(True)
        t.grad = torch.from_numpy(g)
        out.append(t)
    return out


def traffic_plan(rule, params):
    """The bandwidth ceiling: the rule's memory traffic, no arithmetic (own state arrays)."""
    n = len(params)
    slot = lambda: [aligned_zeros(p.size).reshape(p.shape) for p in params]  # noqa: E731
    states = [slot(), slot(), None] if rule == "adam" else [slot(), None, None]
    return _core.Traffic([{"slots": 2 if rule == "adam" else 1}], list(params), [0] * n, states,
                         np.zeros(n, np.int64), None)


def torch_contenders(rule, params, grads):
    tp = torch_params(params, grads)
    c = {}
    for name, kw in (("torch_default", dict(foreach=False)), ("torch_foreach", dict(foreach=True)),
                     ("torch_fused", dict(fused=True))):
        c[name] = torch_opt(rule, tp, **kw).step
    return c


def numpy_contenders(rule, params, grads):
    textbook, inplace = NUMPY_RULES[rule]
    return {"np_textbook": textbook(params, grads).step, "np_inplace": inplace(params, grads).step}


def fill_random(arrays, rng, scale=1.0):
    for a in arrays:
        a.reshape(-1)[...] = rng.standard_normal(a.size, dtype=np.float32) * np.float32(scale)


def build_single(rule, n, rng):
    """Contenders for one tensor of n elements, all stepping the same p and g buffers."""
    store = fo.FlatParams([n])
    fill_random(store.params, rng)
    fill_random(store.grads, rng, 1e-2)
    p, g = store.data, store.grad  # shared by every contender (64-byte aligned)
    c = {"fo_flat": fo_opt(rule, store).step}
    lst = fo_opt(rule, [p])
    c["fo_list"] = lambda: lst.step([g])
    c.update(numpy_contenders(rule, [p], [g]))
    c.update(torch_contenders(rule, [p], [g]))
    ceil = traffic_plan(rule, [p])
    c["ceiling"] = lambda: ceil.step([g])
    return c


def build_model(rule, shapes, rng):
    """Contenders for the model: separate tensors (as a torch model has), plus flat stores."""
    # Separately allocated tensors (torch's allocator: 64-byte aligned), shared by fo list,
    # NumPy, torch and the list ceiling.
    params = [torch.empty(s).numpy() for s in shapes]
    grads = [torch.empty(s).numpy() for s in shapes]
    fill_random(params, rng)
    fill_random(grads, rng, 1e-2)
    total = sum(p.size for p in params)
    store = fo.FlatParams(params)  # copies: its own p and g buffers
    for dst, src in zip(store.grads, grads):
        dst[...] = src
    c = {"fo_flat": fo_opt(rule, store).step}
    lst = fo_opt(rule, params)
    c["fo_list"] = lambda: lst.step(grads)
    one = fo.FlatParams([store.data])  # one tensor of the same total size
    one.grad[...] = store.grad
    c["fo_flat_1tensor"] = fo_opt(rule, one).step
    c.update(numpy_contenders(rule, params, grads))
    c.update(torch_contenders(rule, params, grads))
    ceil_list = traffic_plan(rule, params)
    c["ceiling_list"] = lambda: ceil_list.step(grads)
    ceil_flat = traffic_plan(rule, [one.data])
    c["ceiling"] = lambda: ceil_flat.step([one.grad])  # the model's ceiling: one flat tensor
    return c, total, len(shapes)


def build_latency(rule, rng, n=16):
    store = fo.FlatParams([n])
    fill_random(store.params, rng)
    fill_random(store.grads, rng, 1e-2)
    p, g = store.data, store.grad
    c = {"fo_flat": fo_opt(rule, store).step}
    lst = fo_opt(rule, [p])
    c["fo_list"] = lambda: lst.step([g])
    c["np_inplace"] = NUMPY_RULES[rule][1]([p], [g]).step
    tp = torch_params([p], [g])
    c["torch_default"] = torch_opt(rule, tp, foreach=False).step
    c["torch_fused"] = torch_opt(rule, tp, fused=True).step
    return c


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_snapshot():
    """(time, jiffies the whole machine was busy incl. steal, jiffies this process used)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    with open("/proc/self/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return time.perf_counter(), busy, int(fields[11]) + int(fields[12])


def other_cores(a, b):
    """Cores used by everything but this process (and hypervisor steal) between snapshots."""
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / CLK_TCK / max(b[0] - a[0], 1e-9))


WAITED = {"s": 0.0}  # total time spent waiting for quiet, against cfg.wait_budget_s


def wait_quiet(cfg, allowed):
    """Waits until other processes use < cfg.quiet_cores for 0.5 s: at most cfg.max_wait_s,
    and at most what is left of the run's total waiting budget cfg.wait_budget_s."""
    t0 = time.perf_counter()
    limit = min(cfg.max_wait_s, max(0.0, cfg.wait_budget_s - WAITED["s"]))
    try:
        while True:
            a = cpu_snapshot()
            time.sleep(0.25)
            load = other_cores(a, cpu_snapshot())
            if load < allowed or time.perf_counter() - t0 > limit:
                return load
    finally:
        WAITED["s"] += time.perf_counter() - t0


def measure(contenders, cfg, threads=None):
    """Median seconds per call of each contender (see measure_once); retried when disturbed.

    The machine is shared: before each attempt we wait for other processes to go quiet, and
    during it we record the CPU that others used in each repetition. A repetition is disturbed
    when others used more than the cores the case leaves idle plus cfg.quiet_cores (a 1-thread
    case on 2 cores tolerates 1.15 cores of others). A contender's samples from disturbed
    repetitions are dropped when at least
    cfg.min_clean clean ones remain; otherwise the case counts as disturbed and is re-run (up to
    cfg.retries times, unless an attempt took longer than cfg.max_retry_s) and the attempt with
    the most clean repetitions is kept.
    """
    idle = 0 if threads is None else max(0, (os.cpu_count() or 1) - threads)
    allowed = cfg.quiet_cores + idle
    best = None
    for attempt in range(cfg.retries + 1):
        wait_quiet(cfg, allowed)
        t0 = time.perf_counter()
        res = measure_once(contenders, cfg, allowed)
        res["allowed_other_cores"] = allowed
        res["attempt"] = attempt
        key = (not res["disturbed"], res["clean_reps"] / res["reps"])
        if best is None or key > (not best["disturbed"], best["clean_reps"] / best["reps"]):
            best = res
        if (not res["disturbed"] or WAITED["s"] >= cfg.wait_budget_s
                or time.perf_counter() - t0 > cfg.max_retry_s):
            break
    return best


def measure_once(contenders, cfg, allowed):
    """Median seconds per call of each contender.

    Each contender is warmed up; a timed batch is consecutive steps until cfg.batch_s has passed
    (or, with cfg.count_batches, a number of steps calibrated to last ~cfg.batch_s); repetitions interleave the contenders (round robin, the order rotated
    each repetition) and the median over repetitions of (batch time / calls) is kept.
    Contenders slower than cfg.slow_s per step (NumPy and torch's unfused steps at 2^26) take
    part in every stride-th repetition only, so that they get about cfg.min_reps samples while
    the fast ones get as many repetitions as the budget allows.
    """
    names = list(contenders)
    inner, per_call = {}, {}
    for name in names:
        fn = contenders[name]
        for _ in range(cfg.warmup):
            fn()
        # Calibration (also warm-up): the fastest of 3 short windows, so that a stall (another
        # process preempting us) during calibration cannot make the batches too short.
        best = math.inf
        for _ in range(3):
            calls, t0 = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                el = time.perf_counter() - t0
                if el >= cfg.calib_s or calls >= 10000:
                    break
            best = min(best, el / calls)
            if best >= cfg.batch_s:  # one call per batch anyway
                break
        per_call[name] = best
        inner[name] = max(1, round(cfg.batch_s / per_call[name]))
    slow = {n for n in names if per_call[n] > cfg.slow_s}
    rep_s = sum(inner[n] * per_call[n] for n in names if n not in slow)
    reps = int(min(cfg.max_reps, max(cfg.min_reps, cfg.budget_s // max(rep_s, 1e-9))))
    stride = max(1, reps // cfg.min_reps) if slow else 1
    samples = {n: [] for n in names}  # (repetition, seconds per call)
    others = []
    gc.collect()
    gc.disable()
    clock, batch_s = time.perf_counter, cfg.batch_s
    try:
        for r in range(reps):
            active = [n for n in names if n not in slow or r % stride == 0]
            snap = cpu_snapshot()
            for k in range(len(active)):
                name = active[(k + r) % len(active)]
                fn = contenders[name]
                if cfg.count_batches:
                    calls = inner[name]
                    t0 = clock()
                    for _ in range(calls):
                        fn()
                    el = clock() - t0
                else:  # time-based: a stall cannot make the batch short
                    calls, t0 = 0, clock()
                    while True:
                        fn()
                        calls += 1
                        el = clock() - t0
                        if el >= batch_s:
                            break
                samples[name].append((r, el / calls, calls))
            others.append(other_cores(snap, cpu_snapshot()))
    finally:
        gc.enable()
    clean = {i for i, o in enumerate(others) if o < allowed}
    per, disturbed = {}, False
    for n in names:
        good = [s for r, s, _ in samples[n] if r in clean]
        need = min(cfg.min_clean, len(samples[n]))
        if len(good) < need:
            good, disturbed = [s for _, s, _ in samples[n]], True
        per[n] = dict(median_s=statistics.median(good), calls_per_rep=inner[n],
                      samples_s=[s for _, s, _ in samples[n]],
                      sample_reps=[r for r, _, _ in samples[n]],
                      sample_calls=[c for _, _, c in samples[n]], used_samples=len(good))
    return dict(per=per, reps=reps, clean_reps=len(clean), clean=sorted(clean),
                disturbed=disturbed,
                slow=sorted(slow), stride=stride, other_cores=others)


def set_threads(n):
    fo.set_num_threads(n)
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# Correctness check (tiny): every contender computes the same steps
# ---------------------------------------------------------------------------------------------
def check_agreement(rules):
    rng = np.random.default_rng(1)
    shapes = [(33, 7), (5,), (100,)]
    for rule in rules:
        p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        results = {}
        makers = {
            "fo_flat": lambda ps: (lambda st: (fo_opt(rule, st).step, st.params))(
                _store_with_grads(ps, gs)),
            "fo_list": lambda ps: (lambda o: (lambda: o.step(gs), ps))(fo_opt(rule, ps)),
            "np_textbook": lambda ps: (NUMPY_RULES[rule][0](ps, gs).step, ps),
            "np_inplace": lambda ps: (NUMPY_RULES[rule][1](ps, gs).step, ps),
        }
        for kw in ("default", "foreach", "fused"):
            arg = {"default": dict(foreach=False), "foreach": dict(foreach=True),
                   "fused": dict(fused=True)}[kw]
            makers["torch_" + kw] = (lambda arg: lambda ps: (
                torch_opt(rule, torch_params(ps, gs), **arg).step, ps))(arg)
        for name, make in makers.items():
            ps = [p.copy() for p in p0]
            step, out = make(ps)
            for _ in range(3):
                step()
            results[name] = np.concatenate([o.ravel() for o in out])
        ref = results["torch_default"]
        for name, r in results.items():
            if not np.allclose(r, ref, rtol=1e-5, atol=1e-6):
                raise SystemExit(f"correctness check failed: {rule} {name} differs from torch "
                                 f"(max abs diff {np.abs(r - ref).max():.3g})")


def _store_with_grads(ps, gs):
    st = fo.FlatParams(ps)
    for d, s in zip(st.grads, gs):
        d[...] = s
    return st


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------
def machine_info():
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu=cpu, cores=os.cpu_count(), fastoptim=fo.__version__, cpu_target=fo.cpu_target(),
        torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
        platform=platform.platform(), loadavg_start=list(os.getloadavg()),
    )
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    try:  # which fastoptim build ran: the source checkout's commit and the native module's mtime
        repo = Path(__file__).resolve().parent.parent
        head = os.popen(f"git -C '{repo}' rev-parse --short HEAD 2>/dev/null").read().strip()
        dirty = os.popen(f"git -C '{repo}' status --porcelain -- cpp python 2>/dev/null").read()
        info["git_head"] = head + ("+dirty(cpp/python)" if dirty.strip() else "")
        info["core_built"] = datetime.datetime.fromtimestamp(
            os.path.getmtime(_core.__file__)).astimezone().isoformat(timespec="seconds")
    except OSError:
        pass
    try:
        out = os.popen("lscpu 2>/dev/null").read()
        for line in out.splitlines():
            if line.startswith(("L2 cache", "L3 cache")):
                k, v = line.split(":", 1)
                info[k.strip().replace(" ", "_").lower()] = v.strip()
    except OSError:
        pass
    return info


def size_label(case):
    if case["case"] == "model":
        return f"model ({case['n_tensors']} tensors, {case['n'] / 1e6:.1f}M)"
    n = case["n"]
    k = int(math.log2(n))
    return f"2^{k}" if 2 ** k == n else str(n)


def dag(c):
    return " †" if c.get("disturbed") else ""


def fmt_g(x):
    return "—" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def fmt_x(x):
    return "—" if x is None else f"{x:.2f}×"


def render(doc):
    m = doc["machine"]
    out = ["# fastoptim benchmark", ""]
    out.append(f"{m['date']} · {m['cpu']} ({m['cores']} cores, L2 {m.get('l2_cache', '?')}, "
               f"L3 {m.get('l3_cache', '?')}, {m.get('mem_gib', '?')} GiB) · fastoptim "
               f"{m['fastoptim']} target `{m['cpu_target']}` · torch {m['torch']} · numpy "
               f"{m['numpy']} · Python {m['python']}"
               + (f" · checkout {m['git_head']}, _core built {m['core_built']}"
                  if "git_head" in m else ""))
    out.append("")
    cfg = doc["config"]
    out.append(f"Mode `{cfg['mode']}` · command `{cfg['command']}` · total {doc['runtime_s']:.0f} s "
               f"(of which {doc['waited_for_quiet_s']:.0f} s waiting for other processes) · "
               f"peak RSS {doc['peak_rss_gib']:.1f} GiB · load average at start "
               f"{m['loadavg_start'][0]:.2f}, at end {doc['loadavg_end'][0]:.2f}")
    out.append("")
    out.append("One optimizer step (Adam lr=1e-3 default betas; SGD lr=1e-3 momentum=0.9), "
               "float32. Cells: **Gelem/s** (elements updated per second, median) and, in "
               "parentheses, % of the bandwidth ceiling measured at the same size and threads "
               "(for the model: the ceiling on one flat tensor of the same total size). The ceiling "
               "column gives Gelem/s and GB/s of its traffic (Adam 28 B/elem, SGD 20 B/elem). "
               "NumPy is single-threaded: measured at 1 thread only (— at 2). Higher is better.")
    out.append("")
    res = doc["results"]
    for rule in doc["config"]["rules"]:
        cases = [c for c in res if c["rule"] == rule]
        if not cases:
            continue
        out.append(f"## {rule.upper()} — throughput, Gelem/s (% of ceiling)")
        out.append("")
        cols = [(k, n) for k, n in CONTENDERS]
        out.append("| size | thr | " + " | ".join(n for _, n in cols) + " |")
        out.append("|---|--:|" + "--:|" * len(cols))
        for c in cases:
            ceil = c["gelem_s"].get("ceiling")
            cells = []
            for k, _ in cols:
                v = c["gelem_s"].get(k)
                if v is None:
                    cells.append("—")
                elif k == "ceiling":
                    cells.append(f"{fmt_g(v)} ({v * TRAFFIC_BYTES[rule]:.0f} GB/s)")
                else:
                    cells.append(f"{fmt_g(v)} ({100 * v / ceil:.0f}%)")
            out.append(f"| {size_label(c)}{dag(c)} | {c['threads']} | " + " | ".join(cells) + " |")
        out.append("")
        out.append(f"### {rule.upper()} — key ratios (fastoptim flat store; list API in brackets)")
        out.append("")
        out.append("| size | thr | % of ceiling | vs torch fused | vs torch default | "
                   "vs torch foreach | vs NumPy in-place (1 thr) | vs NumPy textbook (1 thr) |")
        out.append("|---|--:|--:|--:|--:|--:|--:|--:|")
        for c in cases:
            r = c["ratios"]
            out.append(
                f"| {size_label(c)}{dag(c)} | {c['threads']} | {r['flat_pct_ceiling']:.0f}% "
                f"[{r['list_pct_ceiling']:.0f}%] | {fmt_x(r['vs_torch_fused'])} "
                f"[{fmt_x(r['list_vs_torch_fused'])}] | {fmt_x(r['vs_torch_default'])} | "
                f"{fmt_x(r['vs_torch_foreach'])} | {fmt_x(r['vs_np_inplace_1t'])} | "
                f"{fmt_x(r['vs_np_textbook_1t'])} |")
        out.append("")
        models = [c for c in cases if c["case"] == "model"]
        if models:
            out.append(f"### {rule.upper()} — the model ({models[0]['n_tensors']} tensors of "
                       f"mixed sizes, {models[0]['n']} elements)")
            out.append("")
            out.append("| thr | fo flat store (Gelem/s) | fo on one flat tensor | flat store / one "
                       "tensor | fo list API | list / flat store | ceiling on the tensors as a "
                       "list | ceiling on one flat tensor |")
            out.append("|--:|--:|--:|--:|--:|--:|--:|--:|")
            for c in models:
                gs = c["gelem_s"]
                out.append(
                    f"| {c['threads']}{dag(c)} | {fmt_g(gs['fo_flat'])} | {fmt_g(gs['fo_flat_1tensor'])} | "
                    f"{100 * gs['fo_flat'] / gs['fo_flat_1tensor']:.0f}% | {fmt_g(gs['fo_list'])} | "
                    f"{100 * gs['fo_list'] / gs['fo_flat']:.0f}% | {fmt_g(gs['ceiling_list'])} | "
                    f"{fmt_g(gs['ceiling'])} |")
            out.append("")
    if doc.get("latency"):
        out.append("## Latency — one step on a 16-element tensor, Python call to return (µs, median)")
        out.append("")
        names = [("fo_list", "fastoptim list"), ("fo_flat", "fastoptim flat"),
                 ("np_inplace", "NumPy in-place"), ("torch_fused", "torch fused"),
                 ("torch_default", "torch default")]
        out.append("| rule | thr | " + " | ".join(n for _, n in names) + " |")
        out.append("|---|--:|" + "--:|" * len(names))
        for lat in doc["latency"]:
            out.append(f"| {lat['rule']}{dag(lat)} | {lat['threads']} | " + " | ".join(
                f"{lat['us'][k]:.2f}" if k in lat["us"] else "—" for k, _ in names) + " |")
        out.append("")
    out.append("Method: contenders of a case share the p and g buffers (each has its own state), "
               "are warmed up, then timed in round-robin repetitions (order rotated each "
               "repetition), each a batch of consecutive steps until "
               f"{cfg['batch_s'] * 1000:.0f} ms have passed (one step if longer); the median over "
               "repetitions is reported; contenders slower than "
               f"{cfg['slow_s']} s per step run in every k-th repetition only (≥ {cfg['min_reps']} "
               "samples). Sizes up to 2^20 (and the model, 16 MiB per array) fit "
               "in L3 here and are measured cache-warm; 2^26 (256 MiB per array) is DRAM-bound. "
               "Raw medians and samples: results.json. The machine is shared: each case waits for "
               "other processes to go quiet, the CPU others use is recorded per repetition "
               "(disturbed: more than the cores the case leaves idle + "
               f"{cfg['quiet_cores']}), disturbed repetitions are dropped when at least "
               f"{cfg['min_clean']} clean ones remain, else the case is re-run (up to "
               f"{cfg['retries']} times).")
    out.append("")
    nd = sum(1 for c in res + doc.get("latency", []) if c["disturbed"])
    out.append(f"† disturbed: some contender had fewer than {cfg['min_clean']} repetitions free of "
               "other processes' CPU use, even after retries (its median over all repetitions is "
               f"shown). Rows marked: {nd}.")
    out.append("")
    return "\n".join(out)


def run_stats(meas, cfg):
    return dict(reps=meas["reps"], clean_reps=meas["clean_reps"], attempt=meas["attempt"],
                disturbed=meas["disturbed"], slow=meas["slow"], slow_stride=meas["stride"],
                max_other_cores=max(meas["other_cores"]),
                allowed_other_cores=meas["allowed_other_cores"],
                median_other_cores=statistics.median(meas["other_cores"]),
                other_cores_per_rep=meas["other_cores"])


def ratios(g):
    def r(a, b):
        return None if g.get(a) is None or g.get(b) is None else g[a] / g[b]
    return dict(
        flat_pct_ceiling=100 * g["fo_flat"] / g["ceiling"],
        list_pct_ceiling=100 * g["fo_list"] / g["ceiling"],
        vs_torch_fused=r("fo_flat", "torch_fused"),
        list_vs_torch_fused=r("fo_list", "torch_fused"),
        vs_torch_default=r("fo_flat", "torch_default"),
        vs_torch_foreach=r("fo_flat", "torch_foreach"),
        vs_np_inplace_1t=None, vs_np_textbook_1t=None,  # filled in once the 1-thread row exists
    )


# ---------------------------------------------------------------------------------------------
def parse_sizes(text):
    out = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        if tok == "model":
            out.append("model")
        elif tok.startswith("2**") or tok.startswith("2^"):
            out.append(2 ** int(tok[3:] if tok.startswith("2**") else tok[2:]))
        elif tok:
            k = int(tok)
            out.append(2 ** k if k <= 40 else k)  # small numbers are exponents
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few reps (smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                    help="output directory (default bench/results)")
    ap.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    ap.add_argument("--rules", default="adam,sgd", help="rules: adam,sgd")
    ap.add_argument("--sizes", default=None,
                    help="sizes: exponents (20 = 2**20), element counts (> 40), or 'model'; "
                         "default 16,20,26,model (quick: 12,16,model)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed repetitions per case (default 8; quick 0.5)")
    ap.add_argument("--quiet", type=float, default=0.15,
                    help="CPU (in cores) that other processes may use during a repetition "
                         "before it counts as disturbed (default 0.15)")
    ap.add_argument("--no-latency", action="store_true", help="skip the 16-element latency rows")
    ap.add_argument("--no-check", action="store_true", help="skip the agreement check")
    args = ap.parse_args(argv)

    class Cfg:  # timing parameters
        pass
    cfg = Cfg()
    cfg.quiet_cores = args.quiet
    cfg.slow_s, cfg.max_retry_s, cfg.count_batches = 0.25, 60.0, False
    if args.quick:
        cfg.warmup, cfg.calib_s, cfg.batch_s, cfg.min_reps, cfg.max_reps = 1, 0.001, 0.005, 3, 9
        cfg.budget_s = 0.5 if args.budget is None else args.budget
        cfg.min_clean, cfg.retries, cfg.max_wait_s, cfg.wait_budget_s = 2, 1, 5.0, 20.0
        sizes = parse_sizes(args.sizes or "12,16,model")
    else:
        cfg.warmup, cfg.calib_s, cfg.batch_s, cfg.min_reps, cfg.max_reps = 1, 0.01, 0.05, 5, 31
        cfg.budget_s = 8.0 if args.budget is None else args.budget
        cfg.min_clean, cfg.retries, cfg.max_wait_s, cfg.wait_budget_s = 3, 2, 20.0, 120.0
        sizes = parse_sizes(args.sizes or "16,20,26,model")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    rules = [r.strip().lower() for r in args.rules.split(",") if r.strip()]
    for r in rules:
        if r not in TRAFFIC_BYTES:
            ap.error(f"unknown rule {r!r} (adam, sgd)")
    np_threads = min(threads)  # NumPy is single-threaded: measured once, at the fewest threads

    start = time.perf_counter()
    info = machine_info()
    print(f"# {info['cpu']} · target {info['cpu_target']} · torch {info['torch']} · numpy "
          f"{info['numpy']} · load {info['loadavg_start'][0]:.2f}", file=sys.stderr)
    if not args.no_check:
        check_agreement(rules)
        print("agreement check: every contender matches torch after 3 steps", file=sys.stderr)

    rng = np.random.default_rng(0)
    results = []
    for rule in rules:
        for size in sizes:
            if size == "model":
                contenders, n, ntens = build_model(rule, model_shapes(), rng)
                case = "model"
            else:
                contenders, n, ntens, case = build_single(rule, size, rng), size, 1, "single"
            for t in threads:
                set_threads(t)
                c = {k: v for k, v in contenders.items() if t == np_threads or k not in NUMPY}
                t0 = time.perf_counter()
                meas = measure(c, cfg, t)
                per = meas["per"]
                gelem = {k: n / v["median_s"] / 1e9 for k, v in per.items()}
                row = dict(rule=rule, case=case, n=n, n_tensors=ntens, threads=t,
                           median_s={k: v["median_s"] for k, v in per.items()},
                           gelem_s=gelem, ratios=ratios(gelem), **run_stats(meas, cfg),
                           samples_s={k: v["samples_s"] for k, v in per.items()},
                           sample_calls={k: v["sample_calls"] for k, v in per.items()},
                           sample_reps={k: v["sample_reps"] for k, v in per.items()})
                results.append(row)
                print(f"{rule:4s} {size_label(row):28s} {t} thr: fo flat {gelem['fo_flat']:.2f} "
                      f"Gelem/s = {row['ratios']['flat_pct_ceiling']:.0f}% of ceiling, "
                      f"{row['ratios']['vs_torch_fused']:.2f}x torch fused ({meas['reps']} reps, "
                      f"{meas['clean_reps']} clean, attempt {meas['attempt'] + 1}, "
                      f"{time.perf_counter() - t0:.1f} s)", file=sys.stderr)
            del contenders
            gc.collect()
    # NumPy ratios against the 1-thread (fewest threads) NumPy measurement of the same case.
    for row in results:
        base = next(r for r in results if r["rule"] == row["rule"] and r["n"] == row["n"]
                    and r["case"] == row["case"] and r["threads"] == np_threads)
        for k, key in (("np_inplace", "vs_np_inplace_1t"), ("np_textbook", "vs_np_textbook_1t")):
            if k in base["gelem_s"]:
                row["ratios"][key] = row["gelem_s"]["fo_flat"] / base["gelem_s"][k]

    latency = []
    if not args.no_latency:
        for rule in rules:
            c = build_latency(rule, rng)
            lcfg = Cfg()
            lcfg.__dict__.update(cfg.__dict__)
            lcfg.warmup, lcfg.calib_s, lcfg.batch_s = 10, 0.002, 0.002 if args.quick else 0.005
            lcfg.min_reps, lcfg.max_reps = (9, 21) if args.quick else (51, 201)
            lcfg.budget_s = 0.3 if args.quick else 2.0
            lcfg.min_clean = 5 if args.quick else 25
            lcfg.count_batches = True  # ~1 us steps: no clock read per step
            for t in threads:
                set_threads(t)
                meas = measure(c, lcfg, t)
                latency.append(dict(rule=rule, threads=t,
                                    us={k: v["median_s"] * 1e6 for k, v in meas["per"].items()},
                                    **run_stats(meas, lcfg),
                                    calls_per_rep={k: v["calls_per_rep"]
                                                   for k, v in meas["per"].items()}))
                print(f"{rule:4s} latency {t} thr: " + ", ".join(
                    f"{k} {v:.2f} us" for k, v in latency[-1]["us"].items()), file=sys.stderr)

    doc = dict(
        machine=info,
        config=dict(mode="quick" if args.quick else "full",
                    command="python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
                    rules=rules, sizes=sizes, threads=threads, numpy_threads=np_threads,
                    lr=LR, betas=BETAS, eps=EPS, momentum=MOMENTUM,
                    traffic_bytes_per_elem=TRAFFIC_BYTES, warmup=cfg.warmup, batch_s=cfg.batch_s,
                    budget_s=cfg.budget_s, min_reps=cfg.min_reps, max_reps=cfg.max_reps,
                    quiet_cores=cfg.quiet_cores, min_clean=cfg.min_clean, retries=cfg.retries,
                    max_wait_s=cfg.max_wait_s, wait_budget_s=cfg.wait_budget_s,
                    slow_s=cfg.slow_s, max_retry_s=cfg.max_retry_s,
                    model_shapes=[list(s) for s in model_shapes()]),
        results=results, latency=latency,
        runtime_s=time.perf_counter() - start, waited_for_quiet_s=WAITED["s"],
        peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
        loadavg_end=list(os.getloadavg()),
    )
    md = render(doc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "results.md").write_text(md)
    print(md)
    print(f"wrote {out / 'results.md'} and {out / 'results.json'} in {doc['runtime_s']:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
