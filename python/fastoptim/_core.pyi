"""Type stubs of the private native module (use the fastoptim package, not this)."""

from typing import Any, Sequence

import numpy as np

openmp: bool

class StalePlan(RuntimeError): ...

def cpu_target() -> str: ...
def available_targets() -> list[str]: ...
def set_target(name: str) -> None: ...
def check_params(params: list[np.ndarray]) -> None: ...
def last_level_cache() -> int: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...

class _Plan:
    """One optimizer's native plan: parameters, state arrays and step counters."""

    slots: list[str]
    def __init__(
        self,
        groups: list[dict[str, Any]],
        params: list[np.ndarray],
        group_of: list[int],
        states: list[list[np.ndarray] | None],
        steps: np.ndarray,
        flat_grads: list[np.ndarray] | None = None,
        scalars: list[np.ndarray] = ...,
        shadows: list[list[np.ndarray] | None] | None = None,
    ) -> None: ...
    def step(self, grads: Sequence[np.ndarray | None] | None = None) -> bool:
        """One step; True if a guarded step went through and the state buffers swapped."""
    max_grad_norm: float | None
    last_grad_norm: float
    nonfinite: str
    skipped_steps: int
    logged: int
    fused_check: bool | None
    def __len__(self) -> int: ...
    @staticmethod
    def validate(group: dict[str, Any], index: int = 0) -> None: ...
    @staticmethod
    def needed_slots(group: dict[str, Any]) -> list[str]: ...

class SGD(_Plan): ...
class Adam(_Plan): ...
class Traffic(_Plan): ...
