"""torch.optim's optimizers for CPU tensors, stepped by fastoptim's kernels.

Each class has the name, arguments and defaults of its ``torch.optim`` twin and is a subclass of
``torch.optim.Optimizer``, so code written against torch.optim runs unchanged: schedulers,
``step(closure)``, ``zero_grad(set_to_none=...)``, step hooks, ``state_dict()`` in torch's
format (loadable by torch.optim, and back). A step reads every ``p.grad`` and updates every
parameter in place in one native call. Change one line::

    opt = fastoptim.torch.Adam(model.parameters(), lr=1e-3)   # was torch.optim.Adam

Beyond torch's arguments, each class takes fastoptim's (``max_grad_norm``, ``nonfinite``,
``state_dtype``, ``state_rounding``, ``seed``, ``master_weights``: see
:class:`fastoptim.Optimizer`) and two of its own, keyword-only:

``contiguous=True``
    re-points the parameters into one aligned buffer and keeps their gradients as views of
    another, so that a step is one pass over contiguous memory. ``zero_grad()`` zeroes the
    gradient buffer instead of dropping the views (with ``set_to_none=True``, torch's default,
    a parameter still counts as having no gradient until backward or the user writes one). A
    gradient that something replaced (autograd after ``model.zero_grad()``, an assignment) is
    stepped as it is, and ``zero_grad()`` puts the view back.
``in_backward=True``
    steps each parameter from a post-accumulate-grad hook as soon as backward has finished its
    gradient, then frees the gradient: peak memory drops by the size of the gradients, and
    ``step()`` / ``zero_grad()`` find nothing left to do. Gradients a backward run inside
    ``with opt.accumulating():`` keeps (gradient accumulation) are stepped by the next backward
    outside it, or by ``step()``. Global-norm clipping (``max_grad_norm``, or
    ``torch.nn.utils.clip_grad_norm_``, which would find no gradients) and
    ``nonfinite="skip"``/``"raise"`` need every gradient at once, so they raise here.

Parameters must be CPU, dense, contiguous tensors, all float32, all bfloat16 or all float16.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import re
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import ml_dtypes
import numpy as np
import torch

from . import flat as _flat
from . import lbfgs as _lbfgs
from . import lookahead as _lookahead
from .optimizer import copy_options
from .adadelta import Adadelta as _Adadelta
from .adagrad import Adagrad as _Adagrad
from .adam import Adam as _Adam
from .adam import AdamW as _AdamW
from .adamax import Adamax as _Adamax
from .lion import Lion as _Lion
from .nadam import NAdam as _NAdam
from .proximal import ProximalAdagrad as _ProximalAdagrad
from .proximal import ProximalSGD as _ProximalSGD
from .quantized import Int8State
from .radam import RAdam as _RAdam
from .rmsprop import RMSprop as _RMSprop
from .sgd import SGD as _SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "Lion", "Lookahead",
           "NAdam", "Optimizer", "ProximalAdagrad", "ProximalSGD", "RAdam", "RMSprop", "SGD"]

# torch.optim's options that choose among torch's own implementations: kept in the param
# groups (so state dicts look like torch's), with no effect on fastoptim's step.
_TORCH_ONLY = ("foreach", "fused", "capturable", "differentiable")
# fastoptim's optimizer-wide options (not param-group keys).
_OPTIONS = ("max_grad_norm", "nonfinite", "state_dtype", "state_rounding", "seed",
            "master_weights")
_BF16 = ml_dtypes.bfloat16
_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _array(t: torch.Tensor) -> np.ndarray:
    """The NumPy array sharing a CPU tensor's memory (bfloat16 as ml_dtypes')."""
    if t.dtype is torch.bfloat16:
        return t.view(torch.int16).numpy().view(_BF16)
    return t.numpy()


def _grad_array(g: torch.Tensor, what: Callable[[], str]) -> np.ndarray:
    """_array of a gradient; if it cannot be one (not CPU, sparse, requiring grad, ...), the
    checked version's error naming it (`what()`: built on the error path only)."""
    try:
        return _array(g)
    except (RuntimeError, TypeError):
        return _checked_array(g, what())


