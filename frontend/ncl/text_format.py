"""The neurocc text network language (``.ncl``): a readable, diffable way to write a network.

A complete example (8 input channels, 4 LIF neurons in two mutually inhibiting pairs, 2 CubaLIF
outputs)::

    # comments run from '#' to the end of the line
    network demo { dt = 1 ms }

    input spikes[8]

    population hidden : LIF[4] {
        tau_mem = 20 ms                  # one value: every neuron gets it
        v_leak = 0
        v_reset = 0
        bias = [0.0, 0.0, 0.1, 0.1]      # or one value per neuron
        reset = subtract                 # zero | subtract
        refractory = 2 ms
    }

    population out : CubaLIF[2] {
        tau_mem = [10 ms, 12 ms]         # a unit per value ...
        tau_syn = [5, 5] ms              # ... or one unit after ']'
        scale.v_threshold = [2.0, 2.5]   # factors removed by normalisation (see compiler/ir.py)
    }

    projection spikes -> hidden {
        weights = sparse [(0, 0, 0.6), (0, 1, 0.6), (2, 4, 0.6), (3, 5, 0.6)]  # (target, source, w)
    }
    projection lateral: hidden -> hidden delay 1 {   # a recurrent edge needs delay >= 1 steps
        weights = dense [
            [0.0, 0.0, -0.8, -0.8],      # one row per target neuron, one column per source
            [0.0, 0.0, -0.8, -0.8],
            [-0.8, -0.8, 0.0, 0.0],
            [-0.8, -0.8, 0.0, 0.0],
        ]
    }
    projection hidden -> out { weights = file "readout.npz" key "w" }   # path relative to this file

    output out

Rules:

* The ``network NAME { dt = ... }`` header comes first. Then ``input``, ``population``,
  ``projection`` and ``output`` statements in any order; populations keep their declaration order.
* A newline or ``;`` ends a statement or a setting; inside ``[...]`` and ``(...)`` newlines are
  free, so lists and matrices may span lines. Trailing commas are allowed.
* Names are identifiers (``hidden``, ``lif_1``) or JSON strings (``"lif1.lif"``) for anything else.
* Models and their parameters are those of ``compiler/ir.py`` (``MODEL_PARAMS``); values are
  threshold-normalised plain numbers. Time constants (``tau_mem``, ``tau_syn``), ``refractory``
  and ``dt`` need a unit: ``s``, ``ms``, ``us`` or ``ns``; other parameters take none. Parameters
  left out are 0, time constants must be given. ``scale.NAME = ...`` records a normalisation
  factor.
* Weights are ``dense`` (rows are targets, columns are sources), ``sparse`` triples
  ``(target, source, weight)`` (zero weights are not synapses), or ``file "x.npz" key "k"``: a 2-D
  array of shape (target, source) in a NumPy ``.npz`` archive; ``key`` may be left out when the
  archive holds one array. A projection is named ``source->target`` unless written
  ``projection NAME: source -> target``; ``delay N`` is in time steps (default 0).

:func:`format_network` prints any valid network in this language (the inverse of
:func:`parse_network`, bit-exact: floats are printed with ``repr`` and times are rescaled to a
unit in exact decimal arithmetic).
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator, Union

import networkx as nx
import numpy as np
import scipy.sparse as sp
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from neurocc.compiler.errors import CapacityError, InvalidModelError, IRVerifyError, \
    ModelFormatError, ParseError, UnsupportedError
from neurocc.compiler.ir import (MODEL_PARAMS, RESET_MODES, RESETTING_MODELS, TIME_CONSTANTS,
                                 Network, Population, Projection, make_population)
from neurocc.compiler.limits import check_memory

from ..load import LoadOptions, check_neuron_memory
from ..model_file import check_model_file

#: Time units and their power of ten in seconds.
UNITS: dict[str, int] = {"s": 0, "ms": -3, "us": -6, "ns": -9}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TERMINAL_WORDS = {
    "NAME": "a name", "STRING": 'a quoted "string"', "NUMBER": "a number",
    "INT": "a whole number", "UNIT": "a time unit (s, ms, us, ns)", "_NL": "end of line",
    "$END": "end of file",
}
#: Memory the parser takes per byte of text (measured: 17 for a dense matrix of "0, "; the
#: densest text, "0,", takes about half again as much).
PARSE_BYTES_PER_BYTE = 32
#: .npy header readers by format version (a header is read before its array, to check its size).
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}
_SYNTAX_HELP = "the .ncl syntax is described in the docstring of neurocc.frontend.ncl.text_format"


# ---------------------------------------------------------------------------------------------
# Syntax tree: what the grammar recognised, with the tokens kept for error positions.

@dataclass
class _Quantity:
    number: Token
    unit: Token | None


@dataclass
class _Vector:
    items: list[_Quantity]
    unit: Token | None


_Value = Union[_Quantity, _Vector, Token]  # a bare Token is a word such as ``subtract``


@dataclass
class _Setting:
    key: Token  # name token; for ``scale.NAME`` the NAME
    scale: bool
    value: _Value

    @property
    def label(self) -> str:
        return f"scale.{self.key}" if self.scale else str(self.key)


@dataclass
class _PopDecl:
    keyword: Token
    name: Token
    model: Token | None  # None for ``input``
    size: Token
    settings: list[_Setting]


@dataclass
class _Dense:
    keyword: Token
    rows: list[tuple[list[float], Token | None]]  # values and the row's first number


@dataclass
class _Sparse:
    keyword: Token
    triples: list[tuple[Token, Token, float]]


@dataclass
class _FileRef:
    keyword: Token
    path: Token
    key: Token | None


@dataclass
class _ProjDecl:
    keyword: Token
    name: Token | None
    source: Token
    target: Token
    delay: int
    weights: _Dense | _Sparse | _FileRef


@dataclass
class _ProjName:
    name: Token


@dataclass
class _Outputs:
    names: list[Token]


@dataclass
class _Header:
    keyword: Token
    name: Token
    settings: list[_Setting]


class _Located(Exception):
    """A semantic error at a token; :func:`parse_network` turns it into a :class:`ParseError`."""

    def __init__(self, token: Token, message: str, fix: str):
        super().__init__(message)
        self.token, self.message, self.fix = token, message, fix


def _to_float(token: Token, exponent: int = 0) -> float:
    """The number ``token`` times ``10**exponent``, rounded once (exact decimal scaling)."""
    if exponent == 0:
        value = float(token)
    else:
        sign, digits, exp = Decimal(str(token)).as_tuple()
        value = float(Decimal((sign, digits, int(exp) + exponent)))
    if not math.isfinite(value):
        raise _Located(token, f"number {token} is too large for a 64-bit float",
                       "write a finite number below 1.8e308 in magnitude")
    return value


def _to_int(token: Token) -> int:
    """A whole-number token (size, delay, index); more than 40 digits is refused as too large."""
    if len(token) > 40:
        raise _Located(token, f"whole number with {len(token)} digits is too large",
                       "write a number below 10^40")
    return int(token)


class _ToSyntaxTree(Transformer):
    """Run inside the LALR parser: builds the dataclasses above instead of a lark tree."""

    def start(self, c):
        return c[0], c[1:]

    def header(self, c):
        return _Header(c[0], c[1], c[2])

    def input_decl(self, c):
        return _PopDecl(c[0], c[1], None, c[2], c[3] if len(c) > 3 else [])

    def population(self, c):
        return _PopDecl(c[0], c[1], c[2], c[3], c[4] if len(c) > 4 else [])

    def projection(self, c):
        keyword, *rest = c
        name = rest.pop(0).name if isinstance(rest[0], _ProjName) else None
        source, target, *rest = rest
        delay = _to_int(rest.pop(0)) if isinstance(rest[0], Token) else 0
        return _ProjDecl(keyword, name, source, target, delay, rest[0])

    def proj_name(self, c):
        return _ProjName(c[0])

    def delay(self, c):
        return c[0]

    def outputs(self, c):
        return _Outputs(list(c))

    def block(self, c):
        return list(c)

    def setting(self, c):
        (scale, key), value = c
        return _Setting(key, scale, value)

    def param_key(self, c):
        return False, c[0]

    def scale_key(self, c):
        return True, c[0]

    def word(self, c):
        return c[0]

    def quantity(self, c):
        return _Quantity(c[0], c[1] if len(c) > 1 else None)

    def vector(self, c):
        unit = c[-1] if c and isinstance(c[-1], Token) else None
        return _Vector([q for q in c if isinstance(q, _Quantity)], unit)

    def dense(self, c):
        return _Dense(c[0], list(c[1:]))

    def row(self, c):
        return [_to_float(t) for t in c], (c[0] if c else None)

    def sparse(self, c):
        return _Sparse(c[0], list(c[1:]))

    def triple(self, c):
        return c[0], c[1], _to_float(c[2])

    def file_ref(self, c):
        return _FileRef(c[0], _decode_string(c[1]), _decode_string(c[2]) if len(c) > 2 else None)

    def name(self, c):
        token = c[0]
        return _decode_string(token) if token.type == "STRING" else token


def _decode_string(token: Token) -> Token:
    """A STRING token's JSON text decoded, keeping the token's position."""
    try:
        text = json.loads(str(token), strict=False)
    except json.JSONDecodeError as err:
        raise _Located(token, f"bad escape in string {token}: {err.msg}",
                       r'use JSON escapes: \" \\ \n \t \uXXXX') from None
    return Token.new_borrow_pos("STRING", text, token)


class _Newlines:
    """Post-lexer: newlines end statements, except inside [...] and (...); repeats collapse.

    Also ends the input with a newline so that the last statement is terminated.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth, after_newline, last = 0, True, None
        for token in stream:
            if token.type == "_NL":
                if depth or after_newline:
                    continue
                after_newline = True
            elif token.type in ("LSQB", "LPAR"):
                depth += 1
            elif token.type in ("RSQB", "RPAR"):
                depth = max(depth - 1, 0)
            if token.type != "_NL":
                after_newline = False
            last = token
            yield token
        if last is not None and not after_newline:
            yield Token("_NL", "\n", last.end_pos, last.end_line, last.end_column,
                        last.end_line, last.end_column, last.end_pos)


