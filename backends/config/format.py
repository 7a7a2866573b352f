"""The file API of one generation's JSON configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurocc.backends.target import Target
from neurocc.compiler.tables import RoutingTables

from .codec import Codec
from .decode import decode
from .encode import encode
from .meta import ConfigMeta, Deployment
from .text import dumps, parse, read_text, write_text


@dataclass(frozen=True)
class JsonConfig:
    """Writer and reader of one generation's JSON config (a :class:`Codec` subclass)."""

    codec: type[Codec]

    def to_json(self, tables: RoutingTables, target: Target, meta: ConfigMeta = ConfigMeta()
                ) -> dict[str, Any]:
        """The config as a JSON dict, validated before it is returned."""
        return encode(tables, target, meta, self.codec)

    def from_json(self, data: Any, target: Target | None = None, *, where: str = "<config>"
                  ) -> Deployment:
        """Validate a parsed config; rebuild tables and meta (target None: the file's target)."""
        return decode(data, target, self.codec, where)

    def dumps(self, tables: RoutingTables, target: Target, meta: ConfigMeta = ConfigMeta()
              ) -> str:
        """Canonical text of the config: the same input gives the same bytes."""
        return dumps(self.to_json(tables, target, meta))

    def loads(self, text: str, target: Target | None = None, *, where: str = "<config>"
              ) -> Deployment:
        return self.from_json(parse(text, where), target, where=where)

    def write(self, path: str | Path, tables: RoutingTables, target: Target,
              meta: ConfigMeta = ConfigMeta()) -> None:
        write_text(path, self.dumps(tables, target, meta))

    def read(self, path: str | Path, target: Target | None = None) -> Deployment:
        return self.loads(read_text(path), target, where=str(path))
