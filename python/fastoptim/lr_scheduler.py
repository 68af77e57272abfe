r"""Learning-rate schedulers: ``torch.optim.lr_scheduler`` for fastoptim optimizers.

A scheduler rewrites ``group["lr"]`` in its optimizer's ``param_groups`` (OneCycleLR also
``group["momentum"]`` or ``group["betas"][0]``); the optimizer reads the new value at its next
step. Same classes, arguments, defaults, state-dict keys and learning-rate sequences as
torch 2.13::

    import fastoptim as fo
    from fastoptim import lr_scheduler

    opt = fo.SGD(params, lr=0.1, momentum=0.9)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        opt.step(grads)
        sched.step()            # after optimizer.step(), as in torch

Notation in the formulas: :math:`t` is ``last_epoch`` (the number of ``step()`` calls since
construction), :math:`\eta_t` the learning rate of a group at step :math:`t` and
:math:`\eta_0` = ``base_lrs`` (the group's ``initial_lr``). As in torch, constructing a
scheduler stores ``initial_lr`` in every group (unless already there) and takes the first
step, so right after construction the groups hold the schedule's value at :math:`t = 0`.

Most schedulers are *chainable*: ``step()`` updates the current ``group["lr"]`` by the ratio
:math:`\eta_t / \eta_{t-1}` of their formula rather than recomputing the formula from
:math:`\eta_0`, so two of them can act on the same optimizer at once (:class:`ChainedScheduler`),
and an lr set by hand between steps is kept and scaled from then on. The closed form is what
the ratios produce when nothing else touches the lr, and is what each docstring shows.
:class:`LambdaLR`, :class:`CosineAnnealingWarmRestarts` and :class:`OneCycleLR` compute the
closed form at every step (not chainable), as in torch.

To resume from a checkpoint, build the optimizer and the scheduler as for a fresh run, then
load the optimizer's state dict and the scheduler's (construction writes the lr, so it comes
first, as torch advises); or, torch's other idiom, load the optimizer's state dict (its groups
keep ``initial_lr``) and construct the scheduler with ``last_epoch``. ``last_epoch >= 0``
needs ``initial_lr`` in the groups.

Differences from torch: no deprecated ``step(epoch)`` argument, no ``verbose``, no public
``get_lr()``, no CyclicLR; arguments are validated (ValueError/TypeError naming the argument,
raised before anything is changed) where torch accepts nonsense or fails later; SequentialLR
takes no SequentialLR/ChainedScheduler member (torch fails on one at its milestone);
OneCycleLR takes a zero-length phase (torch divides by zero); :class:`InverseTimeLR` is
fastoptim's own.
"""

from __future__ import annotations

import copy
import math
import numbers
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, SupportsFloat, Union, cast

from .lbfgs import LBFGS
from .lookahead import Lookahead
from .optimizer import Optimizer

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "InverseTimeLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

# What a scheduler can drive: anything with torch-like ``param_groups`` and ``defaults``.
_OPTIMIZERS = (Optimizer, Lookahead, LBFGS)
#: The optimizers a scheduler drives (the classes of _OPTIMIZERS).
SchedulableOptimizer = Union[Optimizer, Lookahead, LBFGS]
#: A function of the step count giving a factor of the learning rate (LambdaLR, ...).
LRLambda = Callable[[int], float]

# Keys of torch's scheduler state dicts that hold bookkeeping fastoptim does not need (warnings
# about call order, the step(epoch) mode): accepted by load_state_dict and dropped.
_TORCH_ONLY_KEYS = frozenset({"_step_count", "_is_initial", "_get_lr_called_within_step",
                              "verbose"})


# ---- argument checks (shared by the constructors and load_state_dict) ---------------------------
def _check_optimizer(optimizer, name: str = "optimizer") -> None:
    if not isinstance(optimizer, _OPTIMIZERS):
        raise TypeError(f"{name} must be a fastoptim optimizer (an Optimizer, Lookahead or "
                        f"LBFGS), got {type(optimizer).__name__}")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"Invalid {name}: {value} (must be >= {minimum})")
    return int(value)


def _check_real(name: str, value, *, gt=None, ge=None, lt=None, le=None, finite=True):
    """Checks that `value` is a real number within the given bounds; returns it unchanged."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    bounds = [(gt, ">", lambda b: value > b), (ge, ">=", lambda b: value >= b),
              (lt, "<", lambda b: value < b), (le, "<=", lambda b: value <= b)]
    wanted = [f"{op} {b}" for b, op, _ in bounds if b is not None]
    ok = not math.isnan(value) and (math.isfinite(value) or not finite)
    if not ok or not all(test(b) for b, _, test in bounds if b is not None):
        rule = " and ".join(wanted) if wanted else "finite"
        raise ValueError(f"Invalid {name}: {value} (must be {rule})")
    return value


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_choice(name: str, value, choices: tuple) -> None:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"Invalid {name}: {value!r} (must be one of {allowed})")


def _per_group(name: str, value, n: int, **bounds) -> list:
    """One value per param group: a list/tuple of exactly n numbers, or one number for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} values, the optimizer has {n} param groups")
        for i, v in enumerate(value):
            _check_real(f"{name}[{i}]", v, **bounds)
        return list(value)
    _check_real(name, value, **bounds)
    return [value] * n


def _check_lr_list(name: str, values, n: int | None) -> None:
    if not isinstance(values, (list, tuple)) or (n is not None and len(values) != n):
        raise ValueError(f"{name} must be a list of {n if n is not None else 'the'} learning "
                         f"rates (one per param group), got {values!r}")
    for i, v in enumerate(values):
        _check_real(f"{name}[{i}]", v, ge=0)


