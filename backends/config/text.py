"""Canonical text of a configuration and its file I/O.

:func:`dumps` writes sorted keys, Python's shortest round-trip float repr and one line per CAM or
SRAM entry, so equal configs are byte-identical files; :func:`parse` reads strictly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neurocc.backends.json_fields import parse_json
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.files import check_regular_file, write_atomic
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, JSON_EXPANSION, check_memory


def dumps(data: Any) -> str:
    """Canonical JSON text: equal data give byte-identical text.

    Keys are sorted (no object in the format has meaningful key order; lists keep theirs), floats
    use Python's shortest round-trip repr, NaN and infinities are refused. A container holding only
    scalars is written on one line, and so is a list element whose containers hold only scalars
    (one CAM or SRAM entry per line); everything else is indented by two spaces.
    """
    out: list[str] = []
    _emit(data, "", False, out)
    out.append("\n")
    return "".join(out)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), allow_nan=False)


def _flat(x: dict[str, Any] | list[Any]) -> bool:
    for v in (x.values() if isinstance(x, dict) else x):
        if isinstance(v, (dict, list)):
            return False
    return True


def _inline(x: dict[str, Any] | list[Any], in_list: bool) -> bool:
    if _flat(x):
        return True
    if not in_list:
        return False
    for v in (x.values() if isinstance(x, dict) else x):
        if isinstance(v, (dict, list)) and not _flat(v):
            return False
    return True


def _emit(x: Any, indent: str, in_list: bool, out: list[str]) -> None:
    if not isinstance(x, (dict, list)) or _inline(x, in_list):
        out.append(_ENCODER.encode(x))
        return
    inner = indent + "  "
    if isinstance(x, dict):
        out.append("{\n")
        for i, key in enumerate(sorted(x)):
            out.append(f"{inner}{_ENCODER.encode(key)}: ")
            _emit(x[key], inner, False, out)
            out.append(",\n" if i < len(x) - 1 else "\n")
        out.append(indent + "}")
    else:
        out.append("[\n")
        for i, item in enumerate(x):
            out.append(inner)
            _emit(item, inner, True, out)
            out.append(",\n" if i < len(x) - 1 else "\n")
        out.append(indent + "]")


#: What to do about a damaged file of a compiled folder.
REGENERATE = "regenerate the folder with `neurocc compile MODEL -o OUTDIR`"


def parse(text: str, where: str, fix: str = REGENERATE) -> Any:
    """Parse a configuration's JSON strictly (:func:`neurocc.backends.json_fields.parse_json`)."""
    return parse_json(text, where, ConfigError, fix)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 with ``\\n`` line ends on every platform, atomically."""
    write_atomic(path, text, fix="choose a writable output folder with -o")


def read_text(path: str | Path, max_memory: int = DEFAULT_MAX_MEMORY) -> str:
    """The text of a regular file whose parsed form fits ``max_memory`` bytes."""
    size = check_regular_file(path, max_bytes=max_memory, what="the file",
                              fix="pass the folder that `neurocc compile -o` wrote")
    check_memory(size * JSON_EXPANSION, f"parsing {path}", max_memory)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror})", where=str(path),
                          fix="check the path of the config file") from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", where=str(path),
                          fix="give the config file neurocc wrote") from None
