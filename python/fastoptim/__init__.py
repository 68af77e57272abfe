"""fastoptim: neural-network optimizers as SIMD + OpenMP kernels on float32 NumPy arrays.

The update rules of ``torch.optim`` (same names, arguments, defaults and state names), stepping
NumPy arrays in place at memory speed::

    import numpy as np, fastoptim as fo
    W = np.random.randn(784, 128).astype(np.float32); b = np.zeros(128, np.float32)
    opt = fo.Adam([W, b], lr=1e-3)
    opt.step([gW, gb])          # W and b change in place
"""

from __future__ import annotations

from . import _core, lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .checkpoint import load, save
from .clip import clip_grad_norm_, clip_grad_value_
from .ema import EMA
from .flat import FlatParams
from .lbfgs import LBFGS
from .lion import Lion
from .lookahead import Lookahead
from .nadam import NAdam
from .optimizer import Optimizer
from .proximal import ProximalAdagrad, ProximalSGD
from .quantized import Int8State
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__version__ = "0.1.0"

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "EMA",
    "FlatParams",
    "Int8State",
    "LBFGS",
    "Lion",
    "Lookahead",
    "NAdam",
    "Optimizer",
    "ProximalAdagrad",
    "ProximalSGD",
    "RAdam",
    "RMSprop",
    "SGD",
    "available_targets",
    "clip_grad_norm_",
    "clip_grad_value_",
    "cpu_target",
    "get_num_threads",
    "load",
    "lr_scheduler",
    "save",
    "set_num_threads",
]


def cpu_target() -> str:
    """The SIMD target the kernels use: ``"avx512"``, ``"avx2"`` or ``"scalar"``.

    Chosen at import as the best the CPU supports; ``FASTOPTIM_DISABLE=avx512`` (or
    ``avx512,avx2``, or ``all``) in the environment before import forces a lower one.
    """
    return _core.cpu_target()


def available_targets() -> list[str]:
    """The SIMD targets this build contains and this CPU can run, best first."""
    return _core.available_targets()


def set_num_threads(n: int) -> None:
    """Sets how many threads the kernels may use (default: OMP_NUM_THREADS, else all cores).

    Small steps run on one thread whatever this says; results are bitwise identical for any
    thread count.
    """
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads the kernels may use."""
    return _core.get_num_threads()