def _check_start(optimizer, last_epoch) -> None:
    """The checks every epoch-based scheduler makes first: optimizer type and last_epoch.

    Resuming (last_epoch >= 0) needs the ``initial_lr`` an earlier scheduler stored in each
    group (torch raises KeyError here; a ValueError naming the argument says more).
    """
    _check_optimizer(optimizer)
    _check_int("last_epoch", last_epoch, -1)
    if last_epoch != -1:
        for i, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise ValueError(f"last_epoch={last_epoch} resumes a schedule, but param group "
                                 f"{i} has no 'initial_lr' (load the optimizer's state dict "
                                 "first, or use last_epoch=-1 for a fresh run)")


def _lambdas(name: str, value, n: int) -> list:
    """One callable per param group (a list/tuple of n, or one for all)."""
    fns = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(fns) != n:
        raise ValueError(f"{name} has {len(fns)} functions, the optimizer has {n} param groups")
    for i, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"{name}[{i}] must be callable, got {type(fn).__name__}")
    return fns


class LRScheduler:
    r"""Base class of the epoch-based schedulers (torch's ``LRScheduler``).

    ``step()`` advances ``last_epoch`` by one and writes the new learning rates into the
    optimizer's ``param_groups``; ``get_last_lr()`` returns them. ``state_dict()`` holds
    everything needed to continue (never the optimizer, whose state is saved separately) with
    torch's keys; ``load_state_dict()`` also accepts torch's own scheduler state dicts.

    Subclasses compute :math:`\eta_t` in ``_lrs(initial)`` (``initial`` is true for the step
    taken at construction) and, when they have one, the closed form in ``_closed_form()``.
    """

    #: Attributes saved by state_dict(), by their torch names.
    _state_keys: tuple = ("last_epoch", "base_lrs", "_last_lr")
    #: Saved attributes that may be missing from a loaded state dict (torch omits them).
    _optional_keys: frozenset = frozenset()

    def __init__(self, optimizer: SchedulableOptimizer, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self.optimizer: SchedulableOptimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                # setdefault: a second scheduler on the same optimizer keeps the first's base.
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch: int = last_epoch
        self._initial_step()

    # ---- stepping -----------------------------------------------------------------------
    def step(self) -> None:
        """Advances the schedule by one step; call it after ``optimizer.step()``."""
        self._advance(initial=False)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step wrote, one per param group (a copy)."""
        return list(self._last_lr)

    def _initial_step(self) -> None:
        """The step taken at construction (and by SequentialLR when it starts this scheduler)."""
        self._advance(initial=True)

    def _advance(self, initial: bool) -> None:
        """last_epoch += 1, then the rates of that step into the groups (all or nothing)."""
        self._check_groups()
        self.last_epoch += 1
        try:
            updates = self._updates(initial)
        except BaseException:
            self.last_epoch -= 1  # a failing lr_lambda leaves the scheduler as it was
            raise
        self._commit(updates)

    def _restart(self) -> None:
        """Jumps to step 0: SequentialLR does this to the scheduler whose milestone is reached.

        Uses the closed form where there is one (so the rate restarts from ``base_lrs``),
        otherwise the step rule at t = 0, as torch's ``_update_lr(0)`` does.
        """
        self._check_groups()
        self.last_epoch = 0
        closed = self._closed_form()
        self._commit([{"lr": lr} for lr in closed] if closed is not None
                     else self._updates(initial=False))

    def _updates(self, initial: bool) -> list:
        """What to write into each group at step ``last_epoch``: ``[{"lr": ...}, ...]``."""
        return [{"lr": lr} for lr in self._lrs(initial)]

    def _lrs(self, initial: bool) -> list:
        """Each group's lr at step ``last_epoch`` (what every scheduler defines)."""
        raise NotImplementedError

    def _closed_form(self) -> list | None:
        """:math:`\\eta_t` from ``base_lrs`` at ``t = last_epoch``, or None if not defined."""
        return None

    def _commit(self, updates: list) -> None:
        for group, update in zip(self.optimizer.param_groups, updates):
            group.update(update)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _check_groups(self) -> None:
        n, m = len(self.optimizer.param_groups), len(self.base_lrs)
        if n != m:
            raise ValueError(f"the optimizer has {n} param groups, {type(self).__name__} was "
                             f"built for {m} (a param group added after the scheduler?)")

    def _current(self) -> list:
        """The groups' current learning rates (what a step that changes nothing returns)."""
        return [group["lr"] for group in self.optimizer.param_groups]

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as a dict of copies, keyed by torch's attribute names."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self._state_keys
                if hasattr(self, key)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores the state saved by :meth:`state_dict` (or by torch's same scheduler).

        Everything is checked before anything changes; the optimizer is not touched (load its
        own state dict for its learning rates).
        """
        self._prepare_load(state_dict)()

    def _prepare_load(self, state_dict: Mapping) -> Callable[[], None]:
        """Checks `state_dict`; returns the function that applies it."""
        values = self._read_keys(state_dict)
        self._check_state(values)
        values = copy.deepcopy(values)

        def commit():
            for key, value in values.items():
                setattr(self, key, value)
        return commit

    def _read_keys(self, state_dict: Mapping) -> dict:
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name} state_dict must be a dict, got {type(state_dict).__name__}")
        unknown = [k for k in state_dict if k not in self._state_keys and k not in _TORCH_ONLY_KEYS]
        if unknown:
            raise ValueError(f"{name} state_dict has unknown keys {unknown} "
                             f"(expected {list(self._state_keys)})")
        missing = [k for k in self._state_keys
                   if k not in state_dict and k not in self._optional_keys]
        if missing:
            raise ValueError(f"{name} state_dict lacks {missing}")
        return {k: state_dict[k] for k in self._state_keys if k in state_dict}

    def _check_state(self, values: dict) -> None:
        """Validates loaded values (the keys are already known to be right)."""
        n = len(self.optimizer.param_groups)
        _check_int("last_epoch", values["last_epoch"], -1)
        _check_lr_list("base_lrs", values["base_lrs"], n)
        _check_lr_list("_last_lr", values["_last_lr"], n)
        self._check_hyper(values)

    def _check_hyper(self, values: Mapping) -> None:
        """Raises ValueError/TypeError naming the hyperparameter in `values` that is invalid."""


# ---- schedules given by functions of the step --------------------------------------------------
class _LambdaScheduler(LRScheduler):
    """What LambdaLR and MultiplicativeLR share: one function of the step per param group."""

    _state_keys = LRScheduler._state_keys + ("lr_lambdas",)

    def __init__(self, optimizer: SchedulableOptimizer,
                 lr_lambda: LRLambda | Sequence[LRLambda], last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self.lr_lambdas = _lambdas("lr_lambda", lr_lambda, len(optimizer.param_groups))
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """As torch: ``lr_lambdas`` holds the ``__dict__`` of callable objects (their
        parameters), ``None`` for plain functions and lambdas, which cannot be saved."""
        state = {k: copy.deepcopy(getattr(self, k)) for k in self._state_keys if k != "lr_lambdas"}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType)
                               or not hasattr(fn, "__dict__") else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def _prepare_load(self, state_dict):
        values = self._read_keys(state_dict)
        saved = values.pop("lr_lambdas")
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas):
            raise ValueError(f"state_dict['lr_lambdas'] must be a list of {len(self.lr_lambdas)} "
                             f"entries (None or a dict), got {saved!r}")
        for i, entry in enumerate(saved):
            if entry is not None and not isinstance(entry, Mapping):
                raise ValueError(f"state_dict['lr_lambdas'][{i}] must be None or a dict")
            if entry is not None and not hasattr(self.lr_lambdas[i], "__dict__"):
                raise ValueError(f"state_dict['lr_lambdas'][{i}] holds attributes, but "
                                 f"lr_lambda {i} cannot take any")
        self._check_state(values)
        values = copy.deepcopy(values)

        def commit():
            for key, value in values.items():
                setattr(self, key, value)
            for fn, entry in zip(self.lr_lambdas, saved):
                if entry is not None:
                    fn.__dict__.update(entry)
        return commit


class LambdaLR(_LambdaScheduler):
    r"""The initial lr times a factor given by a function of the step.

    .. math::
        \eta_t = \eta_0 \cdot \lambda(t)

    ``lr_lambda``: a function of the step ``t`` (an int), or a list of them, one per param
    group. ``last_epoch=-1``. Not chainable (recomputed from :math:`\eta_0` every step).
    """

    def _lrs(self, initial):
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    r"""Multiplies the lr by a factor given by a function of the step, at every step.

    .. math::
        \eta_t = \eta_{t-1} \cdot \lambda(t) \quad (t \ge 1)

    ``lr_lambda``: a function of ``t`` (an int), or a list of them, one per param group.
    ``last_epoch=-1``. Chainable.
    """

    def _lrs(self, initial):
        if initial:
            return self._current()
        return [group["lr"] * fn(self.last_epoch)
                for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


# ---- step decays --------------------------------------------------------------------------------
class StepLR(LRScheduler):
    r"""Decays the lr by ``gamma`` every ``step_size`` steps.

    .. math::
        \eta_t = \eta_0 \cdot \gamma^{\lfloor t / s \rfloor}

    with :math:`s` = ``step_size`` (an int >= 1) and :math:`\gamma` = ``gamma`` > 0 (default
    0.1). ``last_epoch=-1``. Chainable.
    """

    _state_keys = LRScheduler._state_keys + ("step_size", "gamma")

    def __init__(self, optimizer: SchedulableOptimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"step_size": step_size, "gamma": gamma})
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_int("step_size", values["step_size"], 1)
        _check_real("gamma", values["gamma"], gt=0)

    def _lrs(self, initial):
        t = self.last_epoch
        if t == 0 or t % self.step_size != 0:
            return self._current()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Decays the lr by ``gamma`` at each milestone step.

    .. math::
        \eta_t = \eta_0 \cdot \gamma^{\#\{m \in M \,:\, m \le t\}}

    with :math:`M` = ``milestones``: step indices (ints >= 0) in non-decreasing order; a
    milestone listed twice decays twice (by :math:`\gamma^2`), as in torch. ``gamma`` > 0
    (default 0.1), ``last_epoch=-1``. Chainable. ``milestones`` is kept as a
    ``collections.Counter`` (step -> count), as torch.
    """

    _state_keys = LRScheduler._state_keys + ("milestones", "gamma")

    def __init__(self, optimizer: SchedulableOptimizer, milestones: Iterable[int],
                 gamma: float = 0.1, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        if isinstance(milestones, (str, bytes, Mapping)) or not isinstance(milestones, Iterable):
            raise TypeError(f"milestones must be a list of ints, got {type(milestones).__name__}")
        milestones = list(milestones)
        for i, m in enumerate(milestones):
            _check_int(f"milestones[{i}]", m, 0)
        for i in range(1, len(milestones)):
            if milestones[i] < milestones[i - 1]:
                raise ValueError(f"milestones must be increasing, got {milestones}")
        _check_real("gamma", gamma, gt=0)
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        counts = values["milestones"]
        if not isinstance(counts, Mapping):
            raise TypeError("state_dict['milestones'] must be a Counter (step -> count), got "
                            f"{type(counts).__name__}")
        for m, c in counts.items():
            _check_int("milestone", m, 0)
            _check_int(f"count of milestone {m}", c, 1)
        _check_real("gamma", values["gamma"], gt=0)

    def _prepare_load(self, state_dict):
        commit = super()._prepare_load(state_dict)

        def commit_counter():
            commit()
            self.milestones = Counter(self.milestones)  # a plain dict loads as a Counter
        return commit_counter

    def _lrs(self, initial):
        times = self.milestones.get(self.last_epoch, 0)
        if times == 0:
            return self._current()
        return [group["lr"] * self.gamma ** times for group in self.optimizer.param_groups]

    def _closed_form(self):
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ConstantLR(LRScheduler):
    r"""Scales the lr by a constant ``factor`` for the first ``total_iters`` steps.

    .. math::
        \eta_t = \eta_0 \cdot \begin{cases} f & t < T \\ 1 & t \ge T \end{cases}

    with :math:`f` = ``factor`` in (0, 1] (default 1/3) and :math:`T` = ``total_iters`` >= 1
    (default 5). ``last_epoch=-1``. Chainable. (torch also takes ``factor=0`` or
    ``total_iters=0``, which divide by zero or never undo the factor.)
    """

    _state_keys = LRScheduler._state_keys + ("factor", "total_iters")

    def __init__(self, optimizer: SchedulableOptimizer, factor: float = 1.0 / 3,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"factor": factor, "total_iters": total_iters})
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_real("factor", values["factor"], gt=0, le=1)
        _check_int("total_iters", values["total_iters"], 1)

    def _lrs(self, initial):
        t = self.last_epoch
        if t == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if t != self.total_iters:
            return self._current()
        # The step where the factor ends: undo it.
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _closed_form(self):
        after = self.last_epoch >= self.total_iters
        return [base * (self.factor + after * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scales the lr by a factor that moves linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps (a linear warm-up, or a linear decay), then keeps it.

    .. math::
        \eta_t = \eta_0 \left(f_s + (f_e - f_s)\,\frac{\min(t, T)}{T}\right)

    with :math:`f_s` = ``start_factor`` in (0, 1] (default 1/3), :math:`f_e` = ``end_factor``
    in [0, 1] (default 1.0), :math:`T` = ``total_iters`` >= 1 (default 5). ``last_epoch=-1``.
    Chainable: step :math:`t \le T` multiplies the lr by
    :math:`1 + (f_e - f_s) / (T f_s + (t-1)(f_e - f_s))`.
    """

    _state_keys = LRScheduler._state_keys + ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: SchedulableOptimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"start_factor": start_factor, "end_factor": end_factor,
                           "total_iters": total_iters})
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_real("start_factor", values["start_factor"], gt=0, le=1)
        _check_real("end_factor", values["end_factor"], ge=0, le=1)
        _check_int("total_iters", values["total_iters"], 1)

    def _lrs(self, initial):
        t, groups = self.last_epoch, self.optimizer.param_groups
        if t == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if initial or t > self.total_iters:
            return self._current()
        # factor(t) / factor(t-1), with factor(t) = f_s + (f_e - f_s) t / T, scaled by T.
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (t - 1) * delta)
        return [group["lr"] * ratio for group in groups]

    def _closed_form(self):
        delta = self.end_factor - self.start_factor
        done = min(self.total_iters, self.last_epoch)
        return [base * (self.start_factor + delta * done / self.total_iters)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Decays the lr by ``gamma`` every step.

    .. math::
        \eta_t = \eta_0 \cdot \gamma^t

    with :math:`\gamma` = ``gamma`` > 0 (no default, as torch). ``last_epoch=-1``. Chainable.
    """

    _state_keys = LRScheduler._state_keys + ("gamma",)

    def __init__(self, optimizer: SchedulableOptimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"gamma": gamma})
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_real("gamma", values["gamma"], gt=0)

    def _lrs(self, initial):
        # The construction step keeps the lr: resuming (last_epoch >= 0) must not decay twice.
        if initial:
            return self._current()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class InverseTimeLR(LRScheduler):
    r"""Inverse-time (1/t) decay, as TensorFlow's ``InverseTimeDecay`` (not in torch).

    .. math::
        \eta_t = \frac{\eta_0}{1 + r\,\tau(t)}, \qquad
        \tau(t) = \begin{cases} \lfloor t / s \rfloor & \text{staircase} \\ t / s & \text{otherwise}
        \end{cases}

    with :math:`r` = ``decay_rate`` >= 0, :math:`s` = ``decay_steps`` > 0 (default 1; with
    ``staircase=True`` the lr changes only every ``decay_steps`` steps), ``last_epoch=-1``.
    Chainable: step :math:`t` multiplies the lr by :math:`(1 + r\,\tau(t-1)) / (1 + r\,\tau(t))`.
    """

    _state_keys = LRScheduler._state_keys + ("decay_rate", "decay_steps", "staircase")

    def __init__(self, optimizer: SchedulableOptimizer, decay_rate: float, decay_steps: float = 1,
                 staircase: bool = False, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"decay_rate": decay_rate, "decay_steps": decay_steps,
                           "staircase": staircase})
        self.decay_rate, self.decay_steps, self.staircase = decay_rate, decay_steps, staircase
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_real("decay_rate", values["decay_rate"], ge=0)
        _check_real("decay_steps", values["decay_steps"], gt=0)
        _check_bool("staircase", values["staircase"])

    def _denominator(self, t: int) -> float:
        """1 + r tau(t)."""
        tau = t // self.decay_steps if self.staircase else t / self.decay_steps
        return 1 + self.decay_rate * tau

    def _lrs(self, initial):
        if initial:  # as ExponentialLR: resuming must not decay twice
            return self._current()
        t = self.last_epoch
        ratio = self._denominator(t - 1) / self._denominator(t)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _closed_form(self):
        return [base / self._denominator(self.last_epoch) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""Decays the lr to 0 over ``total_iters`` steps along a polynomial, then keeps it at 0.

    .. math::
        \eta_t = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^p

    with :math:`T` = ``total_iters`` >= 1 (default 5) and :math:`p` = ``power`` >= 0 (default
    1.0, linear). ``last_epoch=-1``. Chainable: step :math:`t \le T` multiplies the lr by
    :math:`((1 - t/T) / (1 - (t-1)/T))^p`.
    """

    _state_keys = LRScheduler._state_keys + ("total_iters", "power")

    def __init__(self, optimizer: SchedulableOptimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"total_iters": total_iters, "power": power})
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_int("total_iters", values["total_iters"], 1)
        _check_real("power", values["power"], ge=0)

    def _lrs(self, initial):
        t, T = self.last_epoch, self.total_iters
        if initial or t > T:
            return self._current()
        ratio = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _closed_form(self):
        remaining = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * remaining ** self.power for base in self.base_lrs]


# ---- cosine schedules ---------------------------------------------------------------------------
class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the initial lr down to ``eta_min`` over ``T_max`` steps (SGDR,
    Loshchilov & Hutter, 2017, without restarts: past ``T_max`` the cosine goes back up).

    .. math::
        \eta_t = \eta_{min} + \tfrac{1}{2}(\eta_0 - \eta_{min})
                 \left(1 + \cos\frac{\pi t}{T_{max}}\right)

    with :math:`T_{max}` = ``T_max`` (an int >= 1) and :math:`\eta_{min}` = ``eta_min`` >= 0
    (default 0.0). ``last_epoch=-1``. Chainable, as torch: each step applies

    .. math::
        \eta_t = \eta_{min} + (\eta_{t-1} - \eta_{min})\,
                 \frac{1 + \cos(\pi t / T_{max})}{1 + \cos(\pi (t-1) / T_{max})}

    except right after a minimum (:math:`(t - 1 - T_{max}) \bmod 2T_{max} = 0`, where that ratio
    is 0/0), which adds :math:`(\eta_0 - \eta_{min})(1 - \cos(\pi / T_{max}))/2`.
    """

    _state_keys = LRScheduler._state_keys + ("T_max", "eta_min")

    def __init__(self, optimizer: SchedulableOptimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"T_max": T_max, "eta_min": eta_min})
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_int("T_max", values["T_max"], 1)
        _check_real("eta_min", values["eta_min"], ge=0)

    def _lrs(self, initial):
        if initial:
            return self._current()
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if (t - 1 - T) % (2 * T) == 0:
            rise = (1 - math.cos(math.pi / T)) / 2
            return [group["lr"] + (base - eta_min) * rise
                    for base, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]

    def _closed_form(self):
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * cosine / 2 for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    .. math::
        \eta_t = \eta_{min} + \tfrac{1}{2}(\eta_0 - \eta_{min})
                 \left(1 + \cos\frac{\pi T_{cur}}{T_i}\right)

    where :math:`T_{cur}` counts the steps since the last restart and :math:`T_i` is the
    length of the current cycle: :math:`T_0` = ``T_0`` (an int >= 1) for the first, then
    multiplied by ``T_mult`` (an int >= 1, default 1) at each restart, where :math:`T_{cur}`
    wraps to 0 and the lr jumps back to :math:`\eta_0`. ``eta_min`` >= 0 (default 0.0),
    ``last_epoch=-1``. Not chainable. State: ``T_cur``, ``T_i``.
    """

    _state_keys = LRScheduler._state_keys + ("T_0", "T_i", "T_mult", "eta_min", "T_cur")

    def __init__(self, optimizer: SchedulableOptimizer, T_0: int, T_mult: int = 1,
                 eta_min: float = 0.0, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        self._check_hyper({"T_0": T_0, "T_mult": T_mult, "eta_min": eta_min})
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min = T_mult, eta_min
        self.T_cur = last_epoch  # the first step makes it 0 (or last_epoch + 1 when resuming)
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_int("T_0", values["T_0"], 1)
        _check_int("T_mult", values["T_mult"], 1)
        _check_real("eta_min", values["eta_min"], ge=0)

    def _check_state(self, values):
        super()._check_state(values)
        _check_int("T_i", values["T_i"], 1)
        _check_int("T_cur", values["T_cur"], -1)

    def _advance(self, initial):
        self._check_groups()
        if self.last_epoch < 0:  # the very first step: the start of the first cycle
            self.T_cur, self.T_i = 0, self.T_0
        else:
            self.T_cur += 1
            if self.T_cur >= self.T_i:  # restart: wrap, and the next cycle is T_mult longer
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        self.last_epoch += 1
        self._commit(self._updates(initial))

    def _lrs(self, initial):
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * cosine / 2 for base in self.base_lrs]


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2017): the lr rises from ``max_lr / div_factor`` to
    ``max_lr``, then anneals far below the start, while the momentum cycles the other way.

    Two phases (default, as fastai): over the first ``pct_start`` of ``total_steps`` the lr goes
    from :math:`\eta_{init} = \eta_{max} / d` to :math:`\eta_{max}` and the momentum from
    ``max_momentum`` to ``base_momentum``; over the rest the lr goes to
    :math:`\eta_{min} = \eta_{init} / d_f` and the momentum back to ``max_momentum``. With
    ``three_phase=True``: up to :math:`\eta_{max}`, symmetrically back to :math:`\eta_{init}`,
    then down to :math:`\eta_{min}` with the momentum held at ``max_momentum``. Within a
    phase from step :math:`a` to step :math:`b` (phase ends at ``pct_start * total_steps - 1``,
    ``2 * pct_start * total_steps - 2`` and ``total_steps - 1``), with
    :math:`p = (t - a) / (b - a)`, a value moves from :math:`u` to :math:`v` as

    .. math::
        \text{cos: } v + \tfrac{1}{2}(u - v)(1 + \cos \pi p), \qquad
        \text{linear: } u + (v - u)\,p

    ``max_lr``, ``base_momentum`` (default 0.85) and ``max_momentum`` (default 0.95) take one
    value or a list with one per param group; ``total_steps`` (an int >= 1), or ``epochs`` and
    ``steps_per_epoch`` (their product); ``pct_start`` in [0, 1] (default 0.3);
    ``anneal_strategy`` ``"cos"`` (default) or ``"linear"``; ``div_factor`` :math:`d` = 25.0,
    ``final_div_factor`` :math:`d_f` = 1e4; ``last_epoch=-1`` (steps taken, when resuming).

    With ``cycle_momentum=True`` (default) the optimizer needs ``momentum`` (SGD, RMSprop: the
    momentum is written into ``group["momentum"]``) or ``betas`` (Adam-like: written into
    ``group["betas"][0]``). The groups also get ``initial_lr``, ``max_lr``, ``min_lr``,
    ``max_momentum`` and ``base_momentum``. The schedule ends at step ``total_steps - 1``;
    as in torch, one more step is allowed (it extends the last phase) and the next raises
    ValueError, before changing anything. Not chainable.

    Unlike torch, a phase of zero length (e.g. ``pct_start * total_steps == 1``, where torch
    divides by zero) takes its end values.
    """

    _state_keys = LRScheduler._state_keys + ("total_steps", "_schedule_phases",
                                             "_anneal_func_type", "cycle_momentum", "use_beta1")
    _optional_keys = frozenset({"use_beta1"})  # torch saves it only with cycle_momentum

    def __init__(self, optimizer: SchedulableOptimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: Literal["cos", "linear"] = "cos",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        _check_start(optimizer, last_epoch)
        n = len(optimizer.param_groups)
        if total_steps is not None:
            _check_int("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            total_steps = (_check_int("epochs", epochs, 1)
                           * _check_int("steps_per_epoch", steps_per_epoch, 1))
        else:
            raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")
        _check_real("pct_start", pct_start, ge=0, le=1)
        _check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        _check_bool("cycle_momentum", cycle_momentum)
        _check_bool("three_phase", three_phase)
        _check_real("div_factor", div_factor, gt=0)
        _check_real("final_div_factor", final_div_factor, gt=0)
        max_lrs = _per_group("max_lr", max_lr, n, ge=0)
        use_beta1 = False
        if cycle_momentum:
            defaults = optimizer.defaults
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"cycle_momentum=True needs an optimizer with 'momentum' or "
                                 f"'betas'; {type(optimizer).__name__} has neither (pass "
                                 "cycle_momentum=False)")
            use_beta1 = "betas" in defaults
            max_momenta = _per_group("max_momentum", max_momentum, n, ge=0)
            base_momenta = _per_group("base_momentum", base_momentum, n, ge=0)
        if last_epoch != -1:
            keys = ["max_lr", "min_lr"] + (["max_momentum", "base_momentum"] if cycle_momentum
                                           else [])
            for i, group in enumerate(optimizer.param_groups):
                absent = [k for k in keys if k not in group]
                if absent:
                    raise ValueError(f"last_epoch={last_epoch} resumes a schedule, but param "
                                     f"group {i} lacks {absent} (load the optimizer's state first)")

        # Everything is valid: from here on the optimizer changes.
        self.total_steps = total_steps
        self._anneal_func_type = anneal_strategy
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = use_beta1
        # The phases name the group keys they interpolate between (torch's layout).
        rise_end = float(pct_start * total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self._schedule_phases = [
                _phase(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    group.update(self._momentum_update(group, max_momenta[i]))
                    group["max_momentum"] = max_momenta[i]
                    group["base_momentum"] = base_momenta[i]
        super().__init__(optimizer, last_epoch)

    def _check_hyper(self, values):
        _check_int("total_steps", values["total_steps"], 1)
        _check_choice("_anneal_func_type", values["_anneal_func_type"], ("cos", "linear"))
        _check_bool("cycle_momentum", values["cycle_momentum"])
        if "use_beta1" in values:
            _check_bool("use_beta1", values["use_beta1"])
        elif values["cycle_momentum"]:
            raise ValueError("OneCycleLR state_dict lacks 'use_beta1' (needed with cycle_momentum)")
        phases = values["_schedule_phases"]
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        if not isinstance(phases, (list, tuple)) or not phases or not all(
                isinstance(p, Mapping) and all(k in p for k in keys) for p in phases):
            raise ValueError(f"state_dict['_schedule_phases'] must be a list of dicts with {keys}")
        for i, p in enumerate(phases):
            _check_real(f"_schedule_phases[{i}]['end_step']", p["end_step"])

    def _momentum_update(self, group: dict, momentum) -> dict:
        """The group entry that carries the momentum: betas[0] (Adam-like) or momentum."""
        if self.use_beta1:
            return {"betas": (momentum, *group["betas"][1:])}
        return {"momentum": momentum}

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _advance(self, initial):
        if self.last_epoch + 1 > self.total_steps:  # checked before anything changes
            raise ValueError(f"OneCycleLR stepped {self.last_epoch + 1} times, past its "
                             f"total_steps={self.total_steps}")
        super()._advance(initial)

    def _updates(self, initial):
        t = self.last_epoch
        phases = self._schedule_phases
        updates = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(phases):
                end = phase["end_step"]
                if t <= end or i == len(phases) - 1:
                    # A zero-length phase (torch: ZeroDivisionError) is at its end.
                    pct = (t - start) / (end - start) if end != start else 1.0
                    break
                start = end
            update = {"lr": self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)}
            if self.cycle_momentum:
                momentum = self._anneal(group[phase["start_momentum"]],
                                        group[phase["end_momentum"]], pct)
                update.update(self._momentum_update(group, momentum))
            updates.append(update)
        return updates


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum) -> dict:
    """One OneCycleLR phase: ends at step `end_step`; the others name group keys."""
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
            "start_momentum": start_momentum, "end_momentum": end_momentum}


# ---- combinations -------------------------------------------------------------------------------
def _check_members(owner: str, schedulers, optimizer) -> list:
    """The schedulers a SequentialLR/ChainedScheduler drives: a non-empty list, same optimizer."""
    if isinstance(schedulers, (str, bytes)) or not isinstance(schedulers, Sequence):
        raise TypeError(f"{owner} schedulers must be a list of schedulers, got "
                        f"{type(schedulers).__name__}")
    if len(schedulers) == 0:
        raise ValueError(f"{owner} needs at least one scheduler in schedulers")
    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{owner} schedulers[{i}] must be a fastoptim lr_scheduler, got "
                            f"{type(s).__name__}")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(  # noqa: TRY004 (ValueError, as torch)
                f"{owner} cannot drive ReduceLROnPlateau (schedulers[{i}]): its step() needs "
                "the metric")
        if s.optimizer is not optimizer:
            raise ValueError(f"{owner} schedulers[{i}] ({type(s).__name__}) belongs to another "
                             "optimizer; all must share the optimizer")
    return list(schedulers)


def _members_state_dict(self) -> dict:
    """A SequentialLR/ChainedScheduler's state: its own, plus each member's state dict."""
    state = {k: copy.deepcopy(getattr(self, k)) for k in self._state_keys if k != "_schedulers"}
    state["_schedulers"] = [s.state_dict() for s in self._schedulers]
    return state


def _prepare_members(owner: str, schedulers: list, saved) -> list:
    if not isinstance(saved, (list, tuple)) or len(saved) != len(schedulers):
        raise ValueError(f"{owner} state_dict['_schedulers'] must hold {len(schedulers)} state "
                         "dicts, one per scheduler")
    return [s._prepare_load(d) for s, d in zip(schedulers, saved)]


class SequentialLR(LRScheduler):
    r"""Runs ``schedulers`` one after another, switching at the ``milestones`` steps.

    .. math::
        \eta_t = S_k(t - m_{k}) \quad \text{for } m_k \le t < m_{k+1}
        \qquad (m_0 = 0)

    ``schedulers``: a list of schedulers built on ``optimizer`` (not ReduceLROnPlateau);
    ``milestones``: ``len(schedulers) - 1`` step indices, strictly increasing ints >= 0, at
    which the next scheduler starts, from its own step 0 (with the closed form from
    ``initial_lr`` where it has one, as torch). ``last_epoch=-1``. Construction undoes the
    construction step of every scheduler and starts the first, as torch. A SequentialLR or
    ChainedScheduler cannot be a member (torch fails on them at their milestone).
    """

    _state_keys = ("_milestones", "last_epoch", "_last_lr", "_schedulers")

    def __init__(self, optimizer: SchedulableOptimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        _check_int("last_epoch", last_epoch, -1)
        schedulers = _check_members("SequentialLR", schedulers, optimizer)
        for i, s in enumerate(schedulers):
            if isinstance(s, (SequentialLR, ChainedScheduler)):
                raise TypeError(f"SequentialLR schedulers[{i}] is a {type(s).__name__}, which "
                                "cannot be restarted at a milestone")
        self._check_milestones(milestones, len(schedulers))
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        # Back to the initial lr, every member back by the step its construction took, then the
        # member for step 0 starts (its construction step again).
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @staticmethod
    def _check_milestones(milestones, count: int) -> None:
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise TypeError(f"milestones must be a list of ints, got {type(milestones).__name__}")
        if len(milestones) != count - 1:
            raise ValueError(f"milestones must have len(schedulers) - 1 = {count - 1} entries, "
                             f"got {len(milestones)}")
        for i, m in enumerate(milestones):
            _check_int(f"milestones[{i}]", m, 0)
            if i and m <= milestones[i - 1]:
                raise ValueError(f"milestones must be strictly increasing, got {list(milestones)}")

    def step(self) -> None:
        """Advances by one step: the current member steps, or the next one starts."""
        t = self.last_epoch + 1
        k = bisect_right(self._milestones, t)
        member = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == t:
            member._restart()
        else:
            member.step()
        self.last_epoch = t
        self._last_lr = member.get_last_lr()

    state_dict = _members_state_dict

    def _prepare_load(self, state_dict):
        values = self._read_keys(state_dict)
        members = _prepare_members("SequentialLR", self._schedulers, values.pop("_schedulers"))
        self._check_milestones(values["_milestones"], len(self._schedulers))
        _check_int("last_epoch", values["last_epoch"], 0)
        _check_lr_list("_last_lr", values["_last_lr"], len(self.optimizer.param_groups))
        values = copy.deepcopy(values)

        def commit():
            for apply in members:
                apply()
            for key, value in values.items():
                setattr(self, key, value)
        return commit


class ChainedScheduler(LRScheduler):
    r"""Steps several chainable schedulers together, so that their factors multiply.

    .. math::
        \eta_t = \eta_0 \prod_k \frac{S_k(t)}{S_k(0)}

    for chainable members (a non-chainable one, such as :class:`LambdaLR`, overwrites what the
    members before it wrote). ``schedulers``: a list of schedulers on one optimizer (not
    ReduceLROnPlateau), stepped in order; ``optimizer`` (default None: the first scheduler's).
    Construction takes no step (the members took theirs).
    """

    _state_keys = ("_last_lr", "_schedulers")

    def __init__(self, schedulers: Sequence[LRScheduler],
                 optimizer: SchedulableOptimizer | None = None) -> None:
        if optimizer is not None:
            _check_optimizer(optimizer)
        elif isinstance(schedulers, Sequence) and len(schedulers) > 0 \
                and isinstance(schedulers[0], LRScheduler):
            optimizer = schedulers[0].optimizer
        self._schedulers = _check_members("ChainedScheduler", schedulers, optimizer)
        self.optimizer = self._schedulers[0].optimizer  # `optimizer`, checked by _check_members
        self._last_lr = self._current()

    def step(self) -> None:
        """Steps every member, in order."""
        for s in self._schedulers:
            s.step()
        self._last_lr = self._current()

    state_dict = _members_state_dict

    def _prepare_load(self, state_dict):
        values = self._read_keys(state_dict)
        members = _prepare_members("ChainedScheduler", self._schedulers,
                                   values.pop("_schedulers"))
        _check_lr_list("_last_lr", values["_last_lr"], len(self.optimizer.param_groups))
        last_lr = list(values["_last_lr"])

        def commit():
            for apply in members:
                apply()
            self._last_lr = last_lr
        return commit


# ---- metric-driven ------------------------------------------------------------------------------
class ReduceLROnPlateau(LRScheduler):
    r"""Reduces the lr by ``factor`` when a metric has stopped improving.

    ``step(metric)`` compares the metric with the best seen so far: in ``mode="min"`` it is an
    improvement if below ``best * (1 - threshold)`` (``threshold_mode="rel"``) or
    ``best - threshold`` (``"abs"``); in ``mode="max"`` above ``best * (1 + threshold)`` or
    ``best + threshold``. After more than ``patience`` steps in a row without improvement,

    .. math::
        \eta \leftarrow \max(\eta \cdot f,\ \eta_{min}) \quad
        \text{if the change exceeds } \epsilon

    then ``cooldown`` steps during which bad steps are not counted. Arguments (defaults):
    ``mode="min"``, ``factor`` :math:`f` in [0, 1) (0.1), ``patience`` (an int >= 0, 10),
    ``threshold`` >= 0 (1e-4), ``threshold_mode="rel"``, ``cooldown`` (an int >= 0, 0),
    ``min_lr`` :math:`\eta_{min}` >= 0, one for all groups or a list with one per group (0),
    ``eps`` :math:`\epsilon` >= 0 (1e-8). Does not set ``initial_lr`` nor step at construction,
    as torch. A NaN metric counts as no improvement.
    """

    _state_keys = ("factor", "min_lrs", "default_min_lr", "patience", "cooldown", "eps",
                   "last_epoch", "_last_lr", "mode", "threshold", "threshold_mode",
                   "mode_worse", "best", "cooldown_counter", "num_bad_epochs")

    def __init__(self, optimizer: SchedulableOptimizer, mode: Literal["min", "max"] = "min",
                 factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 threshold_mode: Literal["rel", "abs"] = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        _check_optimizer(optimizer)
        self._check_hyper({"mode": mode, "factor": factor, "patience": patience,
                           "threshold": threshold, "threshold_mode": threshold_mode,
                           "cooldown": cooldown, "eps": eps})
        n = len(optimizer.param_groups)
        min_lrs = _per_group("min_lr", min_lr, n, ge=0)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        # A single min_lr also covers param groups added later; a list is per group.
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else cast(float, min_lr)
        self.min_lrs = min_lrs
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self.last_epoch = 0
        self._last_lr = self._current()

    def _check_hyper(self, values):
        _check_choice("mode", values["mode"], ("min", "max"))
        _check_real("factor", values["factor"], ge=0, lt=1)
        _check_int("patience", values["patience"], 0)
        _check_real("threshold", values["threshold"], ge=0)
        _check_choice("threshold_mode", values["threshold_mode"], ("rel", "abs"))
        _check_int("cooldown", values["cooldown"], 0)
        _check_real("eps", values["eps"], ge=0)

    def _check_state(self, values):
        self._check_hyper(values)
        _check_int("last_epoch", values["last_epoch"], 0)
        _check_lr_list("_last_lr", values["_last_lr"], None)
        _check_lr_list("min_lrs", values["min_lrs"], None)
        if values["default_min_lr"] is not None:
            _check_real("default_min_lr", values["default_min_lr"], ge=0)
        _check_real("best", values["best"], finite=False)
        _check_real("mode_worse", values["mode_worse"], finite=False)
        _check_int("cooldown_counter", values["cooldown_counter"], 0)
        _check_int("num_bad_epochs", values["num_bad_epochs"], 0)

    def _prepare_load(self, state_dict):
        commit = super()._prepare_load(state_dict)

        def commit_mode():
            commit()
            self.mode_worse = math.inf if self.mode == "min" else -math.inf  # follows mode
        return commit_mode

    def step(self, metrics: SupportsFloat) -> None:  # type: ignore[override]
        """Takes the metric of this epoch (a number) and reduces the lr if it has plateaued."""
        current = float(metrics)
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"the optimizer has {len(groups)} param groups, min_lr lists "
                                 f"{len(self.min_lrs)}: set min_lrs for the new group")
            min_lrs = [self.default_min_lr] * len(groups)
        else:
            min_lrs = self.min_lrs
        self.min_lrs = min_lrs
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(groups, min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:  # changes smaller than eps are not worth making
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current()

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, current: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return current < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return current > (best * (th + 1.0) if self.threshold_mode == "rel" else best + th)
