"""CortexControl bias scripts for DYNAP-SE1: writer, and a reader of what the writer writes.

A script sets every core's biases through CortexControl's Python console::

    import CtxDynapse
    model = CtxDynapse.model
    model.get_bias_groups()[k].set_bias("IF_DC_P", fine, coarse)

with bias group ``k = cores_per_chip * chip + core`` (one board) and the argument order fine, then
coarse (shared/hardware/README.md). Coarse values are written in samna's convention (7 = largest),
not libcaer's reversed one: the hardware facts state the reversal for libcaer/cAER only, and
CortexControl scripts in the wild agree (``IF_BUF_P`` is set to (80, 4) there where cAER bias files
write coarse 3, i.e. ``7 - 4``). This is the documented choice; see docs/config_format.md.
The script holds biases only; routing goes through the JSON, samna or cAER outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

from neurocc.backends.config.text import read_text, write_text
from neurocc.backends.target import Target
from neurocc.compiler.errors import ConfigError, TargetError
from neurocc.compiler.tables import RoutingTables

HEADER = ("# neurocc: DYNAP-SE1 biases for CortexControl; bias group k = cores_per_chip * chip "
          "+ core, set_bias(name, fine, coarse), coarse 7 = largest current")
PREAMBLE = ("import CtxDynapse", "model = CtxDynapse.model")
_SET = re.compile(r'model\.get_bias_groups\(\)\[(\d+)\]\.set_bias\("([A-Za-z0-9_]+)", (\d+), '
                  r'(\d+)\)')

Biases = dict[tuple[int, int], dict[str, tuple[int, int]]]


def dump_cortexcontrol(tables: RoutingTables, target: Target) -> str:
    """The bias script of the cores of ``tables``, sorted by group then bias name."""
    cores = tables.cores
    groups = _groups(target)
    lines = [HEADER, *PREAMBLE]
    for (chip, core), config in sorted(cores.items()):
        k = target.cores_per_chip * chip + core
        if k >= groups:
            raise ConfigError(f"core {core} of chip {chip} is bias group {k}; CortexControl "
                              f"drives one board ({groups} groups)", where="CortexControl script",
                              fix="write the JSON or samna config for multi-board targets")
        for name, (coarse, fine) in sorted(config.biases.items()):
            try:
                target.bias(name)
            except TargetError as exc:
                raise ConfigError(f"core ({chip}, {core}) sets unknown bias {name!r}",
                                  where="CortexControl script", fix=exc.fix) from None
            lines.append(f'model.get_bias_groups()[{k}].set_bias("{name}", {fine}, {coarse})')
    return "\n".join(lines) + "\n"


def load_cortexcontrol(text: str, target: Target, *, where: str = "<CortexControl script>"
                       ) -> Biases:
    """Biases per (chip, core) of a script written by :func:`dump_cortexcontrol`."""
    groups, gen = _groups(target), target.generator
    names = {b.name for b in target.biases}
    out: Biases = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line in PREAMBLE:
            continue
        at = f"{where}:{lineno}"
        m = _SET.fullmatch(line)
        if m is None:
            raise ConfigError(f"{line!r} is not a set_bias call", where=at,
                              fix='write model.get_bias_groups()[k].set_bias("NAME", fine, '
                                  'coarse)')
        k, name, fine, coarse = int(m[1]), m[2], int(m[3]), int(m[4])
        for value, what, hi in ((k, "bias group", groups - 1), (fine, "fine value", gen.fine_max),
                                (coarse, "coarse value", gen.coarse_max)):
            if value > hi:
                raise ConfigError(f"{what} {value} is outside 0..{hi}", where=at,
                                  fix=f"use a {what} in 0..{hi}")
        if name not in names:
            raise ConfigError(f"{target.name} has no bias {name!r}", where=at,
                              fix=f"use one of {sorted(names)}")
        key = divmod(k, target.cores_per_chip)
        if name in out.get(key, {}):
            raise ConfigError(f"{name} of bias group {k} is set twice", where=at,
                              fix="set every bias once")
        out.setdefault(key, {})[name] = (coarse, fine)
    return {key: dict(sorted(b.items())) for key, b in sorted(out.items())}


def _groups(target: Target) -> int:
    return target.cores_per_chip * min(target.chips, target.chips_per_board)


def write_cortexcontrol(path: str | Path, tables: RoutingTables, target: Target) -> None:
    write_text(path, dump_cortexcontrol(tables, target))


def read_cortexcontrol(path: str | Path, target: Target) -> Biases:
    return load_cortexcontrol(read_text(path), target, where=str(path))
