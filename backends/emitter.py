"""What a chip package offers the driver: its configuration formats as one :class:`Emitter`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .config.format import JsonConfig


@dataclass(frozen=True)
class Emitter:
    """The config formats of one target.

    ``config``: the JSON writer/reader; ``to_samna``: fills a samna configuration object;
    ``extras``: other text formats by name, each a ``(dump, load)`` pair of functions.
    """

    target: str
    config: JsonConfig
    to_samna: Callable[..., Any]
    extras: dict[str, tuple[Callable[..., str], Callable[..., Any]]] = field(default_factory=dict)