@functools.cache
def _parser() -> Lark:
    grammar = Path(__file__).with_name("network.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", postlex=_Newlines(),
                transformer=_ToSyntaxTree(), maybe_placeholders=False)


# ---------------------------------------------------------------------------------------------
# Syntax errors

def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    pattern = _parser().get_terminal(name).pattern
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name


def _syntax_error(err: UnexpectedInput, text: str) -> tuple[int, int, str, str]:
    """(line, column, message, fix) for a lark error, in the user's words."""
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END" or (token.type == "_NL" and token != ";"):
            found = _describe_terminal(token.type)
        else:
            found = repr(str(token))
        expected = err.accepts or err.expected
    else:  # UnexpectedCharacters: no terminal matches here
        found = _describe_text(text[err.pos_in_stream:])
        parser = getattr(err, "interactive_parser", None)
        expected = parser.accepts() if parser is not None else getattr(err, "allowed", ())
    alternatives = sorted(_describe_terminal(t) for t in expected) or ["something else"]
    wanted = alternatives[0] if len(alternatives) == 1 else \
        "one of " + ", ".join(alternatives[:-1]) + " or " + alternatives[-1]
    return err.line, err.column, f"unexpected {found}, expected {wanted}", \
        f"write {wanted} here ({_SYNTAX_HELP})"