def _closure_loss(closure: Callable[[], Any] | None) -> Any:
    """The loss of `closure` run with grad enabled, as torch.optim's step(closure); None
    without one."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _checked_array(t: Any, what: str) -> np.ndarray:
    """_array of a parameter or gradient, with an error naming it when it can't be stepped."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what} is a {type(t).__name__}, not a torch.Tensor")
    if t.device.type != "cpu":
        raise TypeError(f"{what} is on {t.device}: fastoptim.torch steps CPU tensors (move the "
                        "model with .cpu(), or use torch.optim on this device)")
    if t.layout is not torch.strided:
        raise TypeError(f"{what} is a {t.layout} tensor: fastoptim.torch steps dense tensors "
                        "(torch.optim.SparseAdam steps sparse ones)")
    if t.dtype not in _DTYPES:
        raise TypeError(f"{what} has dtype {t.dtype}: fastoptim.torch steps float32, bfloat16 "
                        "or float16 tensors")
    if not t.is_contiguous():
        raise ValueError(f"{what} is not contiguous (strides {t.stride()} for shape "
                         f"{tuple(t.shape)}): make it contiguous before building the optimizer "
                         "(p.data = p.data.contiguous())")
    return _array(t.detach())


def _to_torch(value: Any) -> Any:
    """A state value as torch holds it: arrays as tensors (sharing memory where they can;
    int8 state dequantized), NumPy scalars as 0-d tensors, lists element by element."""
    if isinstance(value, Int8State):
        return torch.from_numpy(value.numpy())
    if isinstance(value, np.ndarray):
        if value.dtype == _BF16:
            return torch.from_numpy(value.view(np.uint16)).view(torch.bfloat16)
        return torch.from_numpy(value)
    if isinstance(value, np.generic):
        return torch.from_numpy(np.asarray(value))
    if isinstance(value, list):
        return [_to_torch(v) for v in value]
    return value


def _to_numpy(value: Any) -> Any:
    """The inverse of _to_torch for loading: tensors as (copied) NumPy arrays."""
    if isinstance(value, torch.Tensor):
        return _array(value.detach().cpu()).copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    return value


class _State(Mapping):
    """An optimizer's per-parameter state in torch's format, keyed by parameter tensor.

    Values are dicts of tensors that share memory with the native state buffers (int8 state:
    dequantized copies), "step" as torch stores it (a float32 0-d tensor). A parameter not
    stepped yet maps to an empty dict, as torch's defaultdict, but is not "in" the state.
    """

    def __init__(self, opt: Optimizer) -> None:
        self._opt = opt

    def __getitem__(self, p: torch.Tensor) -> dict[str, Any]:
        i = self._opt._index.get(id(p))
        if i is None or self._opt._tparams[i] is not p:
            raise KeyError("tensor is not a parameter of this optimizer")
        return self._opt._torch_entry(i) or {}

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (self._opt._tparams[i] for i in range(len(self._opt._tparams))
                if self._opt._inner._entry(i) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, p: object) -> bool:
        i = self._opt._index.get(id(p))
        return (i is not None and self._opt._tparams[i] is p
                and self._opt._inner._entry(i) is not None)


