"""One error hierarchy for the whole compiler.

Every error a user can provoke (bad file, unsupported node, network too big, infeasible
constraints) is a :class:`NeuroccError`. Its message names the cause; ``fix`` says what to do.
The command line prints ``str(error)`` as one line and exits non-zero; it never shows a traceback
for these.
"""

from __future__ import annotations


class NeuroccError(Exception):
    """Base class of every error neurocc raises on purpose.

    ``where`` locates the problem (file, node, population, index), ``fix`` tells the user what
    would make it go away. Both are optional but should be given whenever they are known.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class ModelFormatError(NeuroccError):
    """The model file cannot be read: not the expected format, malformed, or missing fields."""


class UnsupportedError(NeuroccError):
    """The model uses something neurocc does not support (node type, feature, combination)."""


class InvalidModelError(NeuroccError):
    """The model reads fine but its values make no sense (negative time constant, NaN weight...)."""


class IRVerifyError(NeuroccError):
    """The IR broke an invariant; raised by ``Network.verify`` after every pass."""


class ParseError(NeuroccError):
    """The text network language has a syntax or semantic error at a line:column."""


class TargetError(NeuroccError):
    """A target description (chip data file) is malformed or a value is not representable on it."""


class CapacityError(NeuroccError):
    """The network does not fit the target's resources (cores, CAM, SRAM, tags, chips)."""


class KeyCapacityError(CapacityError):
    """A core receives more distinct sources than its keys (CAM addresses) tell apart; spreading
    the neurons over more cores, so that fewer share a core, can help."""


class InfeasibleError(NeuroccError):
    """The constraint solver proved that no placement satisfies the constraints."""


class ConfigError(NeuroccError):
    """A chip configuration file is malformed or inconsistent."""


class SimulationError(NeuroccError):
    """The simulator was given inputs that do not fit the network (shape, channels, dtype)."""
