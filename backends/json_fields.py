"""The one strict reader of neurocc's JSON files (targets, chip configurations, energy figures).

:func:`parse_json` refuses what ``json.loads`` lets through silently (duplicate keys, NaN and
infinities); :class:`Fields` checks the values of the parsed data. Every failure is one error of
the caller's class (:class:`TargetError` for target files, :class:`ConfigError` for configs)
that names the file, the JSON path of the culprit (``chips[0].cores[2].neurons[17].tag``) and
the fix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from neurocc.compiler.errors import NeuroccError
from neurocc.compiler.files import check_regular_file
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, JSON_EXPANSION

_MISSING = object()


def child(path: str, key: str | int) -> str:
    """JSON path of a field (``a.b``) or list element (``a[3]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def kind_of(value: Any) -> str:
    """A value as an error message shows it: ``null``, ``'x' (str)``, ``list``."""
    if value is None:
        return "null"
    return f"{value!r} ({type(value).__name__})" if not isinstance(value, (dict, list)) \
        else type(value).__name__


def parse_json(text: str, where: str, error: type[NeuroccError],
               fix: str = "fix the JSON syntax (or regenerate the file)") -> Any:
    """Parse JSON; syntax errors, duplicate keys, NaN/Infinity, nesting too deep for the parser
    and integers past Python's digit limit become ``error`` (``fix`` says how to get a good
    file)."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            keys = [k for k, _ in items]
            dup = next(k for k in keys if keys.count(k) > 1)
            raise error(f"duplicate key {dup!r} in one object", where=where,
                        fix=f"write every field once; {fix}")
        return obj

    def constant(name: str) -> Any:
        raise error(f"{name} is not a valid JSON number", where=where,
                    fix=f"write finite numbers only; {fix}")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                    where=where, fix=fix) from None
    except RecursionError:
        raise error("nests lists or objects too deeply", where=where, fix=fix) from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        why = str(exc).split(":")[0]
        raise error(f"has a value that cannot be read ({why})", where=where, fix=fix) from None


def read_json(path: str | Path, what: str, error: type[NeuroccError]) -> Any:
    """Read and :func:`parse_json` the JSON file ``path`` (``what`` names it in errors): a
    regular file whose parsed form fits the default memory budget (a FIFO given as ``--energy``
    or ``--calibration`` is refused before it is opened, instead of blocking)."""
    check_regular_file(path, max_bytes=DEFAULT_MAX_MEMORY // JSON_EXPANSION, what=what,
                       fix="pass an existing JSON file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} ({exc.strerror})", where=str(path),
                    fix="pass an existing JSON file") from None
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text", where=str(path), fix="pass a JSON file") from None
    return parse_json(text, str(path), error)


class Fields:
    """Typed access to parsed JSON; every failure names the JSON path and the fix."""

    def __init__(self, where: str, error: type[NeuroccError], regenerate: str | None = None):
        self.where = where
        self.error = error
        #: How to get a good file instead of mending this one (added to every fix).
        self.regenerate = regenerate

    def fail(self, path: str, message: str, fix: str) -> NeuroccError:
        if self.regenerate:
            fix = f"{fix} in the file, or {self.regenerate}"
        return self.error(f"{path or '<root>'}: {message}", where=self.where, fix=fix)

    # -- containers ------------------------------------------------------------------------------
    def obj(self, value: Any, path: str, required: Iterable[str],
            optional: Iterable[str] = ()) -> dict[str, Any]:
        """An object with exactly the ``required`` keys and any of the ``optional`` ones."""
        value = self.mapping(value, path)
        required, optional = tuple(required), tuple(optional)
        missing = [k for k in required if k not in value]
        if missing:
            raise self.fail(child(path, missing[0]), "is missing",
                            fix=f"add {missing[0]!r} to {path or 'the top level'}")
        known = set(required) | set(optional)
        unknown = sorted(k for k in value if k not in known)
        if unknown:
            raise self.fail(child(path, unknown[0]), "is not a field of this format",
                            fix=f"remove it; {path or 'the top level'} has the fields "
                                f"{sorted(known)}")
        return value

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        """An object, whatever its keys."""
        if not isinstance(value, dict):
            raise self.fail(path, f"is {kind_of(value)}, expected an object",
                            fix="write it as a JSON object {...}")
        return value

    def list(self, value: Any, path: str, max_len: int | None = None, what: str = "entries",
             fix: str = "") -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"is {kind_of(value)}, expected a list",
                            fix="write it as a JSON list [...]")
        if max_len is not None and len(value) > max_len:
            raise self.fail(path, f"has {len(value)} {what}, the target allows {max_len}",
                            fix=fix or f"use at most {max_len}")
        return value

    def field(self, obj: Any, key: str, kind: type | tuple[type, ...], at: str,
              default: Any = _MISSING) -> Any:
        """``obj[key]`` of JSON type ``kind`` (``float`` accepts integers; ``bool`` is never an
        ``int``); ``default`` when the key is absent, if one is given."""
        fpath = child(at, key)
        obj = self.mapping(obj, at)
        if key not in obj:
            if default is not _MISSING:
                return default
            raise self.fail(fpath, "is missing", fix=f"add {key!r} to {at or 'the top level'}")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise self.fail(fpath, f"is {kind_of(value)}, expected {names}",
                            fix=f"write {fpath} as a JSON {names}")
        return value

    # -- scalars ---------------------------------------------------------------------------------
    def int(self, value: Any, path: str, lo: int | None = None, hi: int | None = None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, f"is {kind_of(value)}, expected an integer",
                            fix="write a whole number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise self.fail(path, f"{value} is outside {span}", fix=f"use a value in {span}")
        return value

    def positive_int(self, obj: Any, key: str, at: str) -> int:
        return self.int(self.field(obj, key, int, at), child(at, key), lo=1)

    def int_pair(self, obj: Any, key: str, at: str) -> tuple[int, int]:
        value = self.field(obj, key, list, at)
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      for v in value):
            raise self.fail(child(at, key), f"is {value!r}, expected two integers",
                            fix="write [a, b]")
        return value[0], value[1]

    def bool(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"is {kind_of(value)}, expected true or false",
                            fix="write true or false")
        return value

    def str(self, value: Any, path: str, choices: Iterable[str] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"is {kind_of(value)}, expected a string",
                            fix="write a string")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.fail(path, f"{value!r} is unknown", fix=f"use one of {choices}")
        return value

    def choice(self, obj: Any, key: str, choices: tuple[str, ...], at: str) -> str:
        return self.str(self.field(obj, key, str, at), child(at, key), choices)

    def number(self, value: Any, path: str, positive: bool = False) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                not _finite(value):
            raise self.fail(path, f"is {kind_of(value)}, expected a finite number",
                            fix="write a number")
        if positive and value <= 0:
            raise self.fail(path, f"{value} is not positive", fix="write a number > 0")
        return float(value)

    def bools(self, value: Any, path: str, length: int) -> int:
        """A list of ``length`` booleans as a bit mask (element k = bit k)."""
        items = self.list(value, path)
        if len(items) != length:
            raise self.fail(path, f"has {len(items)} entries, expected {length}",
                            fix=f"write {length} booleans")
        return sum(1 << k for k, v in enumerate(items) if self.bool(v, child(path, k)))


def _finite(value: int | float) -> bool:
    """A finite number a float can hold (an integer of 400 digits is not)."""
    return abs(value) < 2.0**1023 if isinstance(value, int) else math.isfinite(value)


# -- shapes of whole documents ------------------------------------------------------------------
#: The kinds of :func:`check_shape`.
INT, NUM, STR, BOOL = "integer", "finite number", "string", "true or false"


def check_shape(data: Any, shape: Any, where: str, name: str, fix: str,
                error: type[NeuroccError]) -> Any:
    """Return ``data`` when it has ``shape``; else one ``error`` naming the field of file
    ``name``. A shape is a kind (:data:`INT`, :data:`NUM`, :data:`STR`, :data:`BOOL`),
    ``[shape]`` (a list of), ``{key: shape}`` (an object with at least these keys; ``"*"``: every
    key) or a tuple of alternatives (``None`` allows null)."""
    problem = _problem(data, shape, "")
    if problem is not None:
        path, message = problem
        raise error(f"{name} {path or '<root>'} {message}", where=where, fix=fix)
    return data


def _problem(value: Any, shape: Any, path: str) -> tuple[str, str] | None:
    if isinstance(shape, tuple):
        problems = [_problem(value, alt, path) for alt in shape if alt is not None]
        if (value is None and None in shape) or None in problems:
            return None
        return problems[0]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path, "is not an object"
        for key, sub in shape.items():
            if key == "*":
                problems = [_problem(v, sub, f"{path}.{k}".lstrip(".")) for k, v in value.items()]
                problem = next((p for p in problems if p is not None), None)
                if problem is not None:
                    return problem
                continue
            if key not in value:
                return f"{path}.{key}".lstrip("."), "is missing"
            problem = _problem(value[key], sub, f"{path}.{key}".lstrip("."))
            if problem is not None:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path, "is not a list"
        for k, item in enumerate(value):
            problem = _problem(item, shape[0], f"{path}[{k}]")
            if problem is not None:
                return problem
        return None
    return None if _is_kind(value, shape) else (path, f"is not a {shape}")


def _is_kind(value: Any, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == INT:
        return isinstance(value, int)
    if kind == NUM:  # an integer beyond float range is not a usable number either
        return isinstance(value, (int, float)) and _finite(value)
    return isinstance(value, str)