class Optimizer(torch.optim.Optimizer):
    """Base class of fastoptim.torch's optimizers: a torch.optim.Optimizer whose state and
    step are those of a fastoptim optimizer (``_rule``) over the tensors' memory."""

    #: The fastoptim (NumPy) optimizer class whose kernel steps the tensors.
    _rule: Any = None

    def __init__(self, params: Any, defaults: dict[str, Any], options: dict[str, Any],
                 contiguous: bool = False, in_backward: bool = False) -> None:
        for key in ("capturable", "differentiable"):
            if defaults.get(key):
                raise ValueError(f"{key}=True is not supported: fastoptim.torch steps CPU "
                                 "tensors outside autograd (use torch.optim for it)")
        if contiguous and in_backward:
            raise ValueError("contiguous=True and in_backward=True do not combine: in-backward "
                             "steps frees each gradient, contiguous keeps them in one buffer")
        if in_backward and options.get("max_grad_norm") is not None:
            raise ValueError(_IN_BACKWARD_NORM)
        if in_backward and options.get("nonfinite", "propagate") != "propagate":
            raise ValueError(_IN_BACKWARD_NONFINITE)
        self._contiguous, self._in_backward = bool(contiguous), bool(in_backward)
        self._inner: Any = None
        self._tparams: list[torch.Tensor] = []  # every parameter, in group order
        self._index: dict[int, int] = {}  # id(parameter) -> its index in _tparams
        self._group_arrays: list[list[np.ndarray]] = []  # each group's parameters as arrays
        self._inner_keys = [k for k in defaults if k not in _TORCH_ONLY]  # the rule's options
        super().__init__(params, defaults)  # add_param_group() for each group
        if contiguous:
            self._make_contiguous()
        groups = [self._inner_group(j) for j in range(len(self.param_groups))]
        rule_args = _parameters(self._rule)
        self._inner = self._rule(groups, **{k: v for k, v in defaults.items() if k in rule_args},
                                 **options)
        self._accumulate = False
        self._one_grad: list[Any] = [None] * len(self._tparams)  # the hooks' step argument
        self._hooks = [p.register_post_accumulate_grad_hook(self._hook(i))
                       for i, p in enumerate(self._tparams)] if in_backward else []

    # ---- parameters ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters, as torch.optim's (not in contiguous or in-backward
        mode: build those with every group)."""
        if self._inner is not None and (self._contiguous or self._in_backward):
            raise ValueError("add_param_group() is not supported with contiguous=True or "
                             "in_backward=True: build the optimizer with every group")
        j = len(self.param_groups)
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._group_arrays.append([_checked_array(p, self._label(j, k, p))
                                       for k, p in enumerate(group["params"])])
            if self._inner is not None:
                self._inner.add_param_group(self._inner_group(j))
        except Exception:
            del self.param_groups[j:], self._group_arrays[j:]
            raise
        for p in group["params"]:
            self._index[id(p)] = len(self._tparams)
            self._tparams.append(p)

    def _inner_group(self, j: int) -> dict[str, Any]:
        """The fastoptim param group of torch's group j: its arrays and the rule's options."""
        group = self.param_groups[j]
        return {"params": self._group_arrays[j],
                **{k: group[k] for k in self._inner_keys if k in group}}

    def _label(self, g: int, j: int, p: torch.Tensor | None = None) -> str:
        """How errors name parameter j of group g: with its name when the group has names."""
        names = self.param_groups[g].get("param_names") if g < len(self.param_groups) else None
        name = f" {names[j]!r}" if names and j < len(names) else ""
        shape = f" (shape {tuple(p.shape)})" if isinstance(p, torch.Tensor) else ""
        return f"param group {g}, parameter {j}{name}{shape}"

    def _label_of(self, i: int) -> str:
        """_label of parameter i in group order."""
        for g, group in enumerate(self.param_groups):
            if i < len(group["params"]):
                return self._label(g, i, group["params"][i])
            i -= len(group["params"])
        return f"parameter {i}"

    def _grad_of(self, g: torch.Tensor, i: int) -> np.ndarray:
        """The array of parameter i's gradient g (an error naming the parameter if unfit)."""
        return _grad_array(g, lambda: f"the gradient of {self._label_of(i)}")

    # ---- contiguous mode ----------------------------------------------------------------
    def _make_contiguous(self) -> None:
        """Moves every parameter into one FlatParams store (its data now lives there) and
        points every p.grad at the store's gradient views."""
        arrays = [a for group in self._group_arrays for a in group]
        for i, a in enumerate(arrays):
            if a.dtype != np.float32:
                raise TypeError(f"contiguous=True needs float32 parameters; {self._label_of(i)} "
                                f"has dtype {a.dtype}")
        store = self._store = _flat.FlatParams(arrays)
        self._tgrad = torch.from_numpy(store.grad)  # zeroed by torch's parallel zero_()
        self._tgrads = [torch.from_numpy(g) for g in store.grads]
        # Versions of the gradient views at the last zero_grad(set_to_none=True): a view whose
        # version is unchanged holds no gradient (None: every view holds one).
        self._unset: list[int] | None = [g._version for g in self._tgrads]
        with torch.no_grad():
            for p, view, tgrad in zip(self._tparams, store.params, self._tgrads):
                old = p.grad
                p.data = torch.from_numpy(view)
                p.grad = tgrad
                if old is not None:
                    tgrad.copy_(old)  # counts as a gradient: its version moved
        start = 0
        for j, group in enumerate(self._group_arrays):
            self._group_arrays[j] = list(store.params[start:start + len(group)])
            start += len(group)

    # ---- stepping -----------------------------------------------------------------------
    def _grads(self) -> list[np.ndarray | None] | None:
        """What the native step takes: one array (or None) per parameter, in group order, or
        None when every gradient is its view in the contiguous store."""
        if self._contiguous:
            return self._store_grads()
        return [None if p.grad is None else self._grad_of(p.grad, i)
                for i, p in enumerate(self._tparams)]

    def _store_grads(self) -> list[np.ndarray | None] | None:
        unset, whole = self._unset, True
        out: list[np.ndarray | None] = list(self._store.grads)
        for i, (p, view) in enumerate(zip(self._tparams, self._tgrads)):
            g = p.grad
            if g is view:
                if unset is not None and view._version == unset[i]:
                    out[i], whole = None, False  # zeroed with set_to_none, not written since
            else:  # None, or replaced: stepped as it is
                out[i], whole = (None if g is None else self._grad_of(g, i)), False
        return None if whole else out

    def _run(self, step: Callable[[Any], None], grads: Any) -> None:
        """Runs a native step with the torch groups' options (schedulers write there), naming
        the parameter in its errors (nothing changed then)."""
        copy_options(self.param_groups, self._inner.param_groups, self._inner_keys)
        try:
            step(grads)
        except (TypeError, ValueError, FloatingPointError) as e:
            message = _rename(str(e), self._label_of)
            if message == str(e):
                raise
            raise type(e)(message) from None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Updates every parameter that has a gradient, in one native call; returns the
        closure's loss (the closure runs first, with grad enabled, as in torch.optim)."""
        loss = _closure_loss(closure)
        grads = self._grads()
        if self._in_backward and grads is not None and all(g is None for g in grads):
            return loss  # the hooks stepped everything
        self._run(self._inner.step, grads)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch.optim's zero_grad(); in contiguous mode, zeroes the gradient buffer instead
        (with ``set_to_none=True`` a parameter then counts as having no gradient until
        backward or the user writes one) and puts back any gradient view replaced."""
        if not self._contiguous:
            return super().zero_grad(set_to_none)
        self._tgrad.zero_()
        for p, view in zip(self._tparams, self._tgrads):
            if p.grad is not view:
                p.grad = view
        self._unset = [g._version for g in self._tgrads] if set_to_none else None

    # ---- in-backward mode ---------------------------------------------------------------
    def _hook(self, i: int) -> Callable[[torch.Tensor], None]:
        """Parameter i's post-accumulate-grad hook: steps it and frees its gradient. It holds
        the optimizer weakly: once the optimizer is gone, backward leaves gradients alone."""
        ref = weakref.ref(self)

        def hook(p: torch.Tensor) -> None:
            self = ref()
            if self is None or self._accumulate or p.grad is None:
                return
            grads = self._one_grad  # None but for this parameter's gradient
            grads[i] = self._grad_of(p.grad, i)
            try:
                self._run(self._inner.step, grads)
            finally:
                grads[i] = None
            p.grad = None
        return hook

    @contextlib.contextmanager
    def accumulating(self) -> Iterator[None]:
        """With ``in_backward=True``: backward passes inside keep their gradients (summed into
        ``p.grad``) instead of stepping; the next backward outside the block, or ``step()``,
        steps the sums. Without in_backward gradients always accumulate, and this does
        nothing."""
        before, self._accumulate = self._accumulate, True
        try:
            yield
        finally:
            self._accumulate = before

    # ---- options ------------------------------------------------------------------------
    @property
    def contiguous(self) -> bool:
        """Whether the parameters live in one buffer (``contiguous=True``)."""
        return self._contiguous

    @property
    def in_backward(self) -> bool:
        """Whether each parameter is stepped inside backward (``in_backward=True``)."""
        return self._in_backward

    @property
    def max_grad_norm(self) -> float | None:
        """See :attr:`fastoptim.Optimizer.max_grad_norm`."""
        return self._inner.max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value: float | None) -> None:
        if self._in_backward and value is not None:
            raise ValueError(_IN_BACKWARD_NORM)
        self._inner.max_grad_norm = value

    @property
    def last_grad_norm(self) -> float:
        """See :attr:`fastoptim.Optimizer.last_grad_norm`."""
        return self._inner.last_grad_norm

    @property
    def nonfinite(self) -> str:
        """See :attr:`fastoptim.Optimizer.nonfinite`."""
        return self._inner.nonfinite

    @nonfinite.setter
    def nonfinite(self, mode: str) -> None:
        if self._in_backward and mode != "propagate":
            raise ValueError(_IN_BACKWARD_NONFINITE)
        self._inner.nonfinite = mode

    @property
    def skipped_steps(self) -> int:
        """See :attr:`fastoptim.Optimizer.skipped_steps`."""
        return self._inner.skipped_steps

    @property
    def state_dtype(self) -> str:
        """See :attr:`fastoptim.Optimizer.state_dtype`."""
        return self._inner.state_dtype

    @property
    def master_weights(self) -> Any:
        """See :attr:`fastoptim.Optimizer.master_weights`."""
        return self._inner.master_weights

    # ---- state --------------------------------------------------------------------------
    @property
    def state(self) -> _State:  # type: ignore[override]
        """Per-parameter state in torch's format (see the module's docstring)."""
        return _State(self)

    @state.setter
    def state(self, value: Any) -> None:
        if value:  # torch.optim.Optimizer.__init__ sets an empty defaultdict
            raise AttributeError("the state of a fastoptim.torch optimizer is its native "
                                 "buffers: restore it with load_state_dict()")

    def _torch_entry(self, i: int) -> dict[str, Any] | None:
        entry = self._inner._entry(i) if self._inner is not None else None
        if entry is None:
            return None
        out = {}
        for k, v in entry.items():
            if k == "step":
                if self._inner._step_in_state:
                    out[k] = torch.tensor(float(v), dtype=torch.float32)
            elif isinstance(v, float):  # NAdam's mu_product (torch's is a 0-d tensor)
                out[k] = torch.tensor(v, dtype=torch.float64)
            else:
                out[k] = _to_torch(v)
        return out

    def _numpy_state_dict(self, state_dict: Any) -> dict[str, Any]:
        """A torch-format state dict (ours or torch.optim's) as the fastoptim optimizer takes
        it; load_state_dict's pre-hooks have run on it."""
        if not isinstance(state_dict, Mapping) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with 'state' and 'param_groups'")
        state = state_dict["state"]
        if not isinstance(state, Mapping):
            raise ValueError("state_dict['state'] must be a dict")
        return {"state": {k: ({n: _to_numpy(v) for n, v in e.items()}
                              if isinstance(e, Mapping) else e) for k, e in state.items()},
                "param_groups": state_dict["param_groups"]}

    def _commit_groups(self, saved_groups: Any) -> None:
        """After a load: each torch param group takes the saved options, as torch's does."""
        for g, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)

    def load_state_dict(self, state_dict: Any) -> None:
        """Loads a state dict of this class or of its torch.optim twin; everything is checked
        before anything changes (on error the optimizer is untouched)."""
        state_dict = dict(state_dict) if isinstance(state_dict, Mapping) else state_dict
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._inner.load_state_dict(self._numpy_state_dict(state_dict))
        self._commit_groups(state_dict["param_groups"])
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"a fastoptim.torch.{type(self).__name__} holds native buffers and "
                        "cannot be pickled or deep-copied: save its state_dict() instead")


