"""Adam at low precision: fastoptim's state and parameter formats against each other and peers.

    python bench/lowprec.py                   # 2^20, 2^26 and the model, 1 and 2 threads
    /tmp/peervenv/bin/python bench/lowprec.py # the same with the peers (a venv that has them)
    python bench/lowprec.py --sizes 16 --threads 1 --quick --out /tmp/lp   # smoke test
    python bench/lowprec.py --skip torchao8,bnb8 --no-in-cache

One Adam step (lr=1e-3) per contender on the same problem, timed interleaved in one run
(fastoptim.bench's ``measure``: round-robin repetitions, medians, repetitions disturbed by other
processes left out), reported as ratios within the run. fastoptim (keys for --skip in
brackets): float32 params, grads and state [fp32]; bfloat16 state [bf16]; int8 state [int8];
bfloat16 params with master_weights="split", bfloat16 grads and int8 [split-int8] or bfloat16
state [split-bf16]. Peers, each skipped with a note if its import or construction fails: torch's
fused Adam [torch-fused], DeepSpeed's CPU Adam, float32 or bfloat16 params [ds-fp32, ds-bf16],
bitsandbytes' Adam8bit [bnb8], torchao's AdamW8bit, weight_decay=0 [torchao8]. Peers step
torch tensors sharing the NumPy buffers, .grad set once to the fixed gradients. A peer whose
step takes over 5x fp32 fastoptim's and 50 ms is timed in a short round of its own (3 reps)
with fp32 fastoptim, its ratio from that round.

State B/param is counted from each optimizer's state after a step (each array or tensor once,
step counters left out; split's master low bits included). B/elem is fastoptim's traffic:
params, master bits and state read and written, grads read. The ceiling is fastoptim.bench's
``ceiling`` (native, fp32 Adam's 28 B/elem, no arithmetic) timed in the same run: its bandwidth
gives each fastoptim contender's ceiling time for its B/elem; % of ceiling = that / its time.
"model" is bench/run.py's model_shapes() (196 tensors, lists of arrays; its ceiling: one flat
tensor of the same size). --in-cache adds fastoptim at 2^15 elements on one thread (ns/elem):
the arithmetic's cost with the data in cache. Writes lowprec-peers.md and .json to --out.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import shlex
import sys
import time
from pathlib import Path
from timeit import timeit
from types import SimpleNamespace

import ml_dtypes
import numpy as np

import fastoptim as fo
from fastoptim.bench import (ceiling, machine_info, measure, new_store, parse_threads,
                             set_threads, size_label, _table, Timing, timing_of, traffic_bytes,
                             write_results)
from fastoptim.flat import aligned_zeros
from fastoptim.quantized import Int8State

HERE = Path(__file__).resolve().parent
LR = 1e-3
BF16 = ml_dtypes.bfloat16
CEIL_BYTES = traffic_bytes(2)  # fp32 Adam: 28 B/elem, the ceiling kernel's traffic
SLOW = Timing(warmup=0, batch_s=0.0, budget_s=0.0, min_reps=3, max_reps=3)
SLOW_X, SLOW_S = 5.0, 0.05  # slow: a step over SLOW_X times fp32 fastoptim's and SLOW_S seconds
IN_CACHE_N = 2**15
TARGETS = {"bf16": 1.3, "int8": 1.5, "split-int8": 1.7}  # speedup over fp32, 2^26, 2 threads

# key: (label, bfloat16 params and grads, fo.Adam options)
FASTOPTIM = {
    "fp32": ("fp32", False, {}),
    "bf16": ("bf16 state", False, dict(state_dtype="bfloat16")),
    "int8": ("int8 state", False, dict(state_dtype="int8")),
    "split-int8": ("bf16 split + bf16 grads + int8", True,
                   dict(master_weights="split", state_dtype="int8")),
    "split-bf16": ("bf16 split + bf16 grads + bf16 state", True,
                   dict(master_weights="split", state_dtype="bfloat16")),
}


def _deepspeed(params):
    """DeepSpeed's op is built (JIT, ~85 s) on first use, cached in TORCH_EXTENSIONS_DIR:
    by default the running environment's torch_extensions (a venv's: <venv>/torch_extensions)."""
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    os.environ.setdefault("MAX_JOBS", "1")
    from deepspeed.ops.adam import DeepSpeedCPUAdam
    return DeepSpeedCPUAdam(params, lr=LR, adamw_mode=False, weight_decay=0.0)


# key: (label, bfloat16 params and grads, params -> optimizer)
_mod = importlib.import_module
PEERS = {
    "torch-fused": ("torch fused Adam", False,
                    lambda ps: _mod("torch").optim.Adam(ps, lr=LR, fused=True)),
    "ds-fp32": ("DeepSpeed CPU Adam fp32", False, _deepspeed),
    "ds-bf16": ("DeepSpeed CPU Adam bf16", True, _deepspeed),
    "bnb8": ("bitsandbytes Adam8bit", False,
             lambda ps: _mod("bitsandbytes").optim.Adam8bit(ps, lr=LR)),
    "torchao8": ("torchao AdamW8bit", False,
                 lambda ps: _mod("torchao.optim").AdamW8bit(ps, lr=LR, weight_decay=0.0)),
}
PEER_NOTES = {
    "ds-fp32": "DeepSpeed's CPU Adam op is compiled on this machine with -march=native (fastoptim "
               "picks its SIMD target at run time); its state stays float32 with bf16 params.",
    "torchao8": "torchao's first step compiles (torch.compile, one graph per tensor shape): "
                "done before timing.",
}


def state_bytes(entries) -> int:
    """Bytes of optimizer state in the entries (dicts): every array or tensor once (by address),
    Int8State and torch tensor subclasses as their parts, "step" counters left out."""
    seen, total = set(), 0

    def add(v):
        nonlocal total
        if isinstance(v, Int8State):
            add(v.codes), add(v.scales)
        elif hasattr(v, "__tensor_flatten__"):  # a torch subclass (torchao's OptimState8bit)
            for name in v.__tensor_flatten__()[0]:
                add(getattr(v, name))
        elif isinstance(v, np.ndarray) or hasattr(v, "data_ptr"):
            key = (v.ctypes.data if isinstance(v, np.ndarray) else v.data_ptr(), v.nbytes)
            if key not in seen:
                seen.add(key)
                total += v.nbytes

    for entry in entries:
        for k, v in entry.items():
            if k != "step":
                add(v)
    return total


def make_data(shapes, rng):
    """Fixed parameters ~ N(0, 1) and gradients ~ 0.01 N(0, 1): float32 and bfloat16 lists."""
    d = SimpleNamespace(p32=[], g32=[], p16=[], g16=[], n=0)
    for s in shapes:
        size = int(np.prod(s))
        p, g = aligned_zeros(size).reshape(s), aligned_zeros(size).reshape(s)
        p[...] = rng.standard_normal(s, dtype=np.float32)
        g[...] = rng.standard_normal(s, dtype=np.float32) * np.float32(0.01)
        d.p32.append(p), d.g32.append(g)
        for src, dst in ((p, d.p16), (g, d.g16)):
            dst.append(aligned_zeros(size, BF16).reshape(s))
            dst[-1][...] = src  # rounded to nearest
        d.n += size
    return d


def build_fastoptim(key, d):
    """fastoptim's step for the contender, its state B/param and its B/elem moved."""
    _, low, kw = FASTOPTIM[key]
    params, grads = (d.p16, d.g16) if low else (d.p32, d.g32)
    opt = fo.Adam(params, lr=LR, **kw)
    step = lambda: opt.step(grads)  # noqa: E731
    step()
    state = state_bytes(opt.state[i] for i in range(len(params)))
    moved = 2 * (sum(p.nbytes for p in params) + state) + sum(g.nbytes for g in grads)
    return step, state / d.n, moved / d.n


