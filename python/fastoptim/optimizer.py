"""The optimizer base class: param groups, state and its (de)serialization.

A rule's class only names its native plan and its defaults; everything else lives here. The
numbers never go through Python: the native plan (``fastoptim._core.<Rule>``) keeps pointers to
the parameters, to the state arrays allocated here, and to the step counters, and reads the
hyperparameters straight from the ``param_groups`` dicts at every step.
"""

from __future__ import annotations

import copy
import numbers
import re
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Iterator, Literal, Optional, Sequence, Union

import ml_dtypes
import numpy as np
from numpy.typing import NDArray

from . import _core
from .flat import FlatParams, aligned_zeros, fewest_arrays, split_views, store_grads
from .quantized import Int8State, blocks

__all__ = ["Optimizer"]

#: What an optimizer takes as ``params``: one float32 array, a list of them, a FlatParams
#: store, or a list of param groups (dicts with a "params" entry of arrays and options). (One
#: Iterable of either, so that a list of dicts of mixed value types still type-checks.)
ParamsLike = Union[NDArray[np.float32], FlatParams,
                   Iterable[Union[NDArray[np.float32], Mapping[str, Any]]]]
#: One gradient: float32, float16 or bfloat16 (ml_dtypes), widened exactly by the step.
Grad = Union[NDArray[np.float32], NDArray[np.float16]]
#: What ``step`` takes: one gradient per parameter (None skips it), in group order, all of one
#: dtype; a bare array for an optimizer of one parameter; None (or nothing) for FlatParams
#: stores.
GradsLike = Union[Sequence[Optional[Grad]], Grad, None]
#: What a step does with a NaN or Inf gradient (see Optimizer.nonfinite).
Nonfinite = Literal["propagate", "skip", "raise"]
#: How state arrays are stored (see Optimizer.state_dtype).
StateDtype = Literal["float32", "bfloat16", "int8"]
#: How bfloat16 state is rounded when written (see Optimizer.state_dtype).
StateRounding = Literal["stochastic", "nearest"]
#: How 16-bit parameters keep their float32 master weights (see Optimizer.master_weights).
MasterWeights = Optional[Literal["split", "copy", "none"]]
#: A param group as ``param_groups`` holds it: {"params": [arrays], "lr": ..., ...}.
ParamGroup = Dict[str, Any]
#: A state dict: {"state": {index: {...}}, "param_groups": [{...}]} (see Optimizer.state_dict).
StateDict = Dict[str, Any]


# Keys that learning-rate schedulers add to param groups (accepted in add_param_group).
_SCHEDULER_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"})


# How to hand torch tensors to fastoptim (until a fastoptim.torch wrapper exists).
_TORCH_PARAMS = ("fastoptim steps NumPy arrays: pass p.detach().numpy() (CPU, float32, "
                 "contiguous; it shares the tensor's memory, so the model sees every update) "
                 "and step with p.grad.numpy()")
_TORCH_GRADS = ("pass p.grad.numpy() (a CPU float32 tensor; .detach() it first if it requires "
                "grad)")


def _is_torch(x: object) -> bool:
    """Whether x is a torch object (a tensor, a module), told without importing torch."""
    return type(x).__module__.split(".")[0] == "torch"


def _param_list(params: Any, where: str) -> list[Any]:
    """The parameters of a group, as a list (a FlatParams or one array counts as its arrays)."""
    if isinstance(params, FlatParams):
        return list(params.params)
    if isinstance(params, np.ndarray):
        return [params]
    if _is_torch(params):
        if hasattr(params, "parameters"):
            raise TypeError(f"{where} is a torch.nn.Module; fastoptim steps NumPy arrays: pass "
                            "[p.detach().numpy() for p in model.parameters()] (CPU, float32; "
                            "they share the tensors' memory, so the model sees every update) "
                            "and step with [p.grad.numpy() for p in model.parameters()]")
        raise TypeError(f"{where} is a torch.Tensor; {_TORCH_PARAMS}")
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{where} must be an ordered collection of arrays (a list), not a set: the order of "
            "parameters must be the same from run to run"
        )
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, Iterable):
        raise TypeError(f"{where} must be a list of numpy arrays, got {type(params).__name__}")
    return list(params)


