#!/usr/bin/env python
"""Real PyTorch training on CPU: fastoptim.torch against torch.optim, per iteration and per step.

    python bench/torch_train.py            # the three models, Adam and the unfused rules (~8 min)
    python bench/torch_train.py --quick    # smoke test (~1 min)
    python bench/torch_train.py --models transformer --rules adam,nadam --no-memory --out /tmp/t

Models (float32, CPU): "mlp", the demo's 64-128-10 tanh MLP on batches of 64; "transformer", a
language model of nn.TransformerEncoder (6 layers, d=256, 4 heads, feed-forward 1024) with token
and position embeddings and an untied head (vocab 4096; batches of 8 x 64 tokens; 76 parameter
tensors, 6.9M elements); "embedding", four nn.EmbeddingBag tables of 2^16 x 64 (dense gradients)
whose bag means feed a 256-64-1 MLP, batches of 256 bags of 16 ids per table (16.8M elements),
where the step dominates.

Contenders, each with its own copy of the model from the same initial weights: torch.optim
default (the for-loop on CPU), foreach=True, fused=True (where torch has a CPU fused kernel);
fastoptim.torch default, contiguous=True, in_backward=True; and "fwd+bwd", the forward and
backward alone (no optimizer). Measured with
fastoptim.bench's ``measure`` (interleaved round-robin repetitions, medians, repetitions disturbed
by other processes left out): an iteration (forward, backward, step, zero_grad(), as a user
writes it), the step's share of those iterations (the in-backward step runs inside backward: the
time its hooks spend in their native steps, timed from inside), and the step alone (opt.step()
repeated on one backward's gradients, caches warm), each against the bandwidth ceiling
(fastoptim.bench's ``ceiling``: the rule's bytes, no arithmetic, one buffer of the model's
size; in training, timed after a forward and backward of a copy of the model).

Peak memory (--no-memory to skip): for Adam on each model but the MLP, a fresh process per
contender builds the model and optimizer and runs 3 iterations; its peak resident set size is
reported (VmHWM, with MALLOC_MMAP_THRESHOLD_=131072: glibc returns freed blocks over 128 KiB at
once, so that the resident set follows the live memory), and its difference to torch fused's.
Writes torch-train.md and .json to --out (default bench/results); --render JSON re-renders a
run's markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

import fastoptim as fo
import fastoptim.torch as ft
from fastoptim.bench import (ceiling, machine_info, measure, new_store, parse_threads,
                             set_threads, _table, timing_of, traffic_bytes, write_results)

HERE = Path(__file__).resolve().parent
RULES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "adagrad": "Adagrad",
         "rmsprop": "RMSprop", "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "NAdam",
         "radam": "RAdam"}
OPTIONS = {"SGD": dict(lr=1e-3, momentum=0.9)}  # the others: lr=1e-3, the defaults
MEMORY = ["torch-fused", "fo", "fo-contiguous", "fo-inbwd"]


class LM(nn.Module):
    """Token + position embeddings, nn.TransformerEncoder, an untied head."""

    def __init__(self, vocab=4096, d=256, layers=6, heads=4, ff=1024, ctx=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(ctx))

    def forward(self, ids):
        h = self.tok(ids) + self.pos.weight[: ids.shape[1]]
        return self.head(self.body(h, mask=self.mask, is_causal=True))


class Bags(nn.Module):
    """A recommender's shape: one embedding table per sparse feature (dense gradients), their
    bag means concatenated under a small MLP."""

    def __init__(self, tables=4, rows=2**16, d=64):
        super().__init__()
        self.emb = nn.ModuleList(nn.EmbeddingBag(rows, d, mode="mean") for _ in range(tables))
        self.mlp = nn.Sequential(nn.Linear(tables * d, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, ids):  # ids: (tables, batch, bag)
        return self.mlp(torch.cat([e(i) for e, i in zip(self.emb, ids)], 1)).squeeze(1)


def model_and_loss(name: str):
    """(a model from fixed initial weights, loss(model) on a fixed batch)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 10))
        x, y = torch.randn(64, 64, generator=g), torch.randint(0, 10, (64,), generator=g)
        return model, lambda m: nn.functional.cross_entropy(m(x), y)
    if name == "transformer":
        model = LM()
        ids = torch.randint(0, 4096, (8, 65), generator=g)
        return model, lambda m: nn.functional.cross_entropy(
            m(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
    if name == "embedding":
        model = Bags()
        ids = torch.randint(0, 2**16, (4, 256, 16), generator=g)
        y = torch.randn(256, generator=g)
        return model, lambda m: nn.functional.mse_loss(m(ids), y)
    raise ValueError(f"unknown model {name!r}")


def contenders(rule: str) -> dict:
    """key -> (label, make(params) -> optimizer, or None for fwd+bwd)."""
    options = OPTIONS.get(rule, dict(lr=1e-3))
    t, f = getattr(torch.optim, rule), getattr(ft, rule)
    out = {"torch": ("torch default", lambda ps: t(ps, **options)),
           "torch-foreach": ("torch foreach", lambda ps: t(ps, foreach=True, **options))}
    if rule in ("Adam", "AdamW", "SGD", "Adagrad"):  # torch's CPU fused kernels
        out["torch-fused"] = ("torch fused", lambda ps: t(ps, fused=True, **options))
    out["fo"] = ("fastoptim.torch", lambda ps: f(ps, **options))
    out["fo-contiguous"] = ("fastoptim.torch contiguous", lambda ps: f(ps, contiguous=True,
                                                                       **options))
    out["fo-inbwd"] = ("fastoptim.torch in_backward", lambda ps: f(ps, in_backward=True,
                                                                  **options))
    return out


def time_model(name: str, rule: str, timing, threads: int) -> dict:
    """Iteration and step times of every contender on one model, one rule (see the module's
    docstring)."""
    iterations, steps, labels, models, in_training = {}, {}, {}, {}, {}
    model, loss_fn = model_and_loss(name)
    iterations["fwd+bwd"] = lambda m=model: (loss_fn(m).backward(), m.zero_grad())
    labels["fwd+bwd"] = "fwd+bwd (no step)"
    for key, (label, make) in contenders(rule).items():
        model, _ = model_and_loss(name)
        opt = make(list(model.parameters()))
        labels[key], models[key], in_training[key] = label, (model, opt), []
        iterations[key] = _iteration(model, opt, loss_fn, in_training[key])
    # The ceiling: the rule's bytes, no arithmetic, over one buffer of the model's size; in
    # training, timed after a forward and backward of a copy of the model.
    probe = nn.Parameter(torch.zeros(5))
    probe.grad = torch.ones(5)
    opt = getattr(ft, rule)([probe])
    opt.step()
    slots = sum(1 for k, v in opt.state[probe].items() if k != "step" and v.numel() == 5)
    n = sum(p.numel() for p in model.parameters())
    steps["ceiling"] = ceiling(new_store(n, np.random.default_rng(0)), slots)
    labels["ceiling"] = f"ceiling ({traffic_bytes(slots)} B/elem, one buffer)"
    model, _ = model_and_loss(name)
    in_training["ceiling"] = []
    iterations["ceiling"] = _iteration(model, SimpleNamespace(
        step=steps["ceiling"], zero_grad=model.zero_grad), loss_fn, in_training["ceiling"])
    it = measure(iterations, timing, threads)
    for key, (model, opt) in models.items():
        if key != "fo-inbwd":  # the step alone, on the gradients of one backward
            loss_fn(model).backward()
            steps[key] = opt.step
    st = measure(steps, timing, threads)["per"]
    samples = {k: v["samples_s"] for k, v in it["per"].items()}
    base = "torch-fused" if "torch-fused" in samples else "torch"
    return {"labels": labels, "elements": n,
            "iteration_s": {k: v["median_s"] for k, v in it["per"].items()},
            "step_s": {k: v["median_s"] for k, v in st.items()},
            "step_in_training_s": {k: statistics.median(v) for k, v in in_training.items()},
            # per repetition, the base's iteration over the contender's (paired: one rep
            # times every contender back to back), median over repetitions
            "iteration_ratio": {k: statistics.median(b / c for b, c in zip(samples[base], v))
                                for k, v in samples.items()}}


def _iteration(model, opt, loss_fn, spent: list):
    """One training iteration as a user writes it, recording the seconds spent stepping: in
    opt.step(), or for in_backward in the hooks' native steps (timed from inside)."""
    clock = time.perf_counter
    if not getattr(opt, "in_backward", False):
        def iteration():
            loss_fn(model).backward()
            t0 = clock()
            opt.step()
            spent.append(clock() - t0)
            opt.zero_grad()
        return iteration
    run, inside = opt._run, [0.0]

    def timed(*args):
        t0 = clock()
        run(*args)
        inside[0] += clock() - t0
    opt._run = timed

    def iteration():
        inside[0] = 0.0
        loss_fn(model).backward()
        opt.step()
        opt.zero_grad()
        spent.append(inside[0])
    return iteration


def peak_memory(name: str, key: str) -> float:
    """Peak RSS in MiB of a fresh process that trains `name` with Adam contender `key` for 3
    iterations."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import torch_train as b; "
            f"b._peak_child({name!r}, {key!r})")
    # glibc returns every freed block over 128 KiB to the system at once, so that the resident
    # set follows the live memory (by default it keeps freed gradients in its heap)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def _peak_child(name: str, key: str) -> None:
    model, loss_fn = model_and_loss(name)
    opt = contenders("Adam")[key][1](list(model.parameters()))
    for _ in range(3):
        loss_fn(model).backward()
        opt.step()
        opt.zero_grad()
    # VmHWM: this process image's peak (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        peak = next(line for line in f if line.startswith("VmHWM:"))
    print(int(peak.split()[1]) / 1024)


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g}"


def render(doc: dict) -> str:
    m = doc["machine"]
    lines = [f"# fastoptim.torch in real training ({doc['threads']} threads)", "",
             f"{m['cpu']}, {m['cores']} cores, SIMD target {m['cpu_target']}; torch "
             f"{m['torch']}. Command: `{doc['command']}`.", "",
             "Milliseconds, medians. *iteration*: forward, backward, step, zero_grad(). *step "
             "in training*: the step's share of those iterations (in-backward: its hooks' "
             "steps; the ceiling's after a forward and backward). *step alone*: opt.step() "
             "repeated on one backward's gradients. The ceiling: the rule's memory traffic, no "
             "arithmetic, one buffer of the model's size. ×: the speedup over the torch "
             "baseline (fused where torch has a fused CPU kernel, else its default loop) in "
             "the same run; the iteration's is the median over repetitions of the paired "
             "ratio.", ""]
    for case in doc["cases"]:
        it, st, tr = case["iteration_s"], case["step_s"], case["step_in_training_s"]
        labels, ratio = case["labels"], case["iteration_ratio"]
        base = "torch-fused" if "torch-fused" in st else "torch"
        lines += [f"## {case['rule']} on {case['model']} ({case['elements']:,} elements)", ""]
        rows = []
        for key, label in labels.items():
            ours = key.startswith("fo")

            def cell(times, key=key, ours=ours):
                t = times.get(key)
                if t is None:
                    return ["—", ""]
                return [_ms(t), f"{times[base] / t:.2f}x" if ours else ""]
            rows.append([label, "—" if key == "ceiling" else _ms(it[key]),
                         f"{ratio[key]:.3f}x" if ours else ""] + cell(tr)
                        + [f"{tr['ceiling'] / tr[key]:.0%}" if key in tr else ""] + cell(st)
                        + [f"{st['ceiling'] / st[key]:.0%}" if key in st else ""])
        lines += _table(["contender", "iteration", "×", "step in training", "×", "% of ceiling",
                         "step alone", "×", "% of ceiling"], rows)
        lines += [""]
    if doc.get("memory"):
        lines += ["## Peak memory, Adam", "",
                  "Peak resident set (VmHWM) of a fresh process that imports torch, builds "
                  "the model and the optimizer and runs 3 iterations, MiB, with glibc told to "
                  "return freed blocks over 128 KiB at once (MALLOC_MMAP_THRESHOLD_=131072) so "
                  "that the resident set follows the live memory; the difference to torch "
                  "fused's.", ""]
        rows = []
        for name, per in doc["memory"].items():
            for key, mib in per.items():
                rows.append([name, contenders("Adam")[key][0], f"{mib:.0f}",
                             f"{mib - per['torch-fused']:+.0f}"])
        lines += _table(["model", "contender", "peak MiB", "vs torch fused"], rows) + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mlp,transformer,embedding")
    ap.add_argument("--rules", default="adam,rmsprop,nadam,radam,adamax,adadelta",
                    help="Adam on every model; the other rules on the transformer only")
    ap.add_argument("--threads", default=None, help="thread count (default: all cores)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=8.0,
                    help="seconds of timed repetitions per measurement (default 8; --quick 0.3)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--render", metavar="JSON", help="only re-render a run's torch-train.json")
    args = ap.parse_args(argv)
    if args.render:
        doc = json.loads(Path(args.render).read_text())
        doc["command"] = doc["command"].strip()
        write_results(args.out, "torch-train", doc, render(doc))
        return 0
    threads = parse_threads(args.threads)[-1] if args.threads else fo.get_num_threads()
    set_threads(threads, torch)
    timing = timing_of(args.quick, None if args.quick else args.budget)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rules = [RULES[r.strip().lower()] for r in args.rules.split(",") if r.strip()]
    cases = []
    for rule in rules:
        for name in (models if rule == "Adam" else [m for m in models if m == "transformer"]):
            case = dict(model=name, rule=rule, **time_model(name, rule, timing, threads))
            print(f"{rule} on {name}: step in training " + ", ".join(
                f"{k} {_ms(v)}" for k, v in case["step_in_training_s"].items()), flush=True)
            cases.append(case)
    memory = {}
    if not args.no_memory:
        for name in (m for m in models if m != "mlp"):
            memory[name] = {k: peak_memory(name, k) for k in MEMORY}
            print(f"peak MiB, {name}: {memory[name]}", flush=True)
    doc = dict(machine=machine_info(torch), threads=threads, cases=cases, memory=memory,
               command=" ".join(["python bench/torch_train.py", *(argv or sys.argv[1:])]))
    text = render(doc)
    write_results(args.out, "torch-train", doc, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
