"""L-BFGS with optional strong-Wolfe line search, on the flat parameter vector."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from typing import Any, Callable, Literal, Optional, Sequence, SupportsFloat, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from . import _core
from .flat import FlatParams, fewest_arrays, store_grads
from .optimizer import (ParamGroup, ParamsLike, StateDict, _check_arrays, _check_group_keys,
                        _no_grads_message, _param_list)

__all__ = ["LBFGS"]

#: What an LBFGS closure returns: the loss and one gradient per parameter (a bare array for one
#: parameter), or only the loss when the parameters live in a FlatParams store.
ClosureResult = Union[
    SupportsFloat,
    Tuple[SupportsFloat, Union[Sequence[Optional[NDArray[np.float32]]], NDArray[np.float32]]],
]

_f32 = np.float32


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to bounds."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along d from step t for the strong Wolfe conditions (as minFunc and torch).

    `evaluate(t)` returns (loss, flat gradient) at x + t d. Returns (loss, grad, t, evaluations).
    """
    d_norm = np.abs(d).max()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = _f32(_core.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    # Bracketing phase: grow the step until an interval holds a point satisfying the conditions.
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                          bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _f32(_core.dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # Zoom phase: shrink the bracket by cubic interpolation until the conditions hold.
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep t away from the bracket's ends unless progress there has been insufficient.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) \
                    else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _f32(_core.dot(g_new, d))
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS:
    r"""L-BFGS (Liu & Nocedal, 1989), following ``torch.optim.LBFGS`` step for step.

    ``step(closure)`` runs up to ``max_iter`` iterations; ``closure()`` re-evaluates the model at
    the current parameters and returns ``(loss, grads)`` (one float32 array per parameter), or
    just the loss when the parameters live in a :class:`FlatParams` store whose ``grads`` it has
    filled. Each iteration takes the quasi-Newton direction from the two-loop recursion over the
    last ``history_size`` pairs :math:`(s_i, y_i)`:

    .. math::
        d = -H_k\,\nabla f, \qquad H_k \text{ from } s_i = \theta_{i+1} - \theta_i,\
        y_i = \nabla f_{i+1} - \nabla f_i, \ \rho_i = 1 / y_i^\top s_i

    then moves :math:`\theta \leftarrow \theta + t\,d` with ``t = lr`` (the first step scaled by
    :math:`\min(1, 1/\|\nabla f\|_1)`), or with ``line_search_fn="strong_wolfe"`` a step
    satisfying the strong Wolfe conditions. Stops early when :math:`\|\nabla f\|_\infty \le`
    ``tolerance_grad`` or the change in loss or parameters falls below ``tolerance_change``.
    The vector work (dots, axpys, the two-loop recursion) runs natively on the flat vector.
    One param group only, as in torch. Returns the loss of the first evaluation.
    """

    def __init__(self, params: ParamsLike, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: Literal["strong_wolfe"] | None = None) -> None:
        plist: list[Any]
        if isinstance(params, FlatParams):
            plist = list(params.params)
        else:
            plist = _param_list(params, "params")
        if plist and isinstance(plist[0], Mapping):
            if len(plist) != 1:
                raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
            plist = _param_list(plist[0]["params"], "params")
        if not plist:
            raise ValueError("optimizer got an empty parameter list")
        _check_arrays(plist)
        if max_eval is None and isinstance(max_iter, numbers.Integral):
            max_eval = max_iter * 5 // 4
        group: dict[str, Any] = dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size,
            line_search_fn=line_search_fn)
        _validate(group)
        self.defaults: dict[str, Any] = dict(group)
        group["params"] = plist
        self.param_groups: list[ParamGroup] = [group]
        self._params: list[NDArray[np.float32]] = plist
        self._state: dict[str, Any] = {}
        in_stores = [g for g in store_grads(plist) if g is not None]
        self._flat_grads = in_stores if len(in_stores) == len(plist) else None

    @property
    def state(self) -> dict[str, Any]:
        """The history and counters (``d``, ``t``, ``old_dirs``, ``n_iter``, ...), as torch's."""
        return self._state

    # ---- flat-vector helpers ------------------------------------------------------------
    def _evaluate(self, closure):
        """Calls the closure; returns (loss as float, flat float32 gradient, a new array)."""
        out = closure()
        if isinstance(out, tuple) and len(out) == 2:
            loss, grads = out
            if isinstance(grads, np.ndarray) and len(self._params) == 1:
                grads = [grads]  # the gradient of the only parameter, as a bare array
        elif self._flat_grads is not None:
            loss, grads = out, self._flat_grads
        else:
            raise TypeError("LBFGS closure must return (loss, grads) unless the parameters live "
                            "in a fastoptim.FlatParams store")
        if not isinstance(grads, (list, tuple)) or len(grads) != len(self._params):
            got = len(grads) if isinstance(grads, (list, tuple)) else "no list of"
            raise ValueError(f"LBFGS closure returned {got} grads for {len(self._params)} "
                             "parameters")
        flat = []
        for i, (g, p) in enumerate(zip(grads, self._params)):
            if g is None:
                flat.append(np.zeros(p.size, np.float32))
                continue
            g = np.asarray(g)
            if g.dtype != np.float32:
                fix = ": convert it with .astype(np.float32)" if g.dtype.kind in "fiu" else ""
                raise TypeError(f"grads[{i}] must have dtype float32, got {g.dtype}{fix}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape} but params[{i}] has shape "
                                 f"{p.shape}")
            flat.append(g.ravel())
        return float(loss), np.concatenate(flat) if flat else np.zeros(0, np.float32)

    def _add(self, t, d) -> None:
        _core.axpy(float(t), d, self._params)  # params += t * d, scattered in order

    def _directional_evaluate(self, closure, x, t, d):
        self._add(t, d)
        loss, flat_grad = self._evaluate(closure)
        for p, saved in zip(self._params, x):
            np.copyto(p, saved)
        return loss, flat_grad

    # ---- the algorithm ------------------------------------------------------------------
    def step(self, closure: Callable[[], ClosureResult]) -> float:
        """Runs up to max_iter L-BFGS iterations; returns the loss at the starting point."""
        group = self.param_groups[0]
        _validate(group)
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        state = self._state
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, flat_grad = self._evaluate(closure)
        loss = orig_loss
        current_evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max(initial=0) <= tolerance_grad:
            return orig_loss

        d: Any = state.get("d")
        t: Any = state.get("t")
        old_dirs: Any = state.get("old_dirs")
        old_stps: Any = state.get("old_stps")
        ro: Any = state.get("ro")
        H_diag: Any = state.get("H_diag")
        prev_flat_grad: Any = state.get("prev_flat_grad")
        prev_loss: Any = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * _f32(t)
                ys = _f32(_core.dot(y, s))
                if ys > 1e-10:  # keep the pair only if the curvature condition holds
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(_f32(1.0) / ys)
                    H_diag = ys / _f32(_core.dot(y, y))
                d = -flat_grad
                _core.two_loop(d, old_dirs, old_stps, [float(r) for r in ro], float(H_diag))

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                t = min(1.0, _f32(1.0) / np.abs(flat_grad).sum(dtype=np.float32)) * lr
            else:
                t = lr
            gtd = _f32(_core.dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_func_evals = 0
            if line_search_fn == "strong_wolfe":
                x_init = [p.copy() for p in self._params]
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    lambda step, x=x_init, d=d: self._directional_evaluate(closure, x, step, d),
                    t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss, flat_grad = self._evaluate(closure)
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * _f32(t)).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """``{"state": {0: {...history...}}, "param_groups": [...]}``, arrays copied."""
        state = {k: (v.copy() if isinstance(v, np.ndarray)
                     else [a.copy() for a in v] if k in ("old_dirs", "old_stps")
                     else list(v) if k == "ro" else v)
                 for k, v in self._state.items()}
        group = {k: copy.deepcopy(v) for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self._params)))
        return {"state": {0: state} if state else {}, "param_groups": [group]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores the history and counters; everything is checked before anything changes."""
        if not isinstance(state_dict, Mapping) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != 1 \
                or len(groups[0].get("params", ())) != len(self._params):
            raise ValueError("state_dict param groups do not match the optimizer's")
        _check_group_keys(self, groups[0], 0)
        group = dict(self.param_groups[0])
        group.update({k: copy.deepcopy(v) for k, v in groups[0].items()
                      if k != "params" and k in self.defaults})
        _validate(group)
        saved = dict(state_dict["state"].get(0, {})) if state_dict["state"] else {}
        n = sum(p.size for p in self._params)
        known = {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                 "prev_flat_grad", "prev_loss", "al"}
        for k in saved:
            if k not in known:
                raise ValueError(f"LBFGS state has unknown key {k!r}")
        for k in ("d", "prev_flat_grad"):
            if saved.get(k) is not None:
                saved[k] = _flat_state(saved[k], n, k)
        for k in ("old_dirs", "old_stps"):
            if saved.get(k) is not None:
                saved[k] = [_flat_state(a, n, f"{k}[{i}]") for i, a in enumerate(saved[k])]
        if saved.get("ro") is not None:
            saved["ro"] = [_f32(r) for r in saved["ro"]]
        lengths = {len(saved.get(k) or []) for k in ("old_dirs", "old_stps", "ro")}
        if len(lengths) > 1:
            raise ValueError("LBFGS state: old_dirs, old_stps and ro differ in length")
        saved.pop("al", None)
        self.param_groups[0] = group
        self._state = saved

    def zero_grad(self) -> None:
        """Sets the gradients to zero, when the parameters live in FlatParams stores.

        Otherwise the closure returns the gradients, which LBFGS does not keep, and this raises
        ``RuntimeError`` rather than do nothing (as :meth:`Optimizer.zero_grad`).
        """
        if self._flat_grads is None:
            raise RuntimeError(_no_grads_message("LBFGS", self._params, "the closure"))
        for g in fewest_arrays(self._params, self._flat_grads):
            g.fill(0.0)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items() if k != "params")
        return f"LBFGS({opts})"


def _flat_state(value, n, name) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind != "f":
        raise TypeError(f"LBFGS state {name} must be a float array, got {a.dtype}")
    if a.size != n:
        raise ValueError(f"LBFGS state {name} has {a.size} elements, the parameters {n}")
    return np.ascontiguousarray(a.reshape(-1), dtype=np.float32)


def _validate(g: dict) -> None:
    """Checks LBFGS hyperparameters; raises TypeError/ValueError naming the argument."""
    def real(name, positive=False):
        v = g[name]
        if isinstance(v, (bool, str, bytes)) or not isinstance(v, numbers.Real):
            raise TypeError(f"LBFGS {name} must be a real number, got {type(v).__name__}")
        if not np.isfinite(v) or v < 0 or (positive and v == 0):
            raise ValueError(f"Invalid {name}: {v} (must be {'> 0' if positive else '>= 0'})")

    def integer(name):
        v = g[name]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"LBFGS {name} must be an int, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"Invalid {name}: {v} (must be >= 1)")

    real("lr")
    real("tolerance_grad")
    real("tolerance_change")
    integer("max_iter")
    integer("max_eval")
    integer("history_size")
    if g["line_search_fn"] not in (None, "strong_wolfe"):
        raise ValueError(f"Invalid line_search_fn: {g['line_search_fn']!r} "
                         "(only None or 'strong_wolfe')")
