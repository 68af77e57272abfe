"""Data-parallel training over MPI: averaged gradients, and optimizer state sharded by rank.

``DistributedOptimizer(optimizer)`` wraps a fastoptim optimizer on every rank of an MPI
communicator. ``step(grads)`` averages each gradient over the ranks and steps, so that every
rank holds the same parameters, equal to one process stepping the mean of the ranks' gradients:

- plain data-parallel (default): an in-place ``Allreduce`` over the gradients in one flat
  buffer (the FlatParams store's, or, for a list of arrays, buckets of ``bucket_bytes``), then
  the wrapped optimizer's step;
- ``shard_state=True`` (ZeRO-1): a ``Reduce_scatter`` of the flat gradients, each rank steps
  only its contiguous slice of the flat parameters (element-level slices, balanced to within
  one cache line, with optimizer state for the slice only), then an ``Allgather`` of the
  parameters.

Launch with ``mpiexec -n 4 python -m mpi4py train.py`` (``-m mpi4py`` aborts every rank when
one raises, instead of leaving the others waiting). Needs mpi4py (``pip install ".[mpi]"``
brings it and MPICH); ``import fastoptim`` works without it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

try:
    from mpi4py import MPI
except ImportError as e:  # pragma: no cover - exercised where mpi4py is missing
    raise ImportError("fastoptim.distributed needs mpi4py: pip install \"fastoptim[mpi]\" "
                      f"(mpi4py and MPICH), or mpi4py built against your MPI ({e})") from e

from . import _core, checkpoint
from .flat import FlatParams, aligned_zeros, owning_store
from .optimizer import Optimizer, _check_arrays, copy_options
from .quantized import Int8State

__all__ = ["DistributedOptimizer", "broadcast_parameters", "shard_bounds"]

#: Shards start on multiples of this many elements (one 64-byte cache line of float32).
LINE = 16


def shard_bounds(total: int, ranks: int) -> list[int]:
    """The flat element range of each rank's shard: rank k steps ``[b[k], b[k + 1])``.

    Cache lines (16 elements) are dealt out as evenly as they go, so shards differ by at most
    one line and every shard but the last starts and ends on a line boundary.
    """
    lines = -(-total // LINE)
    return [min(total, (k * lines // ranks) * LINE) for k in range(ranks + 1)]


def broadcast_parameters(params: Any, root: int = 0, comm: Any = None) -> None:
    """Copies the parameters of rank ``root`` to every rank, in place (call it on every rank
    before training, so that all start from the same weights). ``params``: a list of float32
    arrays, a FlatParams store, or an optimizer (its parameters)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    if isinstance(params, FlatParams):
        arrays = [params.data]
    elif isinstance(params, (Optimizer, DistributedOptimizer)):
        arrays = list(params._params)
    else:
        arrays = list(params)
    _check_arrays(arrays)
    for a in arrays:
        comm.Bcast(a, root=root)