def _no_grads_message(name: str, params: Sequence[Any], source: str = "step(grads)") -> str:
    """Why `name`.zero_grad() has nothing to zero: (some) params are outside FlatParams stores,
    so their gradients are only what `source` gives each step."""
    outside = [i for i, g in enumerate(store_grads(params)) if g is None]
    if len(outside) == len(params):
        return (f"{name}.zero_grad() has no gradients to zero: this optimizer takes its grads "
                f"from {source} and keeps none. Build it from a fastoptim.FlatParams store to "
                "keep gradients with the parameters (then zero_grad() zeroes them)")
    shown = ", ".join(f"params[{i}]" for i in outside[:3]) + (", ..." if len(outside) > 3 else "")
    one = len(outside) == 1
    return (f"{name}.zero_grad(): {shown} (of {len(params)} parameters) "
            f"{'is not a parameter' if one else 'are not parameters'} of a fastoptim.FlatParams "
            f"store, so {'its grad is' if one else 'their grads are'} only what {source} gives "
            "and there is nothing to zero; nothing was zeroed. Put every parameter in a store, "
            "or zero the stores' grads with store.zero_grad()")


def _check_arrays(arrays: list[Any], what: str = "params", bytes: int = 4) -> None:
    """Checks that `arrays` are writable, contiguous, non-overlapping float32 arrays.

    The native check, with errors that say how to fix them: a torch tensor gets how to pass
    it, an array of another real dtype ``.astype(np.float32)``; the arrays are named
    ``what[i]`` ("grads" for clipping). Costs nothing more when the arrays are good.
    """
    try:
        _core.check_params(arrays, bytes)
    except (TypeError, ValueError) as e:
        raise type(e)(_params_message(str(e), arrays, what)) from None


def _params_message(message: str, arrays: Sequence[Any], what: str) -> str:
    """The native check's `message` about params[i], with its fix, naming the arrays `what`."""
    m = re.match(r"params\[(\d+)\] ", message)
    if what != "params":
        message = re.sub(r"\bparams\[", f"{what}[", message)
        message = message.replace("a parameter listed twice", "an array listed twice")
    if m is None:
        return message
    i = int(m.group(1))
    a = arrays[i]
    if _is_torch(a):
        return f"{what}[{i}] is a torch.Tensor; " + (_TORCH_PARAMS if what == "params"
                                                       else _TORCH_GRADS)
    if isinstance(a, np.ndarray) and a.dtype != np.float32 and a.dtype.kind in "fiu":
        keep = (" (the optimizer updates that new array in place, so keep a reference to it)"
                if what == "params" else "")
        return f"{message}: convert it with .astype(np.float32){keep}"
    return message


def _grads_message(message: str, grads: object) -> str:
    """A native step()'s TypeError `message` about grads[i], with its fix (error path only)."""
    if _is_torch(grads):
        return (f"{message}: pass a list of NumPy arrays, [p.grad.numpy() for each parameter p] "
                "(CPU float32 tensors; .detach() them first if they require grad)")
    m = re.search(r"\bgrads\[(\d+)\] ", message)
    if m is None or not isinstance(grads, (list, tuple)) or int(m.group(1)) >= len(grads):
        return message
    g = grads[int(m.group(1))]
    if _is_torch(g):
        return f"{message}, a torch.Tensor: {_TORCH_GRADS}"
    if isinstance(g, np.ndarray) and g.dtype != np.float32 and g.dtype.kind in "fiu":
        return f"{message}: convert it with .astype(np.float32)"
    return message



