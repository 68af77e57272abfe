"""Coverage-guided fuzzing (atheris) of argument checking and state loading.

Random bytes become optimizer arguments, gradients and state dicts; the only acceptable
outcomes are success or TypeError/ValueError/KeyError/FloatingPointError, and a failed call
must leave parameters and state unchanged. Run for a bounded time:
    python tests/fuzz.py -max_total_time=60
"""

from __future__ import annotations

import sys

import atheris

import ml_dtypes

with atheris.instrument_imports():
    import numpy as np

    import fastoptim  # noqa: F401  (instrumented: conftest's classes are its)

import conftest  # the tests' table of rules (this directory is on sys.path when run as a script)

RULES = [rule.cls for rule in conftest.RULES.values()]
# Every hyperparameter some rule has (their defaults, in table order), and the optimizer option.
KEYS = list(dict.fromkeys(key for cls in RULES
                          for key in cls([np.zeros(1, np.float32)]).defaults)) + ["max_grad_norm"]
DTYPES = ["f4", "f8", "f2", "i4", "?", ">f4"]
EXPECTED = (TypeError, ValueError, KeyError, FloatingPointError)


def value(fdp):
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return fdp.ConsumeFloat()
    if kind == 1:
        return fdp.ConsumeIntInRange(-3, 3)
    if kind == 2:
        return fdp.ConsumeBool()
    if kind == 3:
        return (fdp.ConsumeFloat(), fdp.ConsumeFloat())
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(3)
    if kind == 5:
        return None
    if kind == 6:
        return fdp.ConsumeProbability()
    return array(fdp)


def array(fdp):
    n = fdp.ConsumeIntInRange(0, 40)
    a = np.array(fdp.ConsumeFloatListInRange(n, -1e3, 1e3), dtype=DTYPES[fdp.ConsumeIntInRange(
        0, len(DTYPES) - 1)])
    if fdp.ConsumeBool() and a.size > 2:
        a = a[:: fdp.ConsumeIntInRange(-2, 2) or 1]
    return a


def snapshot(params, opt):
    return [p.copy() for p in params], opt.state_dict()


def same(params, opt, snap):
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(params, snap[0]))
    now = opt.state_dict()["state"]
    assert now.keys() == snap[1]["state"].keys()
    for i, entry in now.items():
        for k, v in entry.items():
            assert np.array_equal(v, snap[1]["state"][i][k], equal_nan=True), (i, k)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cls = RULES[fdp.ConsumeIntInRange(0, len(RULES) - 1)]
    kwargs = {KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]: value(fdp)
              for _ in range(fdp.ConsumeIntInRange(0, 3))}
    params = [np.linspace(-1, 1, 7, dtype=np.float32), np.ones((2, 3), np.float32)]
    if fdp.ConsumeBool():  # bfloat16 state, rounded either way
        kwargs["state_dtype"] = "bfloat16"
        kwargs["state_rounding"] = ("stochastic", "nearest")[fdp.ConsumeIntInRange(0, 1)]
    try:
        opt = cls(params, **kwargs)
    except EXPECTED:
        return
    # What non-finite gradients do: a skipped step must leave every bit as it was.
    opt.nonfinite = ("propagate", "skip", "raise")[fdp.ConsumeIntInRange(0, 2)]
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        action = fdp.ConsumeIntInRange(0, 2)
        snap = snapshot(params, opt)
        try:
            if action == 0:
                grads = [array(fdp) if fdp.ConsumeBool() else np.full(p.shape, fdp.ConsumeFloat(),
                         np.float32) for p in params[: fdp.ConsumeIntInRange(0, 3)]]
                if fdp.ConsumeBool():  # low-precision gradients (one dtype per step)
                    dtype = (np.float16, ml_dtypes.bfloat16)[fdp.ConsumeIntInRange(0, 1)]
                    grads = [g.astype(dtype) if isinstance(g, np.ndarray) else g for g in grads]
                skipped = opt.skipped_steps
                opt.step(grads)
                if opt.skipped_steps != skipped:
                    same(params, opt, snap)
            elif action == 1:
                opt.param_groups[0][KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]] = value(fdp)
                opt.step([np.ones(7, np.float32), np.ones((2, 3), np.float32)])
            else:
                sd = opt.state_dict()
                entry = sd["state"].setdefault(fdp.ConsumeIntInRange(-1, 2), {})
                entry[fdp.ConsumeUnicodeNoSurrogates(12) if fdp.ConsumeBool() else "step"] = \
                    value(fdp)
                opt.load_state_dict(sd)
        except EXPECTED:
            # sane hyperparameters again (the action may have set a bad one), then: unchanged?
            opt.param_groups[0].update(snap[1]["param_groups"][0])
            opt.param_groups[0]["params"] = params
            same(params, opt, snap)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
