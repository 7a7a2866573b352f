"""Resource budgets that guard every large allocation a user's input can ask for.

A model, a convolution to unroll, a configuration or an input array declares its own sizes; before
anything is allocated from them, the reader estimates the bytes and calls :func:`check_memory`, so
that a huge or hostile size is one clear error instead of an out-of-memory crash. The budget is the
command line's ``--max-memory`` (bytes, or with a K/M/G suffix).
"""

from __future__ import annotations

from .errors import CapacityError

#: Default budget for one allocation driven by user input: 4 GiB.
DEFAULT_MAX_MEMORY = 4 * 2**30


def format_bytes(nbytes: float) -> str:
    """``nbytes`` as a short human-readable size (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_memory(nbytes: float, what: str, budget: int = DEFAULT_MAX_MEMORY) -> None:
    """Refuse ``what`` when its estimated size ``nbytes`` exceeds ``budget`` bytes."""
    if not nbytes <= budget:  # also refuses NaN and inf estimates
        raise CapacityError(
            f"{what} would need about {format_bytes(nbytes)}, above the memory budget of "
            f"{format_bytes(budget)}",
            fix="check the sizes in the input; if they are right and the machine has the memory, "
                "raise the budget with --max-memory (e.g. --max-memory 16G)")