class Optimizer:
    """Base class of every fastoptim optimizer (torch.optim's surface, NumPy arrays for tensors).

    ``params`` is a list of float32 arrays (updated in place; or all float16 or all bfloat16,
    see ``master_weights``), a :class:`FlatParams` store, or a
    list of param-group dicts (``{"params": [...], "lr": 0.1}``); keys a group leaves out take
    the optimizer's defaults. ``step(grads)`` takes one gradient per parameter, in group order
    (``None`` skips that parameter), or one bare array for an optimizer of one parameter; on a
    FlatParams store, ``step()`` reads the store's grads and ``zero_grad()`` zeroes them.
    """

    #: The native plan class of the rule (``_core.SGD``, ``_core.Adam``, ...).
    _native: Any = None
    #: False for rules whose torch state has no step (SGD): their state entries exist only while
    #: they hold an array, and a loaded entry without "step" counts as stepped if it has one.
    _step_in_state = True

    def __init__(self, params: ParamsLike, defaults: Mapping[str, Any],
                 max_grad_norm: float | None = None, nonfinite: Nonfinite = "propagate",
                 state_dtype: StateDtype = "float32", state_rounding: StateRounding = "stochastic",
                 seed: int = 0, master_weights: MasterWeights = None) -> None:
        self._state_format = _state_format(state_dtype, state_rounding)
        if master_weights not in (None, "split", "copy", "none"):
            raise ValueError(f"Invalid master_weights: {master_weights!r} (must be None, 'split', "
                             "'copy' or 'none')")
        self._master_weights: MasterWeights = master_weights
        self._param_format = _FLOAT32  # ParamFormat of the parameters, set with them
        self._master_mode: MasterWeights = None  # master_weights as resolved for them
        self._masters: list = []  # each parameter's master weight state (16-bit parameters)
        self._state_dtype: StateDtype = state_dtype
        self._state_rounding: StateRounding = state_rounding
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= seed < 2**32:
            raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
        self._seed = int(seed)
        self.defaults: dict[str, Any] = dict(defaults)
        self._max_grad_norm: float | None = None
        self._nonfinite: Nonfinite = "propagate"
        self.param_groups: list[ParamGroup] = []
        self._params: list[NDArray[np.float32]] = []
        self._steps = np.zeros(0, dtype=np.int64)
        self._states: dict = {}  # slot name -> list of views, aligned with self._params
        self._group_of: list = []  # param group index of each of self._params
        self._scalars: dict = {}  # per-tensor scalar state name -> float64 array (NAdam)
        self._plan: Any = None
        self._grads_to_zero: list | None = []  # what zero_grad() fills (None: not in stores)
        if isinstance(params, FlatParams):
            groups = [{"params": params}]
        else:
            groups = _param_list(params, "params")
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)
        self.max_grad_norm = max_grad_norm
        self.nonfinite = nonfinite

    # ---- param groups -------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Adds a group of parameters with its own hyperparameters (defaults fill the rest)."""
        if not isinstance(param_group, Mapping):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        index = len(self.param_groups)
        group = dict(param_group)
        if "params" not in group:
            raise ValueError(f"param group {index} has no 'params'")
        group["params"] = _param_list(group["params"], f"param group {index} 'params'")
        for key in group:
            if key != "params" and key not in self.defaults and key not in _SCHEDULER_KEYS:
                raise ValueError(f"param group {index}: unknown option {key!r} for "
                                 f"{type(self).__name__} (known: {sorted(self.defaults)})")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._native.validate(group, index)
        seen = {id(p) for p in self._params}
        for j, p in enumerate(group["params"]):
            if id(p) in seen:
                raise ValueError(f"param group {index}: params[{j}] appears more than once "
                                 "(some parameters appear in more than one parameter group)")
            seen.add(id(p))
        self._rebuild(self.param_groups + [group])  # validates the arrays; commits on success

    # ---- the native plan ----------------------------------------------------------------
    def _rebuild(self, groups: list, states: dict | None = None, steps: Any = None,
                 scalars: dict | None = None, master_state: list | None = None) -> None:
        """(Re)creates the native plan for `groups`, carrying over the state of known params.

        State arrays get one flat, 64-byte-aligned buffer per slot, in parameter order, so the
        state of parameters that are adjacent in memory (a FlatParams) is adjacent too.
        """
        params = [p for g in groups for p in g["params"]]
        param_format, master_mode = _param_format(params, self._master_weights,
                                                  self._state_rounding)
        _check_arrays(params, bytes=4 if param_format == _FLOAT32 else 2)  # before allocating
        group_of = [j for j, g in enumerate(groups) for _ in g["params"]]
        needed = set()
        for g in groups:
            needed.update(self._native.needed_slots(g))
        old = {id(p): i for i, p in enumerate(self._params)}
        states = self._states if states is None else states
        steps = self._steps if steps is None else steps
        shapes = [getattr(p, "shape", ()) for p in params]
        new_states: dict[str, list[Any]] = {}
        slot_lists: list[list[NDArray[Any]] | None] = []
        scale_lists: list[list[NDArray[np.float32]] | None] | None = (
            [] if self._state_dtype == "int8" else None)
        for name in self._native.slots:
            if name not in needed:
                slot_lists.append(None)
                if scale_lists is not None:
                    scale_lists.append(None)
                continue
            views = _new_state(self._state_dtype, shapes)
            for p, v in zip(params, views):
                i = old.get(id(p))
                if i is not None and name in states:
                    _assign(v, states[name][i])
            new_states[name] = views
            # The native step sees bfloat16 state as its bits, int8 state as codes and scales.
            if self._state_dtype == "int8":
                slot_lists.append([v.codes for v in views])
                scale_lists.append([v.scales for v in views])  # type: ignore[union-attr]
            else:
                slot_lists.append(views if self._state_dtype == "float32"
                                  else [v.view(np.uint16) for v in views])
        masters = _new_masters(param_format, params, shapes)
        saved_masters = self._masters if master_state is None else master_state
        for j, p in enumerate(params):
            i = old.get(id(p))
            if masters is not None and i is not None and saved_masters[i] is not None:
                masters[j][...] = saved_masters[i]
        new_steps = np.array([steps[old[id(p)]] if id(p) in old else 0 for p in params],
                             dtype=np.int64)
        scalars = self._scalars if scalars is None else scalars
        new_scalars = {
            name: np.array([scalars[name][old[id(p)]] if id(p) in old and name in scalars
                            else init for p in params], dtype=np.float64)
            for name, init in self._native.scalars.items()
        }
        in_stores = [g for g in store_grads(params) if g is not None]
        flat_grads = in_stores if params and len(in_stores) == len(params) else None
        plan = self._native(groups, params, group_of, slot_lists, new_steps, flat_grads,
                            list(new_scalars.values()), self._state_format, self._seed,
                            param_format, scale_lists, masters)
        plan.max_grad_norm = self._max_grad_norm
        plan.nonfinite = self._nonfinite
        if self._plan is not None:
            plan.skipped_steps = self._plan.skipped_steps
        self.param_groups[:] = groups
        self._params, self._states, self._steps, self._plan = params, new_states, new_steps, plan
        self._scalars, self._group_of = new_scalars, group_of
        self._param_format, self._master_mode = param_format, master_mode
        self._masters = [None] * len(params) if masters is None else masters
        self._grads_to_zero = (fewest_arrays(params, flat_grads) if flat_grads is not None
                               else None if params else [])

    # ---- gradient clipping --------------------------------------------------------------
    @property
    def max_grad_norm(self) -> float | None:
        """Clip each step's gradients to this global L2 norm (None: no clipping).

        The same as ``clip_grad_norm_(grads, max_grad_norm)`` before every step, fused: one
        pass over the gradients for the norm, and the update kernel scales each gradient as
        it reads it, so the gradient arrays themselves are left unchanged.
        """
        return self._max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value: float | None) -> None:
        self._plan.max_grad_norm = value  # validates
        self._max_grad_norm = self._plan.max_grad_norm

    @property
    def last_grad_norm(self) -> float:
        """The global gradient norm of the last step, before clipping (NaN without clipping)."""
        return self._plan.last_grad_norm

    # ---- non-finite gradients -----------------------------------------------------------
    @property
    def nonfinite(self) -> Nonfinite:
        """What a step does when a gradient holds NaN or Inf.

        ``"propagate"`` (default, as torch): the update runs and the NaN spreads.
        ``"skip"``: nothing changes (parameters, state, step counts) and ``skipped_steps``
        counts it. ``"raise"``: ``FloatingPointError`` naming the first such gradient, nothing
        changed.

        The decision comes before anything is written: with ``max_grad_norm`` the clipping
        norm (already a full read of the gradients) decides; otherwise one read-only,
        vectorized pass over the gradients does. The optimizer keeps no second copy of its
        state, and ``opt.state`` arrays stay the same objects from step to step.
        """
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, mode: Nonfinite) -> None:
        if not isinstance(mode, str):
            raise TypeError(f"nonfinite must be a string, got {type(mode).__name__}")
        self._plan.nonfinite = mode  # validates
        self._nonfinite = mode

    @property
    def state_dtype(self) -> StateDtype:
        """How the state arrays are stored: ``"float32"`` (default), ``"bfloat16"`` or ``"int8"``.

        The step computes in float32 and rounds each new state value as it writes it.

        ``"bfloat16"`` halves the state's memory and bytes. Rounding is stochastic by default
        (``state_rounding="stochastic"``: up with probability equal to the dropped fraction, so
        it is unbiased and small updates to a moving average are not lost), or to the nearest
        even (``"nearest"``, for comparison). The random bits come from a counter-based hash of
        ``seed``, the step count, the state slot and the element's index, so results are the
        same bits for any thread count. ``opt.state`` holds ``ml_dtypes.bfloat16`` arrays.

        ``"int8"`` keeps a quarter: each state array is an :class:`Int8State`, blocks of 256
        elements with an 8-bit code per element and one float32 scale per block (about 1.02
        bytes per element), every tensor alike whatever its size. Each block is rounded to its
        nearest codes. A NaN or infinity in a block's state makes the whole block NaN or infinite.

        ``load_state_dict`` converts between the formats: float32 into bfloat16 or int8
        rounds to nearest, and back is exact.
        """
        return self._state_dtype

    @property
    def master_weights(self) -> MasterWeights:
        """How float16 or bfloat16 parameters keep their float32 master weights.

        ``"split"`` (bfloat16's default): the optimizer keeps the low 16 bits of each float32
        master weight as state (``"master_low_bits"``, uint16), so the bfloat16 parameter and
        its low half are the exact float32 master, and the parameter is its truncation
        (Intel IPEX's split SGD). 4 bytes per parameter in all.
        ``"copy"`` (float16's default): a float32 copy as state (``"master"``); the parameter is
        its rounding to nearest. Writing a new value into the parameter array does not reach
        this copy: load weights with ``load_state_dict`` or build a new optimizer.
        ``"none"`` (bfloat16): no master; the parameter itself is rounded as it is written,
        per ``state_rounding``.
        ``None`` for float32 parameters.
        """
        return self._master_mode

    @property
    def skipped_steps(self) -> int:
        """How many steps nonfinite="skip" has skipped."""
        return self._plan.skipped_steps

    # ---- stepping -----------------------------------------------------------------------
    def step(self, grads: GradsLike = None) -> None:
        """Updates every parameter in place from its gradient, in one native call.

        ``grads``: one array per parameter (same shape), in param-group order, all float32,
        float16 or bfloat16 (``ml_dtypes.bfloat16``), whatever the parameters' dtype; ``None``
        for a parameter skips it. An optimizer of one parameter also takes its gradient as a
        bare array. Omit ``grads`` when the parameters live in a FlatParams store.
        """
        if isinstance(grads, np.ndarray):
            grads = self._one_grad(grads)
        try:
            try:
                self._plan.step(grads)
            except _core.StalePlan:  # an option now needs a state array the plan lacks
                self._rebuild(self.param_groups)
                self._plan.step(grads)
        except TypeError as e:  # a check failed, nothing changed: say how to fix a bad grad
            message = _grads_message(str(e), grads)
            if message == str(e):
                raise
            raise TypeError(message) from None

    def _one_grad(self, grad: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """step(g) with a bare array: the gradient of the only parameter."""
        if len(self._params) != 1:
            raise TypeError(f"{type(self).__name__}.step(grads) takes a list or tuple of grads, "
                            f"one per parameter; got one array for {len(self._params)} "
                            "parameters")
        return [grad]

    def zero_grad(self) -> None:
        """Sets the gradients of the parameters to zero, when they live in FlatParams stores.

        The optimizer has gradients to zero only where it reads them itself: in the stores
        (exactly where ``step()`` needs no ``grads``). Otherwise the gradients are the arrays
        passed to ``step(grads)``, which it does not keep, and this raises ``RuntimeError``
        rather than do nothing.
        """
        if self._grads_to_zero is None:
            raise RuntimeError(_no_grads_message(type(self).__name__, self._params))
        for g in self._grads_to_zero:
            g.fill(0.0)

    # ---- state --------------------------------------------------------------------------
    @property
    def state(self) -> _StateView:
        """Per-parameter state, keyed by parameter index or by the array itself.

        Each entry is ``{"step": int, <slot>: live float32 view, ...}``; parameters not yet
        stepped have no entry (as torch creates state lazily).
        """
        return _StateView(self)

    def _entry(self, i: int) -> dict[str, Any] | None:
        """State of parameter i (live views), or None if it has none (as in torch)."""
        if self._steps[i] == 0:
            return None
        try:
            names = self._native.needed_slots(self.param_groups[self._group_of[i]])
        except (TypeError, ValueError, KeyError):  # the group holds an invalid value just now
            names = list(self._states)
        if not names and not self._step_in_state and self._masters[i] is None:
            return None
        entry: dict[str, Any] = {"step": int(self._steps[i])}
        for name in names:
            entry[name] = self._states[name][i]
        if self._masters[i] is not None:
            entry[_MASTER_NAMES[self._param_format]] = self._masters[i]
        for name, values in self._scalars.items():
            entry[name] = float(values[i])
        return entry

    def state_dict(self) -> StateDict:
        """The state as ``{"state": {index: {...}}, "param_groups": [...]}`` (arrays copied).

        Parameters are referred to by their index in group order, as in torch.
        """
        state = {}
        for i in range(len(self._params)):
            entry = self._entry(i)
            if entry is not None:
                state[i] = {k: (v.copy() if isinstance(v, (np.ndarray, Int8State)) else v)
                            for k, v in entry.items()}
        groups, start = [], 0
        for g in self.param_groups:
            d = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            d["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores hyperparameters, step counts and every state array from ``state_dict``.

        Everything is checked before anything changes: on error the optimizer is untouched.
        Accepts this class's own state dicts, and torch.optim's (tensors are read as arrays).
        """
        if not isinstance(state_dict, Mapping) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) \
                or len(saved_groups) != len(self.param_groups):
            got = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else "no list of"
            raise ValueError(f"state_dict has {got} param groups, the optimizer has "
                             f"{len(self.param_groups)}")
        groups = []
        for j, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, Mapping) \
                    or len(saved.get("params", ())) != len(mine["params"]):
                raise ValueError(f"state_dict param group {j} does not match the size of the "
                                 f"optimizer's group ({len(mine['params'])} parameters)")
            g = dict(mine)
            for k, v in saved.items():  # every key, as torch: schedulers keep theirs there
                if k != "params":
                    g[k] = copy.deepcopy(v)
            self._native.validate(g, j)
            groups.append(g)

        n = len(self._params)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise ValueError("state_dict['state'] must be a dict")
        steps = np.zeros(n, dtype=np.int64)
        states = {name: [np.zeros(p.shape, np.float32) for p in self._params]
                  for name in self._native.slots}
        scalar_init = self._native.scalars
        scalars = {name: np.full(n, init, dtype=np.float64) for name, init in scalar_init.items()}
        slots = set(self._native.slots)
        master_name = _MASTER_NAMES.get(self._param_format)
        masters: list = [None] * n
        for key, entry in saved_state.items():
            i = _index(key, n)
            if not isinstance(entry, Mapping):
                raise ValueError(f"state_dict['state'][{key!r}] must be a dict")
            needed = self._native.needed_slots(groups[self._group_of[i]])
            present = [k for k, v in entry.items() if k in slots and v is not None]
            for k in entry:
                if k != "step" and k not in slots and k not in scalar_init and k != master_name:
                    raise ValueError(f"state_dict['state'][{key!r}] has unknown key {k!r} for "
                                     f"{type(self).__name__} (expected 'step' and {needed})")
            if "step" in entry:
                steps[i] = _step_count(entry["step"], key)
            elif not self._step_in_state:
                steps[i] = 1 if present else 0
            else:
                raise ValueError(f"state_dict['state'][{key!r}] has no 'step'")
            for name in needed:
                if steps[i] > 0 and name not in present:
                    raise ValueError(f"state_dict['state'][{key!r}] lacks {name!r}")
            for name in present:
                states[name][i] = _state_array(entry[name], self._params[i], key, name)
            if master_name is not None and entry.get(master_name) is not None:
                masters[i] = _master_array(entry[master_name], self._params[i], key, master_name,
                                           self._param_format)
            for name in scalar_init:
                if name in entry:
                    scalars[name][i] = _state_scalar(entry[name], key, name)
                elif steps[i] > 0:
                    raise ValueError(f"state_dict['state'][{key!r}] lacks {name!r}")
        for j, saved in enumerate(saved_groups):  # after the state's more telling errors
            _check_group_keys(self, saved, j)
        self._rebuild(groups, states=states, steps=steps, scalars=scalars, master_state=masters)
        # _rebuild copied states of params it knew; the loaded values replace them all.

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for j, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {j}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines + [")"])


# NumPy dtypes of the state formats (bfloat16 is ml_dtypes', the NumPy ecosystem's type; int8
# state is an Int8State of uint8 codes and float32 scales).
_STATE_DTYPES: dict[str, Any] = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16,
                                 "int8": np.uint8}


def _state_format(dtype: object, rounding: object) -> int:
    """The native StateFormat of (state_dtype, state_rounding), else ValueError."""
    if dtype not in _STATE_DTYPES:
        raise ValueError(f"Invalid state_dtype: {dtype!r} (must be 'float32', 'bfloat16' or "
                         "'int8')")
    if rounding not in ("stochastic", "nearest"):
        raise ValueError(f"Invalid state_rounding: {rounding!r} (must be 'stochastic' or "
                         "'nearest')")
    if dtype == "int8":
        return 3
    return 0 if dtype == "float32" else 1 if rounding == "stochastic" else 2  # StateFormat


def _new_state(dtype: str, shapes: list) -> list:
    """Zeroed state arrays of `dtype`, one per shape, in one 64-byte-aligned buffer (int8: one
    for the codes and one for the scales)."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if dtype != "int8":
        return split_views(aligned_zeros(sum(sizes), _STATE_DTYPES[dtype]), shapes)
    codes = split_views(aligned_zeros(sum(sizes), np.uint8), shapes)
    counts = [blocks(n) for n in sizes]
    scales = split_views(aligned_zeros(sum(counts), np.float32), [(c,) for c in counts])
    return [Int8State(c, s) for c, s in zip(codes, scales)]


def _assign(view: Any, source: Any) -> None:
    """Copies a state array into `view`, converting between formats (float32 into bfloat16 or
    int8 rounds to nearest; int8 into the others dequantizes)."""
    if isinstance(view, Int8State):
        view.assign(source)
    else:
        view[...] = source.numpy() if isinstance(source, Int8State) else source


# The native ParamFormat values (cpp/kernels/rule.h), of 16-bit parameters by dtype and
# master_weights ("none" rounds per state_rounding), and the name of each master's state.
_FLOAT32, _BF16_SPLIT, _BF16_COPY, _F16_COPY, _BF16_STOCHASTIC, _BF16_NEAREST = range(6)
_PARAM_FORMATS = {("bfloat16", "split"): _BF16_SPLIT, ("bfloat16", "copy"): _BF16_COPY,
                  ("float16", "copy"): _F16_COPY, ("bfloat16", "none"): _BF16_STOCHASTIC}
_MASTER_NAMES = {_BF16_SPLIT: "master_low_bits", _BF16_COPY: "master", _F16_COPY: "master"}


def _param_format(params: list, master_weights: MasterWeights,
                  rounding: str) -> tuple[int, MasterWeights]:
    """The native ParamFormat of the parameters and the master_weights it means: float32
    (None); for float16 or bfloat16 parameters (all of one dtype) per master_weights (None:
    "split" for bfloat16, "copy" for float16)."""
    sixteen = [i for i, p in enumerate(params) if isinstance(p, np.ndarray)
               and p.dtype in (np.float16, ml_dtypes.bfloat16)]
    if not sixteen:
        if master_weights is not None:
            raise ValueError(f"master_weights={master_weights!r} is for float16 or bfloat16 "
                             "parameters; these are float32")
        return _FLOAT32, None
    dtype = params[sixteen[0]].dtype
    for i, p in enumerate(params):
        if getattr(p, "dtype", None) != dtype:
            raise TypeError(f"params[{i}] has dtype {getattr(p, 'dtype', type(p).__name__)} but "
                            f"params[{sixteen[0]}] has dtype {dtype}: an optimizer's parameters "
                            "are all float32, all float16 or all bfloat16")
    name = "bfloat16" if dtype == ml_dtypes.bfloat16 else "float16"
    mode = master_weights or ("split" if name == "bfloat16" else "copy")
    if (name, mode) not in _PARAM_FORMATS:
        raise ValueError(f"master_weights={mode!r} needs bfloat16 parameters (float16 "
                         "parameters take 'copy': only bfloat16 is the top half of a float32)")
    fmt = _PARAM_FORMATS[(name, mode)]
    return (_BF16_NEAREST if fmt == _BF16_STOCHASTIC and rounding == "nearest" else fmt), mode


def _new_masters(param_format: int, params: list, shapes: list) -> list | None:
    """Each parameter's master weight state, as the parameter is now: the low 16 bits (zero)
    of a split bfloat16 parameter, or a float32 copy; None for formats without one."""
    if param_format not in _MASTER_NAMES:
        return None
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    dtype = np.uint16 if param_format == _BF16_SPLIT else np.float32
    masters = split_views(aligned_zeros(sum(sizes), dtype), shapes)
    if param_format != _BF16_SPLIT:
        for m, p in zip(masters, params):
            m[...] = p
    return masters


def _master_array(value, param, key, name, param_format: int) -> np.ndarray:
    """A saved master weight state, checked: uint16 low bits (split) or float values (copy)."""
    arr = np.asarray(value)
    split = param_format == _BF16_SPLIT
    want = "uint16" if split else "float"
    if (arr.dtype != np.uint16) if split else (arr.dtype.kind != "f"):
        raise TypeError(f"state_dict['state'][{key!r}][{name!r}] must be a {want} array, got "
                        f"dtype {arr.dtype}")
    if arr.shape != param.shape:
        raise ValueError(f"state_dict['state'][{key!r}][{name!r}] has shape {arr.shape}, "
                         f"the parameter has shape {param.shape}")
    return arr


def copy_options(source: Sequence[Mapping[str, Any]], target: Sequence[dict],
                 keys: Iterable[str]) -> None:
    """Each group of `target` takes the values of `keys` from the group of `source` at its
    index: the options a wrapper's groups hold (where schedulers write) copied into the groups
    of the optimizer that steps (fastoptim.torch, fastoptim.distributed)."""
    keys = list(keys)
    for src, dst in zip(source, target):
        for k in keys:
            dst[k] = src[k]


def _unit_interval(name: str, value: Any) -> Any:
    """A real number in [0, 1] (EMA's decay, Lookahead's alpha), else TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be in [0, 1])")
    return value


def _saved_arrays(values, mine: list, what: str) -> list:
    """Saved float arrays, one per array of `mine` and of its shape (EMA's average, Lookahead's
    slow weights), checked before anything is restored; `what` names them ("EMA shadow")."""
    if not isinstance(values, (list, tuple)) or len(values) != len(mine):
        got = len(values) if isinstance(values, (list, tuple)) else "no list of"
        raise ValueError(f"{what}: the state_dict has {got} arrays, expected {len(mine)}")
    arrays = [np.asarray(v) for v in values]
    for i, (a, m) in enumerate(zip(arrays, mine)):
        if a.dtype.kind != "f":
            raise TypeError(f"{what}[{i}] must be a float array, got {a.dtype}")
        if a.shape != m.shape:
            raise ValueError(f"{what}[{i}] has shape {a.shape}, expected {m.shape}")
    return arrays


def _check_group_keys(opt, saved: Mapping, j: int) -> None:
    """Rejects a saved param group that lacks a hyperparameter of opt's class.

    A group of the class (or of its torch.optim twin) has every hyperparameter that is not a
    flag or None by default; flags may be missing from older torch checkpoints, and torch fills
    them in with their defaults, as load_state_dict does from the current group. So a group
    without one is another optimizer's (SGD's has no betas, Adam's no momentum).
    """
    lacking = [k for k, v in opt.defaults.items()
               if not isinstance(v, bool) and v is not None and k not in saved]
    if lacking:
        raise ValueError(f"state_dict param group {j} lacks {', '.join(map(repr, lacking))}, "
                         f"which {type(opt).__name__} needs: a state dict of another optimizer "
                         f"class?")


def _index(key, n: int) -> int:
    try:
        i = int(key)
    except (TypeError, ValueError):
        raise ValueError(f"state_dict['state'] key {key!r} is not a parameter index") from None
    if not 0 <= i < n or (isinstance(key, float) and key != i):
        raise ValueError(f"state_dict['state'] key {key!r} is out of range for {n} parameters")
    return i


def _step_count(value, key) -> int:
    try:
        f = float(np.asarray(value))
    except (TypeError, ValueError):
        raise TypeError(f"state_dict['state'][{key!r}]['step'] must be a number, "
                        f"got {type(value).__name__}") from None
    if not np.isfinite(f) or f < 0 or f != int(f) or f >= 2**53:
        raise ValueError(f"state_dict['state'][{key!r}]['step'] must be an integer in "
                         f"[0, 2**53), got {value!r}")
    return int(f)


def _state_scalar(value, key, name) -> float:
    try:
        f = float(np.asarray(value))
    except (TypeError, ValueError):
        raise TypeError(f"state_dict['state'][{key!r}][{name!r}] must be a number, "
                        f"got {type(value).__name__}") from None
    if not np.isfinite(f):
        raise ValueError(f"state_dict['state'][{key!r}][{name!r}] must be finite, got {f}")
    return f


def _state_array(value, param, key, name) -> Any:
    if isinstance(value, Int8State):  # as it is: exact into an int8 optimizer
        if value.shape != param.shape:
            raise ValueError(f"state_dict['state'][{key!r}][{name!r}] has shape {value.shape}, "
                             f"the parameter has shape {param.shape}")
        return value
    arr = np.asarray(value)
    if arr.dtype.kind != "f" and arr.dtype != ml_dtypes.bfloat16:
        raise TypeError(f"state_dict['state'][{key!r}][{name!r}] must be a float array, "
                        f"got dtype {arr.dtype}")
    if arr.shape != param.shape:
        raise ValueError(f"state_dict['state'][{key!r}][{name!r}] has shape {arr.shape}, "
                         f"the parameter has shape {param.shape}")
    if arr.dtype == ml_dtypes.bfloat16:  # as it is: widening would lose NaN payloads
        return arr
    return arr.astype(np.float32)


class _StateView(Mapping[int, Dict[str, Any]]):
    """Read view of an optimizer's per-parameter state (see Optimizer.state)."""

    def __init__(self, opt: Optimizer) -> None:
        self._opt = opt

    def _resolve(self, key: object) -> int:
        if isinstance(key, np.ndarray):
            for i, p in enumerate(self._opt._params):
                if p is key:
                    return i
            raise KeyError("array is not a parameter of this optimizer")
        if isinstance(key, numbers.Integral) and 0 <= int(key) < len(self._opt._params):
            return int(key)
        raise KeyError(key)

    def __getitem__(self, key: int | NDArray[Any]) -> dict[str, Any]:
        entry = self._opt._entry(self._resolve(key))
        if entry is None:
            raise KeyError(key)
        return entry

    def __contains__(self, key: object) -> bool:
        try:
            return self._opt._entry(self._resolve(key)) is not None
        except KeyError:
            return False

    def __iter__(self) -> Iterator[int]:
        return (i for i in range(len(self._opt._params)) if self._opt._entry(i) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