def _describe_text(rest: str) -> str:
    """The unexpected text at an error: a word, or one invisible character by its code point.

    Whitespace the grammar does not know (no-break space, U+2028, U+0085...) and other characters
    that do not print are named, never shown, so the message stays one line.
    """
    if not rest:
        return "end of file"
    char = rest[0]
    if char.isspace() or not char.isprintable():
        return f"character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')})"
    return repr(re.match(r"\S+", rest).group(0))


# ---------------------------------------------------------------------------------------------
# Semantics: syntax tree -> Network

class _Builder:
    """Checks the syntax tree against the IR's rules and builds the network."""

    def __init__(self, base_dir: Path, options: LoadOptions, filename: str):
        self.base_dir = base_dir
        self.options = options
        self.filename = filename
        self.neurons = 0  # declared so far, inputs included, for the memory budget

    def network(self, header: _Header, statements: list) -> Network:
        net = Network(name=str(header.name), dt=self._header_dt(header))
        declared: dict[str, Token] = {}
        for decl in (s for s in statements if isinstance(s, _PopDecl)):
            if str(decl.name) in declared:
                raise _Located(decl.name, f"population {str(decl.name)!r} is declared twice "
                               f"(first on line {declared[str(decl.name)].line})",
                               "give every population its own name")
            declared[str(decl.name)] = decl.name
            net.add_population(self._population(decl))
        instant = nx.DiGraph()  # delay-0 edges so far, to catch a cycle at the edge closing it
        for decl in (s for s in statements if isinstance(s, _ProjDecl)):
            net.add_projection(self._projection(decl, net, instant))
        for name in (n for s in statements if isinstance(s, _Outputs) for n in s.names):
            self._population_ref(name, net)
            if str(name) in net.outputs:
                raise _Located(name, f"output {str(name)!r} is listed twice",
                               "list each output population once")
            net.outputs.append(str(name))
        try:
            return net.verify()
        except IRVerifyError as err:  # every rule is checked above; this is a safety net
            raise _Located(header.keyword, err.message, err.fix or _SYNTAX_HELP) from None

    # -- values ---------------------------------------------------------------------------
    def _header_dt(self, header: _Header) -> float:
        dt = None
        for s in header.settings:
            if s.label != "dt":
                raise _Located(s.key, f"the network header takes only dt, not {s.label}",
                               "move the setting into a population block")
            if dt is not None:
                raise _Located(s.key, "dt is set twice", "set dt once")
            dt = self._scalar(s, time=True, bound="positive")
            self._agree(s, "dt", dt)
        if dt is None:
            raise _Located(header.keyword, "the network header does not set dt",
                           f"write: network {_format_name(str(header.name))} {{ dt = 1 ms }}")
        return dt

    def _scalar(self, s: _Setting, *, time: bool, bound: str | None) -> float:
        if not isinstance(s.value, _Quantity):
            self._require_numbers(s)
            raise _Located(s.key, f"{s.label} is one value, not a list",
                           f"write a single value, e.g. {s.label} = 1 ms")
        return self._quantity(s.value, None, s.label, time=time, bound=bound)

    def _values(self, s: _Setting, size: int, *, time: bool, bound: str | None) -> np.ndarray:
        """One value broadcast to ``size`` neurons, or a list of exactly ``size`` values."""
        self._require_numbers(s)
        if isinstance(s.value, _Quantity):
            return np.full(size, self._quantity(s.value, None, s.label, time=time, bound=bound))
        vector = s.value
        if len(vector.items) != size:
            raise _Located(s.key, f"{s.label} has {len(vector.items)} values but the population "
                           f"has {size} neurons",
                           "give one value per neuron, or a single value for all of them")
        return np.array([self._quantity(q, vector.unit, s.label, time=time, bound=bound)
                         for q in vector.items], dtype=np.float64)

    @staticmethod
    def _require_numbers(s: _Setting) -> None:
        if isinstance(s.value, Token):
            raise _Located(s.value, f"{s.label} takes a number, not the word {str(s.value)!r}",
                           "write a number (or a list of numbers in [...])")

    @staticmethod
    def _quantity(q: _Quantity, outer_unit: Token | None, label: str, *, time: bool,
                  bound: str | None) -> float:
        if q.unit is not None and outer_unit is not None:
            raise _Located(q.unit, f"{label} has a unit on a value and another after ']'",
                           "write the unit after each value or once after ']', not both")
        unit = q.unit or outer_unit
        if time and unit is None:
            raise _Located(q.number, f"{label} is a time and needs a unit",
                           f"write e.g. {q.number} ms (units: s, ms, us, ns)")
        if not time and unit is not None:
            raise _Located(unit, f"{label} is a plain (threshold-normalised) number and takes "
                           f"no unit", f"remove {str(unit)!r}")
        value = _to_float(q.number, UNITS[str(unit)] if unit is not None else 0)
        shown = f"{q.number} {unit}" if unit is not None else str(q.number)
        if bound == "positive" and not value > 0:
            raise _Located(q.number, f"{label} must be > 0, got {shown}",
                           f"write a positive {label}")
        if bound == "non-negative" and not value >= 0:
            raise _Located(q.number, f"{label} must be >= 0, got {shown}",
                           f"write a {label} of 0 or more")
        return value

    # -- declarations ---------------------------------------------------------------------
    def _population(self, decl: _PopDecl) -> Population:
        model = "input" if decl.model is None else str(decl.model)
        if decl.model is not None and (model not in MODEL_PARAMS or model == "input"):
            models = ", ".join(m for m in MODEL_PARAMS if m != "input")
            raise _Located(decl.model, f"unknown neuron model {model!r}",
                           f"use one of {models}; declare inputs with: input NAME[SIZE]")
        size = _to_int(decl.size)
        if size < 1:
            raise _Located(decl.size, f"population {str(decl.name)!r} has size {size}",
                           "a population needs at least one neuron")
        self.neurons += size
        with self._at(decl.size):
            check_neuron_memory(self.neurons, "the populations declared up to here",
                                self.options.max_memory)
        own = MODEL_PARAMS[model]
        params: dict[str, np.ndarray] = {}
        scale: dict[str, np.ndarray] = {}
        extra: dict[str, object] = {}
        seen: dict[str, Token] = {}
        for s in decl.settings:
            if s.label in seen:
                raise _Located(s.key, f"{s.label} is set twice (first on line "
                               f"{seen[s.label].line})", "set each parameter once")
            seen[s.label] = s.key
            if s.scale:
                scale[str(s.key)] = self._values(s, size, time=False, bound=None)
            elif s.label in own:
                time = s.label in TIME_CONSTANTS
                params[s.label] = self._values(s, size, time=time,
                                               bound="positive" if time else None)
            elif s.label == "reset":
                extra["reset"] = self._reset(s)
                self._agree(s, "reset", extra["reset"])
            elif s.label == "refractory":
                extra["refractory"] = self._scalar(s, time=True, bound="non-negative")
                self._agree(s, "refractory", extra["refractory"])
            else:
                allowed = ", ".join([*own, "reset", "refractory", "scale.NAME"])
                raise _Located(s.key, f"{model} has no parameter {s.label!r}",
                               f"{model} takes {allowed}")
        for tau in (p for p in own if p in TIME_CONSTANTS and p not in params):
            raise _Located(decl.name, f"population {str(decl.name)!r} ({model}) does not set "
                           f"its time constant {tau}", f"add a line: {tau} = 10 ms")
        if model in RESETTING_MODELS:  # the options fill in what the population leaves out
            for key in ("reset", "refractory"):
                if key not in extra and getattr(self.options, key) is not None:
                    extra[key] = getattr(self.options, key)
        return make_population(str(decl.name), model, size, **params, **extra, scale=scale)

    def _agree(self, s: _Setting, key: str, stated: float | str) -> None:
        """Refuse a load option (``--dt``, ``--reset``, ``--refractory``) the file contradicts."""
        given = getattr(self.options, key)
        if given is None or (given == stated if isinstance(stated, str) else
                             math.isclose(float(given), stated, rel_tol=1e-9, abs_tol=0.0)):
            return
        value = s.value
        shown = str(value) if not isinstance(value, _Quantity) else \
            f"{value.number} {value.unit}" if value.unit else str(value.number)
        flag = given if isinstance(given, str) else repr(float(given))
        raise _Located(s.key, f"{key} = {shown} here, but --{key} {flag} was given",
                       f"drop --{key} (a .ncl file states its own {key}) or change it here")

    @staticmethod
    def _reset(s: _Setting) -> str:
        if not (isinstance(s.value, Token) and str(s.value) in RESET_MODES):
            where = s.value if isinstance(s.value, Token) else s.key
            raise _Located(where, "reset is not a reset mode",
                           f"write reset = {' or reset = '.join(RESET_MODES)}")
        return str(s.value)

    @staticmethod
    def _population_ref(name: Token, net: Network) -> Population:
        if str(name) not in net.populations:
            known = ", ".join(_format_name(n) for n in net.populations)
            raise _Located(name, f"unknown population {str(name)!r}",
                           f"declare it with 'population' or 'input', or use one of: {known}")
        return net.populations[str(name)]

    def _projection(self, decl: _ProjDecl, net: Network, instant: nx.DiGraph) -> Projection:
        source = self._population_ref(decl.source, net)
        target = self._population_ref(decl.target, net)
        name = str(decl.name) if decl.name is not None else f"{source.name}->{target.name}"
        at = decl.name or decl.keyword
        if name in net.projections:
            raise _Located(at, f"there is already a projection named {name!r}",
                           f"name this one: projection OTHER_NAME: {_format_name(source.name)} "
                           f"-> {_format_name(target.name)}")
        if target.is_input:
            raise _Located(decl.target, f"projection {name!r} targets input population "
                           f"{target.name!r}", "inputs receive only external spikes")
        if decl.delay == 0:
            cycle = _closed_cycle(instant, source.name, target.name)
            if cycle:
                raise _Located(at, f"projection {name!r} closes a cycle without delay: "
                               f"{' -> '.join(cycle)}",
                               "give it a delay of at least one step: "
                               f"projection ... -> {_format_name(target.name)} delay 1 {{ ... }}")
            instant.add_edge(source.name, target.name)
        weights = self._weights(decl.weights, source, target)
        return Projection(name=name, source=source.name, target=target.name, weights=weights,
                          delay=decl.delay)

    # -- weights --------------------------------------------------------------------------
    def _weights(self, w: _Dense | _Sparse | _FileRef, source: Population,
                 target: Population) -> sp.csr_array:
        shape = (target.size, source.size)
        if isinstance(w, _Sparse):
            return _sparse_weights(w, shape)
        if isinstance(w, _Dense):
            _check_shape((len(w.rows), len(w.rows[0][0]) if w.rows else 0), w.keyword, shape)
            for i, (values, first) in enumerate(w.rows):
                if len(values) != source.size:
                    raise _Located(first or w.keyword, f"row {i} has {len(values)} values, "
                                   f"expected {source.size} (one per source neuron)",
                                   "rows are target neurons, columns are source neurons")
            matrix = np.array([values for values, _ in w.rows], dtype=np.float64)
        else:
            matrix = self._file_weights(w, shape)
        return sp.csr_array(matrix)

    def _file_weights(self, ref: _FileRef, shape: tuple[int, int]) -> np.ndarray:
        path = self.base_dir / str(ref.path)
        if not path.is_file():  # also refuses pipes and devices, which would block or not end
            raise _Located(ref.path, f"weights file {str(ref.path)!r} not found (looked for "
                           f"{path})", "file paths are relative to the folder of the .ncl file")
        try:
            with path.open("rb") as fh:  # closed here even when numpy fails half-way
                archive = np.load(fh, allow_pickle=False, mmap_mode="r")
                if not isinstance(archive, np.lib.npyio.NpzFile):
                    raise _Located(ref.path, f"weights file {str(ref.path)!r} is a single .npy "
                                   "array, not a .npz archive",
                                   "save the weights with numpy.savez")
                key, matrix = self._npz_member(archive, ref, shape)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
            detail = " ".join(str(err).split())[:200]
            raise _Located(ref.path, f"weights file {str(ref.path)!r} is not a readable NumPy "
                           f"archive ({detail})", "save the weights with numpy.savez") from None
        matrix = matrix.astype(np.float64)
        if not np.all(np.isfinite(matrix)):
            row, col = np.argwhere(~np.isfinite(matrix))[0]
            raise _Located(ref.key or ref.path, f"array {key!r} has weight [{row}, {col}] = "
                           f"{matrix[row, col]}", "weights must be finite numbers")
        return matrix

    def _npz_member(self, archive: np.lib.npyio.NpzFile, ref: _FileRef,
                    shape: tuple[int, int]) -> tuple[str, np.ndarray]:
        """The array the reference names, read only after its header's shape and dtype fit."""
        keys = list(archive.files)
        if ref.key is None and len(keys) != 1:
            raise _Located(ref.keyword, f"{str(ref.path)!r} holds {len(keys)} arrays "
                           f"({', '.join(keys)}) and no key is given",
                           'add key "NAME" after the file name')
        key = keys[0] if ref.key is None else str(ref.key)
        if key not in keys:
            raise _Located(ref.key, f"{str(ref.path)!r} has no array {key!r}",
                           f"use one of: {', '.join(keys)}")
        at = ref.key or ref.path
        member = key + ".npy" if key + ".npy" in archive.zip.namelist() else key
        with archive.zip.open(member) as fh:
            declared, _, dtype = _NPY_HEADERS[np.lib.format.read_magic(fh)](fh)
        if len(declared) != 2 or dtype.kind not in "biuf":
            raise _Located(at, f"array {key!r} is {dtype} of shape {declared}, not a real 2-D "
                           "matrix", "store a 2-D float array (target, source)")
        _check_shape(declared, at, shape)
        with self._at(at):
            check_memory(8.0 * shape[0] * shape[1], f"the weight matrix {key!r} {shape}",
                         self.options.max_memory)
        return key, archive[key]

    @contextmanager
    def _at(self, token: Token) -> Iterator[None]:
        """Locate a memory budget error at ``token`` (it stays a :class:`CapacityError`)."""
        try:
            yield
        except CapacityError as err:
            err.where = f"{self.filename}:{token.line}:{token.column}"
            raise