def build_peer(key, d, torch):
    """A peer's step (after one untimed step) on tensors sharing d's buffers; its state B/param."""
    _, low, make = PEERS[key]
    params, grads = (d.p16, d.g16) if low else (d.p32, d.g32)
    tensor = ((lambda a: torch.from_numpy(a.view(np.uint16)).view(torch.bfloat16)) if low
              else torch.from_numpy)
    ts = []
    for p, g in zip(params, grads):
        ts.append(tensor(p).requires_grad_(True))
        ts[-1].grad = tensor(g)
    opt = make(ts)
    opt.step()
    return opt.step, state_bytes(opt.state[t] for t in ts) / d.n


def run_case(case, shapes, threads, timing, skip, torch, notes, log):
    """Every contender on one problem at each thread count: one result dict per thread count."""
    rng = np.random.default_rng(0)
    d = make_data(shapes, rng)
    steps, meta = {}, {}
    for key, (label, _, _) in FASTOPTIM.items():
        if key not in skip:
            steps[key], state, moved = build_fastoptim(key, d)
            meta[key] = dict(label=label, state_b=state, bytes=moved)
    for key, (label, _, _) in PEERS.items():
        if key in skip or torch is None:
            continue
        t0 = time.perf_counter()
        try:
            steps[key], state = build_peer(key, d, torch)
        except Exception as e:  # noqa: BLE001  (an optional peer: any failure skips it)
            notes.setdefault(key, f"{label} skipped: {type(e).__name__}: {str(e)[:200]}")
            continue
        meta[key] = dict(label=label, state_b=state, bytes=None)
        if key in PEER_NOTES:
            notes.setdefault(key, PEER_NOTES[key])
        log(f"{case}: {label} ready ({time.perf_counter() - t0:.1f} s)")
    one = len(shapes) == 1  # else the ceiling on one flat tensor of the model's size
    steps["ceiling"] = ceiling(SimpleNamespace(data=d.p32[0], grad=d.g32[0]) if one
                               else new_store(d.n, rng), 2)
    out = []
    for t in threads:
        set_threads(t, torch)
        first = {k: timeit(f, number=1) for k, f in steps.items()}
        slow = [k for k in steps if k in PEERS
                and first[k] > max(SLOW_X * first["fp32"], SLOW_S)]
        t0 = time.perf_counter()
        meas = measure({k: f for k, f in steps.items() if k not in slow}, timing, t)
        med = {k: v["median_s"] for k, v in meas["per"].items()}
        vs = {k: med["fp32"] / s for k, s in med.items()}
        if slow:
            sm = measure({k: steps[k] for k in ["fp32"] + slow}, SLOW, t)
            for k in slow:
                med[k] = sm["per"][k]["median_s"]
                vs[k] = sm["per"]["fp32"]["median_s"] / med[k]
        bw = CEIL_BYTES * d.n / med["ceiling"]
        rows = []
        for k, m in meta.items():
            if k not in med:
                continue
            ceil_s = m["bytes"] * d.n / bw if m["bytes"] is not None else None
            rows.append(dict(key=k, **m, median_s=med[k], vs_fp32=vs[k], slow=k in slow,
                             pct_ceiling=100 * ceil_s / med[k] if ceil_s else None))
        out.append(dict(case=case, n=d.n, tensors=len(shapes), threads=t, bandwidth_gb_s=bw / 1e9,
                        ceiling_s=med["ceiling"], rows=rows, reps=meas["reps"],
                        clean_reps=meas["clean_reps"], disturbed=meas["disturbed"]))
        log(f"{case} {t} thr: " + ", ".join(f"{r['key']} {r['vs_fp32']:.2f}x" for r in rows)
            + f"; ceiling {bw / 1e9:.1f} GB/s ({time.perf_counter() - t0:.1f} s)")
    del steps, d
    gc.collect()
    return out