class DistributedOptimizer:
    """A fastoptim optimizer stepping the mean of the gradients of every rank (see the module).

    ``optimizer``: an element-wise fastoptim optimizer with float32 parameters, the same on
    every rank (build it from a FlatParams store to avoid the gradient copy of the list API).
    Building a DistributedOptimizer is a collective: every rank of ``comm`` builds one, and they
    check that they wrap the same class and shapes.
    ``comm``: the communicator (``MPI.COMM_WORLD`` by default; it is duplicated, so its
    messages never mix with the caller's). ``shard_state``: ZeRO-1, each rank keeping the
    state of its slice only. ``bucket_bytes``: the size of the Allreduce messages of the list
    API. ``timeout``: how long a collective of the checkpoint functions waits for every rank
    before it raises, rather than hang, when one rank alone calls it.

    A step averages the gradients in their buffer (the store's ``grad``): with ``shard_state``,
    the buffer then holds the collective's scratch, so write (or zero) every gradient before the
    next step, as a backward pass does.

    The wrapped optimizer keeps its ``param_groups`` (schedulers drive it as usual),
    ``max_grad_norm`` (the norm is over every rank's averaged gradients) and ``nonfinite``
    ("skip" skips on every rank when any sees NaN or Inf). With ``shard_state`` its own state
    arrays are never written (their zero pages take no memory); the shard's are. ``fo.save``
    and ``fo.load`` of a DistributedOptimizer are collectives that write and read one
    consolidated checkpoint, the same as one process would write: it loads with any number of
    ranks, or none.
    """

    def __init__(self, optimizer: Optimizer, comm: Any = None, shard_state: bool = False,
                 bucket_bytes: int = 1 << 22, timeout: float = 60.0) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError("DistributedOptimizer wraps a fastoptim optimizer with element-wise "
                            f"updates (SGD, Adam, ...), got {type(optimizer).__name__}")
        params = optimizer._params
        if any(p.dtype != np.float32 for p in params):
            raise TypeError("DistributedOptimizer needs float32 parameters")
        if not isinstance(bucket_bytes, int) or bucket_bytes < 4 * LINE:
            raise ValueError(f"bucket_bytes must be an int >= {4 * LINE}, got {bucket_bytes!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.optimizer = optimizer
        self.comm = (MPI.COMM_WORLD if comm is None else comm).Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.shard_state = bool(shard_state)
        self.timeout = float(timeout)
        self._params = params
        self._sizes = [p.size for p in params]
        self._offsets = np.concatenate([[0], np.cumsum(self._sizes, dtype=np.int64)])
        total = int(self._offsets[-1])
        shapes = [p.shape for p in params]
        every = self.comm.allgather((shapes, type(optimizer).__name__))
        if any(e != every[0] for e in every):
            raise ValueError("DistributedOptimizer: the ranks' optimizers differ (class or "
                             "parameter shapes); every rank must wrap the same model")
        # The flat parameters and gradients: the store's, or buffers of our own (list API).
        store = owning_store(params[0]) if params else None
        self._store = store if store is not None and len(store.params) == len(params) and all(
            a is b for a, b in zip(store.params, params)) else None
        if self._store is not None:
            self._flat_p, self._flat_g = self._store.data, self._store.grad
        else:
            self._flat_p = aligned_zeros(total) if self.shard_state else None
            self._flat_g = aligned_zeros(total)
        self._buckets = self._make_buckets(total, bucket_bytes // 4)
        self._bounds = shard_bounds(total, self.size)
        self.comm_seconds = 0.0  # time spent in gradient and parameter collectives
        self.bytes_sent = 0  # bytes this rank sent in them (see sent_per_step)
        self._shard: Any = None
        if self.shard_state:
            self._make_shard()

    # ---- the flat layout ----------------------------------------------------------------
    def _make_buckets(self, total: int, per: int) -> list[tuple[int, int]]:
        """Ranges of the flat gradients, each one Allreduce: whole store, or ~per elements."""
        if self._store is not None or total == 0:
            return [(0, total)]
        return [(a, min(total, a + per)) for a in range(0, total, per)]

    def _pieces(self) -> list[tuple[int, int, int, int]]:
        """(parameter, group, begin, end) of this rank's shard, in flat order."""
        start, end = self._bounds[self.rank], self._bounds[self.rank + 1]
        out = []
        group_of = self.optimizer._group_of
        for i, (o, n) in enumerate(zip(self._offsets[:-1], self._sizes)):
            a, b = max(int(o), start), min(int(o) + n, end)
            if a < b:
                out.append((i, group_of[i], a, b))
        return out

    def _make_shard(self) -> None:
        """The optimizer of this rank's slice: the wrapped one's class and options over 1-D
        views of the flat parameters."""
        opt = self.optimizer
        start, end = self._bounds[self.rank], self._bounds[self.rank + 1]
        # Reduce_scatter in place leaves this rank's summed slice at the start of the flat
        # gradients: the slice's gradients are views of that prefix (no buffer of their own).
        self._shard_g = self._flat_g[:end - start]
        self._pieces_ = self._pieces()
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": []}
                  for g in opt.param_groups]
        self._piece_grads = []
        for i, j, a, b in self._pieces_:
            groups[j]["params"].append(self._flat_p[a:b])
            self._piece_grads.append(self._shard_g[a - start:b - start])
        self._shard = type(opt)(groups, state_dtype=opt.state_dtype,
                                state_rounding=opt._state_rounding, seed=opt._seed)
        if self._store is None:
            for p, o in zip(self._params, self._offsets):
                self._flat_p[o:o + p.size] = p.reshape(-1)
        if any(opt._steps):  # an optimizer that has stepped: its state, sliced
            self._shard.load_state_dict(self._slice(opt.state_dict()))

    def _gather_params(self) -> None:
        """List API: this rank's slice of the user's arrays into the flat parameter buffer
        (they may have been written since the last step)."""
        for i, _, a, b in self._pieces_:
            o = int(self._offsets[i])
            self._flat_p[a:b] = self._params[i].reshape(-1)[a - o:b - o]

    # ---- stepping -----------------------------------------------------------------------
    @property
    def param_groups(self) -> list:
        """The wrapped optimizer's param groups (schedulers may drive either)."""
        return self.optimizer.param_groups

    @property
    def defaults(self) -> dict:
        return self.optimizer.defaults

    def step(self, grads: Sequence[np.ndarray | None] | None = None) -> None:
        """Averages the gradients over the ranks, then steps (a collective: every rank calls
        it, with gradients of the same shapes). ``grads`` as the wrapped optimizer takes them
        (omitted for a FlatParams store); ``None`` for a parameter means no gradient on this
        rank: it counts as zero in the mean, and the parameter is skipped if no rank has one.
        A bad gradient on any rank raises on every rank, before anything changes."""
        present = self._take_grads(grads)
        if self.shard_state:
            self._step_shard(present)
        else:
            self._step_plain(present)

    def _take_grads(self, grads) -> np.ndarray:
        """Checks the gradients on every rank and copies them into the flat buffer (list API);
        returns which parameters have a gradient on some rank."""
        n = len(self._params)
        present = np.ones(n + 1, np.int32)
        present[n] = 0  # this rank's error flag
        message = ""
        try:
            if self._store is not None:
                if grads is not None:
                    raise TypeError("the parameters live in a FlatParams store: write the "
                                    "gradients into store.grads and call step() without them")
            else:
                grads = [grads] if isinstance(grads, np.ndarray) else grads
                if not isinstance(grads, (list, tuple)) or len(grads) != n:
                    raise TypeError(f"step(grads) takes one gradient per parameter ({n})")
                for i, (g, p, o) in enumerate(zip(grads, self._params, self._offsets)):
                    if g is None:
                        present[i] = 0
                        continue
                    if not isinstance(g, np.ndarray) or g.shape != p.shape \
                            or g.dtype.kind != "f":
                        raise TypeError(f"grads[{i}] must be a float array of shape {p.shape}, "
                                        f"got {getattr(g, 'dtype', type(g).__name__)} "
                                        f"{getattr(g, 'shape', '')}")
                for i, (g, p, o) in enumerate(zip(grads, self._params, self._offsets)):
                    dst = self._flat_g[o:o + p.size]
                    if g is None:
                        dst.fill(0.0)
                    else:
                        dst[...] = g.reshape(-1)
        except (TypeError, ValueError) as e:
            present[n], message = 1, f"{type(e).__name__}: {e}"
        self.comm.Allreduce(MPI.IN_PLACE, present, op=MPI.MAX)
        if present[n]:  # someone failed: everyone raises, nothing has changed
            messages = self.comm.allgather(message)
            failed = [f"rank {r}: {m}" for r, m in enumerate(messages) if m]
            raise ValueError("DistributedOptimizer.step(): a rank's gradients were refused, "
                             "nothing changed on any rank: " + "; ".join(failed))
        return present[:n].astype(bool)

    def _allreduce(self, buf: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_sent += 2 * buf.nbytes * (self.size - 1) // self.size

    def _step_plain(self, present: np.ndarray) -> None:
        for a, b in self._buckets:
            self._allreduce(self._flat_g[a:b])
        if self.size > 1:
            _core.scale(self._flat_g, 1.0 / self.size)
        if self._store is not None and present.all():
            self.optimizer.step()
            return
        views = [self._flat_g[o:o + p.size].reshape(p.shape) if has else None
                 for p, o, has in zip(self._params, self._offsets, present)]
        self.optimizer.step(views)

    def _step_shard(self, present: np.ndarray) -> None:
        opt, shard = self.optimizer, self._shard
        counts = np.diff(self._bounds)
        t0 = time.perf_counter()
        self.comm.Reduce_scatter(MPI.IN_PLACE, self._flat_g, counts, op=MPI.SUM)
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_sent += self._flat_g.nbytes * (self.size - 1) // self.size
        if self.size > 1:
            _core.scale(self._shard_g, 1.0 / self.size)
        # Global norm and non-finite decision over every rank's slice, in one message.
        norm2 = np.zeros(2)
        if opt.max_grad_norm is not None or opt.nonfinite != "propagate":
            local = _core.norm(self._shard_g, 2.0) if self._shard_g.size else 0.0
            norm2[:] = (local * local, 0.0 if np.isfinite(local) else 1.0)
            self.comm.Allreduce(MPI.IN_PLACE, norm2, op=MPI.SUM)
        total = float(np.sqrt(norm2[0]))
        if norm2[1] or not np.isfinite(total):
            if opt.nonfinite == "skip":
                opt._plan.skipped_steps = opt.skipped_steps + 1
                return
            if opt.nonfinite == "raise":
                raise FloatingPointError("DistributedOptimizer.step(): a gradient contains NaN "
                                         "or Inf (nonfinite=\"raise\"); nothing was changed")
        if opt.max_grad_norm is not None:
            coef = _core.clip_coefficient(opt.max_grad_norm, total)
            if coef != 1.0:
                _core.scale(self._shard_g, coef)
        self._sync_groups()  # the options schedulers wrote
        if self._store is None:
            self._gather_params()
        shard.step([g if present[i] else None
                    for g, (i, _, _, _) in zip(self._piece_grads, self._pieces_)])
        t0 = time.perf_counter()
        self.comm.Allgatherv(MPI.IN_PLACE, [self._flat_p, counts, self._bounds[:-1], MPI.FLOAT])
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_sent += int(counts[self.rank]) * 4 * (self.size - 1)
        if self._store is None:
            for p, o in zip(self._params, self._offsets):
                p.reshape(-1)[...] = self._flat_p[o:o + p.size]

    def _sync_groups(self) -> None:
        copy_options(self.optimizer.param_groups, self._shard.param_groups,
                     self.optimizer.defaults)

    def zero_grad(self) -> None:
        """Zeroes the gradients (the store's, or the wrapped optimizer's zero_grad())."""
        if self._store is not None:
            self._store.zero_grad()
        else:
            self.optimizer.zero_grad()

    @property
    def sent_per_step(self) -> int:
        """Bytes this rank sends in one step's collectives, by the ring algorithm's count."""
        b = self._flat_g.nbytes
        if self.shard_state:
            mine = (self._bounds[self.rank + 1] - self._bounds[self.rank]) * 4
            return b * (self.size - 1) // self.size + mine * (self.size - 1)
        return 2 * b * (self.size - 1) // self.size

    @property
    def state_bytes(self) -> int:
        """Bytes of optimizer state this rank keeps (the shard's with shard_state)."""
        opt = self._shard if self.shard_state else self.optimizer
        total = 0
        for entry in opt._states.values():
            for v in entry:
                total += v.nbytes
        return total

    # ---- state --------------------------------------------------------------------------
    def _slice(self, full: dict) -> dict:
        """The shard optimizer's state dict cut from a whole-model one (state dict format)."""
        state = {}
        for k, (i, j, a, b) in enumerate(self._pieces_):
            entry = full["state"].get(i, full["state"].get(str(i)))
            if entry is None:
                continue
            o = int(self._offsets[i])
            out = {}
            for name, v in entry.items():
                if isinstance(v, Int8State):
                    v = v.numpy()
                if isinstance(v, np.ndarray) and v.size == self._sizes[i] and v.ndim > 0:
                    out[name] = np.asarray(v).reshape(-1)[a - o:b - o]
                else:
                    out[name] = v
            state[k] = out
        groups, start = [], 0
        for g, mine in zip(full["param_groups"], self._shard.param_groups):
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = list(range(start, start + len(mine["params"])))
            start += len(mine["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def state_dict(self) -> dict:
        """The state of the whole model, as the wrapped optimizer alone would hold it (a
        collective with shard_state: the slices are gathered on every rank)."""
        if not self.shard_state:
            return self.optimizer.state_dict()
        return self._gathered_state(root=None)

    def _gathered_state(self, root: int | None) -> dict | None:
        """The whole model's state from the ranks' slices: on every rank (root None), or on
        rank `root` alone (None elsewhere: the others never hold more than their slice)."""
        shard, n = self._shard, len(self._params)
        everyone, here = root is None, root is None or root == self.rank
        mine = shard.state_dict()
        counts = np.diff(self._bounds)
        start = self._bounds[self.rank]
        # Per parameter: its step and scalar state, from the rank holding its first element.
        first = {i: k for k, (i, j, a, b) in enumerate(self._pieces_)
                 if a == int(self._offsets[i])}
        scalars = list(shard._native.scalars)
        per = np.zeros((1 + len(scalars), n))
        for i, k in first.items():
            e = mine["state"].get(k)
            if e is not None:
                per[0, i] = e["step"]
                for s, name in enumerate(scalars):
                    per[1 + s, i] = e[name]
        if everyone:
            self.comm.Allreduce(MPI.IN_PLACE, per, op=MPI.SUM)
        else:
            self.comm.Reduce(MPI.IN_PLACE if here else per, per if here else None,
                             op=MPI.SUM, root=root)
        full_state: dict = {}
        for name in shard._native.slots:
            if not any(name in shard._native.needed_slots(g) for g in shard.param_groups):
                continue
            local = aligned_zeros(int(counts[self.rank]))
            for k, (i, j, a, b) in enumerate(self._pieces_):
                e = mine["state"].get(k)
                if e is not None and name in e:
                    v = e[name]
                    local[a - start:b - start] = (v.numpy() if isinstance(v, Int8State)
                                                  else np.asarray(v, np.float32)).reshape(-1)
            flat = aligned_zeros(int(self._offsets[-1])) if here else None
            spec = [flat, counts, self._bounds[:-1], MPI.FLOAT] if here else None
            if everyone:
                self.comm.Allgatherv(local, spec)
            else:
                self.comm.Gatherv(local, spec, root=root)
            if not here:
                continue
            for i, p in enumerate(self._params):
                group = self.optimizer.param_groups[self.optimizer._group_of[i]]
                if per[0, i] > 0 and name in shard._native.needed_slots(group):
                    o = int(self._offsets[i])
                    entry = full_state.setdefault(i, {})
                    entry[name] = flat[o:o + p.size].reshape(p.shape).copy()
        if not here:
            return None
        for i in range(n):
            if per[0, i] > 0:
                e = full_state.setdefault(i, {})
                e["step"] = int(per[0, i])
                for s, name in enumerate(scalars):
                    e[name] = float(per[1 + s, i])
        groups = self.optimizer.state_dict()["param_groups"]
        return {"state": {i: full_state[i] for i in sorted(full_state)}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a whole-model state dict (this class's, or any single optimizer's of the same
        model) on every rank; each keeps its slice with shard_state. Everything is checked
        before anything changes."""
        if not self.shard_state:
            self.optimizer.load_state_dict(state_dict)
            return
        opt = self.optimizer  # holds the options only: its own state stays empty
        before = opt.state_dict()
        opt.load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        try:
            self._shard.load_state_dict(self._slice(state_dict))
        except BaseException:
            opt.load_state_dict(before)
            raise
        self._sync_groups()

    # ---- collectives of the checkpoint functions --------------------------------------------
    def _all_arrive(self, what: str) -> None:
        """Waits until every rank has called `what`; raises after self.timeout seconds
        instead of hanging when some rank never does."""
        request = self.comm.Ibarrier()
        deadline = time.monotonic() + self.timeout
        while not request.Test():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} with a DistributedOptimizer is a collective: every rank must call "
                    f"it, but rank {self.rank} waited {self.timeout:g} s for the others. The "
                    "communicator is now unusable: end the job")
            time.sleep(0.001)

    def _each(self, root_work: Callable[[], Any]) -> Any:
        """Runs root_work on rank 0 and shares its result (or its error) with every rank."""
        result, error = None, None
        if self.rank == 0:
            try:
                result = root_work()
            except Exception as e:  # every rank raises it, none waits for rank 0
                error = e
        result, error = self.comm.bcast((result, error), root=0)
        if error is not None:
            raise error
        return result

    def _save(self, path, scheduler, ema, extra) -> None:
        self._all_arrive("fastoptim.save")
        state = (self._gathered_state(root=0) if self.shard_state
                 else self.optimizer.state_dict())  # with shard_state: on rank 0 alone
        tree = checkpoint._tree(self, scheduler, ema, extra, state) if self.rank == 0 else None
        self._each(lambda: checkpoint._write(path, tree))

    def _load(self, path, scheduler, ema) -> Any:
        self._all_arrive("fastoptim.load")
        tree = self._each(lambda: checkpoint._read(path))
        return checkpoint._restore(path, tree, self, scheduler, ema)