def _closed_cycle(instant: nx.DiGraph, source: str, target: str) -> list[str]:
    """The cycle ``source -> target -> ... -> source`` a new delay-0 edge would close, or []."""
    if source == target:
        return [source, source]
    if source in instant and target in instant and nx.has_path(instant, target, source):
        return [source, *nx.shortest_path(instant, target, source)]
    return []


def _check_shape(shape: tuple[int, int], at: Token, expected: tuple[int, int]) -> None:
    if tuple(shape) == expected:
        return
    hint = "; it looks transposed" if tuple(shape) == expected[::-1] else ""
    raise _Located(at, f"weight matrix has shape {tuple(shape)}, expected (target, source) = "
                   f"{expected}{hint}", "write one row per target neuron, one column per "
                   "source neuron")


def _sparse_weights(w: _Sparse, shape: tuple[int, int]) -> sp.csr_array:
    rows, cols, values, seen = [], [], [], {}
    for row_token, col_token, value in w.triples:
        row, col = _to_int(row_token), _to_int(col_token)
        for index, token, limit, what in ((row, row_token, shape[0], "target"),
                                          (col, col_token, shape[1], "source")):
            if index >= limit:
                raise _Located(token, f"{what} index {index} is out of range: the {what} has "
                               f"{limit} neurons", f"use {what} indices 0..{limit - 1} "
                               "(triples are (target, source, weight))")
        if (row, col) in seen:
            raise _Located(row_token, f"synapse ({row}, {col}) is given twice (first on line "
                           f"{seen[row, col]})", "give each (target, source) pair once")
        seen[row, col] = row_token.line
        rows.append(row)
        cols.append(col)
        values.append(value)
    matrix = sp.coo_array((np.array(values, dtype=np.float64),
                           (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
                          shape=shape).tocsr()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


# ---------------------------------------------------------------------------------------------
# Public API

def parse_network(text: str, *, base_dir: Path | None = None, filename: str = "<text>",
                  options: LoadOptions = LoadOptions()) -> Network:
    """Parse a ``.ncl`` text into a verified :class:`Network`.

    ``base_dir`` is where ``file "..."`` weight references are looked up (default: the current
    directory). Any error raises :class:`ParseError` located ``filename:line:column``; a model
    over the memory budget ``options.max_memory`` raises :class:`CapacityError`. ``options``'
    ``dt``, ``reset`` and ``refractory``, when given, must agree with the values the text states
    and fill in the reset and refractory period of populations that state none.
    """
    try:
        header, statements = _parser().parse(text)
        builder = _Builder(Path.cwd() if base_dir is None else Path(base_dir), options, filename)
        return builder.network(header, statements)
    except UnexpectedInput as err:
        line, column, message, fix = _syntax_error(err, text)
    except _Located as err:
        line, column, message, fix = err.token.line, err.token.column, err.message, err.fix
    raise ParseError(message, where=f"{filename}:{line}:{column}", fix=fix)


def read_text(path: str | Path, options: LoadOptions = LoadOptions()) -> Network:
    """Read a ``.ncl`` file; weight files it names are relative to its folder.

    Only a regular file of at most :data:`~neurocc.frontend.model_file.MAX_MODEL_BYTES` is read;
    ``options`` as in :func:`parse_network`.
    """
    path = Path(path)
    size = check_model_file(path, ".ncl")
    check_memory(size * PARSE_BYTES_PER_BYTE, f"{path}: parsing {size} bytes of text",
                 options.max_memory)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ModelFormatError("not UTF-8 text", where=str(path),
                               fix="save the .ncl file as UTF-8") from None
    except OSError as err:
        raise ModelFormatError(f"cannot read the file ({err.strerror})", where=str(path),
                               fix="check the path of the .ncl file") from None
    net = parse_network(text, base_dir=path.parent, filename=str(path), options=options)
    if net.neurons() == 0:  # the language allows it (inputs only); a model to compile does not
        raise InvalidModelError("the network has no neuron population (inputs alone compute "
                                "nothing)", where=str(path),
                                fix="declare one: population NAME : LIF[SIZE] { tau_mem = 10 ms }")
    return net


def write_text(net: Network, path: str | Path) -> None:
    """Write ``net`` as a ``.ncl`` file (all weights inline)."""
    Path(path).write_text(format_network(net), encoding="utf-8")


def format_network(net: Network) -> str:
    """Print ``net`` in the text language so that :func:`parse_network` gives it back exactly."""
    net.verify()
    declared_inputs = [p.name for p in net.populations.values() if p.is_input]
    if net.inputs != declared_inputs:
        raise UnsupportedError(
            f"inputs {net.inputs} are not in the order the populations declare them "
            f"({declared_inputs}); the text format lists inputs in declaration order",
            where=net.name, fix="reorder net.populations to match net.inputs")
    blocks = [[f"network {_format_name(net.name)} {{ dt = {_format_time(np.array([net.dt]))} }}"]]
    blocks += [_format_population(p) for p in net.populations.values()]
    blocks += [_format_projection(q) for q in net.projections.values()]
    if net.outputs:
        blocks.append(["output " + ", ".join(_format_name(n) for n in net.outputs)])
    return "\n\n".join("\n".join(lines) for lines in blocks) + "\n"


# ---------------------------------------------------------------------------------------------
# Printer

def _format_name(name: str) -> str:
    return name if _NAME_RE.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _format_scaled(value: float, exponent: int) -> str:
    """Decimal text of ``value / 10**exponent``, exact, so that parsing it gives ``value``."""
    sign, digits, exp = Decimal(repr(float(value))).as_tuple()
    scaled = Decimal((sign, digits, int(exp) - exponent))
    return format(scaled, "f" if -6 <= scaled.adjusted() <= 15 else "e")


def _format_time(values: np.ndarray) -> str:
    """Times in one unit chosen from the largest magnitude: ``20 ms`` or ``[5, 6.5] ms``."""
    largest = float(np.max(np.abs(values)))
    unit = next((u for u, e in UNITS.items() if largest >= 10.0 ** e), "ns") if largest else "ms"
    texts = [_format_scaled(v, UNITS[unit]) for v in values.tolist()]
    return f"{texts[0]} {unit}" if len(texts) == 1 else f"[{', '.join(texts)}] {unit}"


def _format_values(values: np.ndarray, *, time: bool) -> str:
    """One value when all neurons share it bit for bit (so -0.0 and 0.0 stay apart), else a list."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.uint64)
    if np.all(bits == bits[0]):
        values = values[:1]
    if time:
        return _format_time(values)
    texts = [repr(v) for v in values.tolist()]
    return texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"


def _format_population(pop: Population) -> list[str]:
    if pop.is_input:
        head = f"input {_format_name(pop.name)}[{pop.size}]"
    else:
        head = f"population {_format_name(pop.name)} : {pop.model}[{pop.size}]"
    settings = [f"{p} = {_format_values(pop.params[p], time=p in TIME_CONSTANTS)}"
                for p in MODEL_PARAMS[pop.model]]
    resets = pop.model in RESETTING_MODELS
    if resets or pop.reset != "zero":
        settings.append(f"reset = {pop.reset}")
    refractory = float(pop.refractory)
    if resets or refractory != 0 or math.copysign(1.0, refractory) < 0:
        settings.append(f"refractory = {_format_time(np.array([refractory]))}")
    settings += [f"scale.{_format_name(k)} = {_format_values(v, time=False)}"
                 for k, v in pop.scale.items()]
    if not settings:
        return [head]
    return [head + " {", *(f"    {s}" for s in settings), "}"]


def _format_projection(proj: Projection) -> list[str]:
    head = "projection "
    if proj.name != f"{proj.source}->{proj.target}":
        head += f"{_format_name(proj.name)}: "
    head += f"{_format_name(proj.source)} -> {_format_name(proj.target)}"
    if proj.delay:
        head += f" delay {int(proj.delay)}"
    weights = sp.csr_array(proj.weights, dtype=np.float64, copy=True)
    weights.sum_duplicates()
    weights.eliminate_zeros()
    rows, cols = weights.shape
    if weights.nnz == 0:
        return [head + " {", "    weights = sparse []", "}"]
    if weights.nnz >= 0.5 * rows * cols:
        kind = "dense"
        lines = ["[" + ", ".join(map(repr, row)) + "]," for row in weights.toarray().tolist()]
    else:
        kind = "sparse"
        weights.sort_indices()
        lines = []
        for r in range(rows):
            span = slice(weights.indptr[r], weights.indptr[r + 1])
            triples = [f"({r}, {c}, {w!r})" for c, w in
                       zip(weights.indices[span].tolist(), weights.data[span].tolist())]
            if triples:
                lines.append(", ".join(triples) + ",")
    return [head + " {", f"    weights = {kind} [", *(f"        {line}" for line in lines),
            "    ]", "}"]