_IN_BACKWARD_NORM = ("max_grad_norm needs the norm of every gradient before any step, and "
                     "in_backward=True steps each as backward finishes it: clip without "
                     "in_backward")
_IN_BACKWARD_NONFINITE = ("nonfinite='skip' or 'raise' decides for the whole step, and "
                          "in_backward=True steps each parameter as backward finishes its "
                          "gradient: use it without in_backward")


def _rename(message: str, label: Callable[[int], str]) -> str:
    """A native error about grads[i] or params[i], naming the torch parameter instead."""
    return re.sub(r"\b(grads|params)\[(\d+)\]",
                  lambda m: (("the gradient of " if m.group(1) == "grads" else "")
                             + label(int(m.group(2)))), message)


# ---- the rules ---------------------------------------------------------------------------
_EXTRA = [inspect.Parameter("contiguous", inspect.Parameter.KEYWORD_ONLY, default=False,
                            annotation=bool),
          inspect.Parameter("in_backward", inspect.Parameter.KEYWORD_ONLY, default=False,
                            annotation=bool)]
# What `params` takes: torch's annotation (tensors, param-group dicts or named tensors).
_PARAMS = inspect.signature(torch.optim.Adam).parameters["params"]


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The parameters of cls.__init__ after self, with the defaults the function really has
    (a documentation build may have replaced its __signature__'s defaults with their source
    text: Sphinx's autodoc_preserve_defaults)."""
    init = cls.__init__
    names = init.__code__.co_varnames[:init.__code__.co_argcount]
    real = dict(zip(names[len(names) - len(init.__defaults__ or ()):], init.__defaults__ or ()))
    real.update(init.__kwdefaults__ or {})
    return {k: p.replace(default=real.get(k, p.empty))
            for k, p in list(inspect.signature(init).parameters.items())[1:]}


def _rule_class(rule: Any, twin: Any = None, **fixed: Any) -> type:
    """The fastoptim.torch class of a fastoptim rule: the signature of its torch.optim `twin`
    (else of the rule) plus fastoptim's options; `fixed` defaults it sets (AdamW's
    decoupled_weight_decay)."""
    ours = _parameters(rule)
    base = _parameters(twin if twin is not None else rule)
    params = [_PARAMS] + [p for k, p in base.items() if k not in _OPTIONS and k != "params"]
    params += [ours[k].replace(kind=inspect.Parameter.KEYWORD_ONLY) for k in _OPTIONS]
    signature = inspect.Signature(params + _EXTRA, return_annotation=None)

    def __init__(self: Optimizer, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        params = values.pop("params")
        options = {k: values.pop(k) for k in _OPTIONS}
        contiguous, in_backward = values.pop("contiguous"), values.pop("in_backward")
        Optimizer.__init__(self, params, {**values, **fixed}, options, contiguous, in_backward)

    name = rule.__name__
    twin_doc = f"``torch.optim.{name}``" if twin is not None else "fastoptim's"
    doc = (f"{name} on CPU tensors: the arguments and defaults of {twin_doc}, stepped by "
           f":class:`fastoptim.{name}`'s kernel (its math and state names).\n\n"
           "Keyword-only extras: fastoptim's ``max_grad_norm``, ``nonfinite``, ``state_dtype``, "
           "``state_rounding``, ``seed``, ``master_weights``, and ``contiguous``, "
           "``in_backward`` (see :mod:`fastoptim.torch`).")
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + params + _EXTRA)
    cls = type(name, (Optimizer,), {"_rule": rule, "__init__": __init__, "__doc__": doc,
                                     "__module__": __name__, "__signature__": signature})
    return cls


SGD = _rule_class(_SGD, torch.optim.SGD)
Adam = _rule_class(_Adam, torch.optim.Adam)
AdamW = _rule_class(_AdamW, torch.optim.AdamW, decoupled_weight_decay=True)
Adagrad = _rule_class(_Adagrad, torch.optim.Adagrad)
RMSprop = _rule_class(_RMSprop, torch.optim.RMSprop)
Adadelta = _rule_class(_Adadelta, torch.optim.Adadelta)
Adamax = _rule_class(_Adamax, torch.optim.Adamax)
NAdam = _rule_class(_NAdam, torch.optim.NAdam)
RAdam = _rule_class(_RAdam, torch.optim.RAdam)
Lion = _rule_class(_Lion)
ProximalSGD = _rule_class(_ProximalSGD)
ProximalAdagrad = _rule_class(_ProximalAdagrad)


class Lookahead(torch.optim.Optimizer):
    """Lookahead around a fastoptim.torch optimizer, as :class:`fastoptim.Lookahead`: every
    ``k`` steps the slow weights move ``alpha`` of the way to the parameters, which restart
    from them. ``param_groups`` are the inner optimizer's, so schedulers drive it; the state
    dict is the inner one's plus ``"lookahead"`` (``k``, ``alpha``, ``counter``, ``slow``)."""

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError("Lookahead wraps a fastoptim.torch optimizer, got "
                            f"{type(optimizer).__name__}")
        if optimizer.in_backward:
            raise ValueError("Lookahead needs the whole step: its optimizer cannot step in "
                             "backward (in_backward=True)")
        lookahead = _lookahead.Lookahead(optimizer._inner, k, alpha)  # validates k, alpha
        super().__init__([torch.empty(0)], {})  # torch's hooks; the placeholder is not kept
        self.optimizer, self._lookahead = optimizer, lookahead
        self.param_groups = optimizer.param_groups
        self.defaults = optimizer.defaults

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds the group to the inner optimizer (the slow weights of its parameters start
        equal to them)."""
        if "optimizer" in self.__dict__:  # not torch.optim.Optimizer.__init__'s placeholder
            self.optimizer.add_param_group(param_group)

    @property
    def k(self) -> int:
        return self._lookahead.k

    @k.setter
    def k(self, value: int) -> None:
        self._lookahead.k = value

    @property
    def alpha(self) -> float:
        return self._lookahead.alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._lookahead.alpha = value

    def __getattr__(self, name: str) -> Any:  # the inner optimizer's options and state
        if name in ("optimizer", "_lookahead") or "optimizer" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    @property
    def state(self) -> _State:  # type: ignore[override]
        return self.optimizer.state

    @state.setter
    def state(self, value: Any) -> None:
        pass  # torch.optim.Optimizer.__init__'s empty defaultdict

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of the inner optimizer; every k-th, the slow/fast synchronisation."""
        loss = _closure_loss(closure)
        self.optimizer._run(self._lookahead.step, self.optimizer._grads())
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state dict plus ``"lookahead"``: k, alpha, the step counter
        and the slow weights (tensors sharing memory with them)."""
        out = self.optimizer.state_dict()
        la = self._lookahead
        out["lookahead"] = {"k": la.k, "alpha": la.alpha, "counter": la._counter,
                            "slow": [torch.from_numpy(s) for s in la._slow]}
        return out

    def load_state_dict(self, state_dict: Any) -> None:
        """Restores the inner state, the slow weights, k, alpha and the counter (all checked
        before anything changes)."""
        if not isinstance(state_dict, Mapping) or "lookahead" not in state_dict:
            raise ValueError("Lookahead state_dict must have 'state', 'param_groups' and "
                             "'lookahead'")
        la = dict(state_dict["lookahead"])
        la["slow"] = _to_numpy(la.get("slow"))
        self._lookahead.load_state_dict({
            "optimizer": self.optimizer._numpy_state_dict(state_dict), "lookahead": la})
        self.optimizer._commit_groups(state_dict["param_groups"])

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, optimizer={self.optimizer!r})"


class LBFGS(torch.optim.Optimizer):
    """``torch.optim.LBFGS`` with the vector work done natively (:class:`fastoptim.LBFGS`):
    ``step(closure)``, where the closure computes the loss, calls ``backward()`` and returns
    the loss, as torch's; float32 parameters, one param group. The history is in the state,
    keyed by the first parameter, as torch's."""

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        self._inner: Any = None
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        self._tparams = list(self.param_groups[0]["params"])
        arrays = [_checked_array(p, f"parameter {i}") for i, p in enumerate(self._tparams)]
        self._inner = _lbfgs.LBFGS(arrays, lr, max_iter, max_eval, tolerance_grad,
                                   tolerance_change, history_size, line_search_fn)
        self.param_groups[0]["max_eval"] = self._inner.param_groups[0]["max_eval"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    @property
    def state(self) -> dict[Any, Any]:  # type: ignore[override]
        """The history and counters in torch's format, keyed by the first parameter."""
        inner = self._inner.state if self._inner is not None else {}
        return {self._tparams[0]: {k: _to_torch(v) for k, v in inner.items()}} if inner else {}

    @state.setter
    def state(self, value: Any) -> None:
        if value:
            raise AttributeError("restore LBFGS's state with load_state_dict()")

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Runs up to max_iter iterations; returns the closure's first loss."""
        first: list[Any] = []

        def evaluate() -> tuple[float, list[Any]]:
            loss = _closure_loss(closure)
            first.append(loss)
            value = float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
            return value, [None if p.grad is None else _grad_array(
                p.grad, lambda i=i: f"the gradient of parameter {i}")
                for i, p in enumerate(self._tparams)]

        copy_options(self.param_groups, self._inner.param_groups, self.defaults)
        self._inner.step(evaluate)
        return first[0]

    def load_state_dict(self, state_dict: Any) -> None:
        """Loads a state dict of this class or of torch.optim.LBFGS (checked first)."""
        state = state_dict["state"] if isinstance(state_dict, Mapping) else None
        entries = {k: {n: _to_numpy(v) for n, v in e.items()} for k, e in state.items()} \
            if isinstance(state, Mapping) else state
        self._inner.load_state_dict({**state_dict, "state": entries})
        for k, v in self._inner.param_groups[0].items():
            if k != "params":
                self.param_groups[0][k] = v

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a fastoptim.torch.LBFGS holds native buffers and cannot be pickled or "
                        "deep-copied: save its state_dict() instead")