def _f(x, fmt):  # a table cell: — for none
    return "—" if x is None else format(x, fmt)


def render(doc) -> str:
    m, cfg = doc["machine"], doc["config"]
    peers = ", ".join(f"{k} {v}" for k, v in m.get("peers", {}).items()) or "none"
    out = ["# Adam at low precision: fastoptim's formats and peers", "",
           f"`{cfg['command']}` ({cfg['python']}) · {m['date']} · {m['cpu']} ({m['cores']} cores"
           + "".join(f", {k[:2].upper()} {m[k]}" for k in ("l2_cache", "l3_cache") if k in m)
           + f") · target `{m['cpu_target']}` · torch {m['torch']} · peers: {peers} · "
           f"{doc['seconds']} s", ""]
    out += [f"Note: {n}" for n in doc["notes"]] + ([""] if doc["notes"] else [])
    out += ["One Adam step (lr=1e-3). *B/elem*: bytes fastoptim moves per parameter; *state "
            "B/param*: optimizer state memory, counted from the state after a step; *ms*: median "
            "step time; *× fp32*: fp32 fastoptim's time / this one's, in the same run; *% ceil*: "
            "the contender's own ceiling (its B/elem at the bandwidth of the ceiling kernel, "
            "measured in the same run) / its time. † case disturbed by other processes; ‡ slow, "
            "timed in a separate short round with fp32 fastoptim.", ""]
    for c in doc["results"]:
        size = (f"model ({c['tensors']} tensors, {c['n'] / 1e6:.1f}M)" if c["case"] == "model"
                else size_label(c["n"]))
        out += [f"## {size}, {c['threads']} thread{'s' if c['threads'] > 1 else ''}"
                f"{' †' if c['disturbed'] else ''}: ceiling {c['bandwidth_gb_s']:.1f} GB/s "
                f"({CEIL_BYTES} B/elem in {1e3 * c['ceiling_s']:.3g} ms)", ""]
        out += _table(["contender", "B/elem", "state B/param", "ms", "× fp32", "% ceil"], [
            [r["label"] + (" ‡" if r["slow"] else ""), _f(r["bytes"], ".4g"),
             f"{r['state_b']:.4g}", f"{1e3 * r['median_s']:.3g}", f"{r['vs_fp32']:.2f}×",
             _f(r["pct_ceiling"], ".0f")] for r in c["rows"]]) + [""]
    t = doc["targets"]
    if t:
        out += [f"Targets at {t['where']} (speedup over fp32 fastoptim): " + ", ".join(
            f"{FASTOPTIM[k][0]} ≥{goal}× (measured "
            + (f"{t['measured'][k]:.2f}×)" if k in t["measured"] else "— skipped)")
            for k, goal in TARGETS.items()), ""]
    if doc["in_cache"]:
        c = doc["in_cache"]
        out += [f"## In cache: {size_label(c['n'])} elements, 1 thread"
                f"{' †' if c['disturbed'] else ''}", "",
                "The same step on data that fits in cache: ns per element is the arithmetic's "
                "cost (the ceiling row: moving fp32 Adam's bytes through the cache).", ""]
        rows = [[r["label"], _f(r["bytes"], ".4g"), f"{1e9 * r['median_s'] / c['n']:.3f}",
                 f"{r['vs_fp32']:.2f}×"] for r in c["rows"]]
        rows.append([f"ceiling ({CEIL_BYTES} B/elem, no arithmetic)", str(CEIL_BYTES),
                     f"{1e9 * c['ceiling_s'] / c['n']:.3f}", "—"])
        out += _table(["contender", "B/elem", "ns/elem", "× fp32"], rows) + [""]
    return "\n".join(out)


