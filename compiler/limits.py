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

#: Bytes of Python objects per byte of JSON text, at most (a list of small integers:
#: 2 bytes of text, an 8-byte pointer plus a 28-byte int object): the estimate of a parse.
JSON_EXPANSION = 20


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


_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """``--max-memory``'s value: bytes, or a number with a K/M/G/T suffix (powers of 1024;
    ``KB``/``KiB`` spellings accepted). Raises ``ValueError`` on anything else."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _SUFFIXES else ""
    number = float(t[:len(t) - len(unit)])  # ValueError on junk
    value = number * _SUFFIXES[unit]
    if not (value >= 1 and value < 2**63):  # also refuses NaN and inf
        raise ValueError(f"{text!r} is not a positive size below 8 EiB")
    return int(value)
