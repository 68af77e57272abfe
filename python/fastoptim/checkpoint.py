"""Checkpoints: parameters, optimizer, scheduler and EMA state in one .npz file.

The file is written atomically (a temporary file in the same directory, fsync, rename), holds
no pickles, and is validated on load before any live object changes.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any, Union

import ml_dtypes
import numpy as np

from .quantized import Int8State

if TYPE_CHECKING:
    from .ema import EMA
    from .lbfgs import LBFGS
    from .lookahead import Lookahead
    from .lr_scheduler import LRScheduler
    from .optimizer import Optimizer

__all__ = ["save", "load"]

FORMAT = "fastoptim-checkpoint"
VERSION = 1


def _encode(obj, arrays: dict):
    """JSON-able form of a state tree; arrays (and NumPy scalars) go to `arrays` by name."""
    if isinstance(obj, (np.ndarray, np.generic)):
        name = f"a{len(arrays)}"
        a = np.asarray(obj)
        if a.dtype == ml_dtypes.bfloat16:  # .npz knows no bfloat16: stored as its bits
            arrays[name] = a.view(np.uint16)
            return {"__array__": name, "scalar": isinstance(obj, np.generic), "bfloat16": True}
        arrays[name] = a
        return {"__array__": name, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, Int8State):  # its codes and scales, as two arrays
        return {"__int8__": [_encode(obj.codes, arrays), _encode(obj.scales, arrays)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):  # keys may be ints (state indices): keep their type
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"cannot store a value of type {type(obj).__name__} in a checkpoint")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            a = arrays[obj["__array__"]]
            if obj.get("bfloat16"):
                if a.dtype != np.uint16:
                    raise ValueError(f"bfloat16 array stored as {a.dtype}")
                a = a.view(ml_dtypes.bfloat16)
            return a[()] if obj.get("scalar") else a
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__int8__" in obj:
            return Int8State(*(_decode(v, arrays) for v in obj["__int8__"]))
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        raise ValueError(f"unknown entry in checkpoint: {sorted(obj)}")
    return obj


def _params_of(optimizer) -> list:
    params = getattr(optimizer, "_params", None)
    if params is None:
        raise TypeError(f"not a fastoptim optimizer: {type(optimizer).__name__}")
    return params


def save(path: Union[str, os.PathLike[str]], optimizer: Union[Optimizer, Lookahead, LBFGS],
         scheduler: LRScheduler | None = None, ema: EMA | None = None,
         extra: Any = None) -> None:
    """Writes the parameters, ``optimizer.state_dict()`` and, if given, the scheduler's and
    EMA's state and ``extra`` (JSON-able values and arrays) to ``path`` (an .npz file).

    The write is atomic: a crash leaves either the old file or the new one, never half of one.
    With a :class:`fastoptim.distributed.DistributedOptimizer` it is a collective: every rank
    calls it, and rank 0 writes the whole model's checkpoint.
    """
    if hasattr(optimizer, "_save"):  # DistributedOptimizer
        return optimizer._save(path, scheduler, ema, extra)
    _write(path, _tree(optimizer, scheduler, ema, extra))


def _tree(optimizer, scheduler, ema, extra, state: dict | None = None) -> dict:
    """What a checkpoint holds, as a tree of values and arrays (`state`: the optimizer's state
    dict, if the caller has it already)."""
    return {
        "params": [np.array(p) for p in _params_of(optimizer)],
        "optimizer": optimizer.state_dict() if state is None else state,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "ema": None if ema is None else ema.state_dict(),
        "extra": extra,
    }


def _write(path, tree: dict) -> None:
    """Writes `tree` to the .npz file at `path`, atomically."""
    arrays: dict = {}
    meta = {"format": FORMAT, "version": VERSION, "tree": _encode(tree, arrays)}
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path) -> dict:
    try:
        # Our own handle, so that it is closed even when np.load rejects the contents.
        with open(os.fspath(path), "rb") as f, np.load(f, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"][()]))
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable fastoptim checkpoint: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fastoptim checkpoint")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path} has checkpoint format version {meta.get('version')!r}; "
                         f"this fastoptim reads version {VERSION}")
    try:
        return _decode(meta["tree"], arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is a damaged fastoptim checkpoint: {e}") from None


def load(path: Union[str, os.PathLike[str]], optimizer: Union[Optimizer, Lookahead, LBFGS],
         scheduler: LRScheduler | None = None, ema: EMA | None = None) -> Any:
    """Restores what :func:`save` wrote into live objects and returns its ``extra``.

    Everything is validated first (format, version, every shape and dtype, each object's own
    state checks); on any error the parameters, optimizer, scheduler and EMA are left exactly
    as they were. With a :class:`fastoptim.distributed.DistributedOptimizer` it is a
    collective: rank 0 reads the file, and every rank restores it (any number of ranks can load
    a checkpoint, whatever number wrote it).
    """
    if hasattr(optimizer, "_load"):  # DistributedOptimizer
        return optimizer._load(path, scheduler, ema)
    return _restore(path, _read(path), optimizer, scheduler, ema)


def _restore(path, tree: dict, optimizer, scheduler, ema) -> Any:
    """Restores a checkpoint's tree into live objects (see load)."""
    params = _params_of(optimizer)
    saved = tree.get("params")
    if not isinstance(saved, list) or len(saved) != len(params):
        raise ValueError(f"{path} holds {len(saved) if isinstance(saved, list) else 'no'} "
                         f"parameters, the optimizer has {len(params)}")
    for i, (s, p) in enumerate(zip(saved, params)):
        if not isinstance(s, np.ndarray) or s.shape != p.shape or s.dtype != p.dtype:
            raise ValueError(f"{path}: parameter {i} is {getattr(s, 'dtype', '?')}"
                             f"{getattr(s, 'shape', '')}, the optimizer's is {p.dtype}{p.shape}")
    for name, obj in (("scheduler", scheduler), ("ema", ema)):
        if obj is not None and tree.get(name) is None:
            raise ValueError(f"{path} holds no {name} state")

    # Each load_state_dict checks before it changes anything; if a later one fails, the
    # earlier ones are rolled back from these snapshots.
    snapshots: list[tuple[Any, dict[str, Any]]] = [(optimizer, optimizer.state_dict())]
    try:
        optimizer.load_state_dict(tree["optimizer"])
        for name, obj in (("scheduler", scheduler), ("ema", ema)):
            if obj is not None:
                snapshots.append((obj, obj.state_dict()))
                obj.load_state_dict(tree[name])
    except BaseException:
        for obj, sd in reversed(snapshots):
            obj.load_state_dict(sd)
        raise
    for p, s in zip(params, saved):
        np.copyto(p, s)
    return tree.get("extra")