def targets(results):
    """The measured target ratios at 2^26 on 2 threads, else at the largest one-tensor size and
    most threads of the run."""
    single = [c for c in results if c["case"] != "model"]
    if not single:
        return None
    best = max(single, key=lambda c: (c["n"] == 2**26 and c["threads"] == 2, c["n"], c["threads"]))
    where = f"{size_label(best['n'])}, {best['threads']} thread{'s' if best['threads'] > 1 else ''}"
    if not (best["n"] == 2**26 and best["threads"] == 2):
        where += " (2^26 on 2 threads not in this run)"
    return dict(where=where, measured={r["key"]: r["vs_fp32"] for r in best["rows"]
                                       if r["key"] in TARGETS})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20,26,model",
                    help="log2 elements of one tensor, or 'model' (default 20,26,model)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--quick", action="store_true", help="short timing (fastoptim.bench QUICK)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per case")
    ap.add_argument("--skip", default="", help="contenders to leave out: "
                    + ", ".join(k for k in list(FASTOPTIM) + list(PEERS) if k != "fp32"))
    ap.add_argument("--in-cache", action=argparse.BooleanOptionalAction, default=True,
                    help=f"also fastoptim at {size_label(IN_CACHE_N)} on 1 thread (default on)")
    ap.add_argument("--out", default=str(HERE / "results"), help="default bench/results")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    bad = (skip - set(FASTOPTIM) - set(PEERS)) | (skip & {"fp32"})
    if bad:
        ap.error(f"--skip: unknown, or fp32 (the reference): {', '.join(sorted(bad))}")
    try:
        sizes = [s.strip() if s.strip() == "model" else int(s) for s in args.sizes.split(",")]
        threads = parse_threads(args.threads)
    except ValueError as e:
        ap.error(str(e))
    timing = timing_of(args.quick, args.budget)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    start = time.perf_counter()
    notes = {}
    try:
        import torch
    except ImportError:
        torch = None
        notes["torch"] = "torch is not installed: every peer is skipped."
    info = machine_info(torch)
    results = []
    for s in sizes:
        if s == "model":
            try:
                sys.path.insert(0, str(HERE))
                from run import model_shapes  # bench/run.py (imports torch)
            except ImportError as e:
                notes["model"] = f"model case skipped: bench/run.py did not import ({e})"
                continue
            results += run_case("model", model_shapes(), threads, timing, skip, torch, notes, log)
        else:
            results += run_case(f"2^{s}", [(2**s,)], threads, timing, skip, torch, notes, log)
    cache = None
    if args.in_cache:
        cache = run_case("in-cache", [(IN_CACHE_N,)], [1], timing, skip, None, {}, log)[0]
    info["peers"] = {name: getattr(sys.modules[name], "__version__", "?")
                     for name in ("deepspeed", "bitsandbytes", "torchao") if name in sys.modules}
    doc = dict(machine=info,
               config=dict(command=shlex.join(["python", "bench/lowprec.py"]
                                              + (sys.argv[1:] if argv is None else list(argv))),
                           python=sys.executable, sizes=sizes, threads=threads, skip=sorted(skip),
                           timing=timing._asdict(), slow_timing=SLOW._asdict(), lr=LR),
               notes=list(notes.values()), results=results, in_cache=cache,
               targets=targets(results), seconds=round(time.perf_counter() - start))
    text = render(doc)
    print(text)
    paths = write_results(args.out, "lowprec-peers", doc, text)
    log("wrote " + " and ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
