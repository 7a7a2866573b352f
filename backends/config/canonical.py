"""Canonical row order of routing tables.

The order of CAM and SRAM rows carries no meaning on the chip (any CAM slot matches, any SRAM slot
sends), so tables compare in a canonical order: CAM rows by (post, key, type, code), SRAM rows by
(source, chip, core mask, key), cores by (chip, core).
"""

from __future__ import annotations

import numpy as np

from neurocc.compiler.tables import CoreConfig, RoutingTables


def canonical_tables(tables: RoutingTables) -> RoutingTables:
    """A copy with CAM and SRAM rows in canonical order and cores sorted by (chip, core)."""
    cam = np.lexsort((tables.cam_code, tables.cam_type, tables.cam_key, tables.cam_post))
    sram = np.lexsort((tables.sram_key, tables.sram_cores, tables.sram_chip, tables.sram_src))
    cores = {k: CoreConfig(c.chip, c.core, int(c.parameter_class),
                           {n: (int(v[0]), int(v[1])) for n, v in sorted(c.biases.items())})
             for k, c in sorted(tables.cores.items())}

    def ints(a: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        return a[order] if order is not None else a.copy()

    return RoutingTables(
        target=tables.target, chips=int(tables.chips), cores_per_chip=int(tables.cores_per_chip),
        neurons_per_core=int(tables.neurons_per_core), syn_types=tuple(tables.syn_types),
        populations=[(n, int(s)) for n, s in tables.populations],
        input_populations=[(n, int(s)) for n, s in tables.input_populations],
        neuron_hw=ints(tables.neuron_hw),
        cam_post=ints(tables.cam_post, cam), cam_key=ints(tables.cam_key, cam),
        cam_type=ints(tables.cam_type, cam), cam_code=ints(tables.cam_code, cam),
        sram_src=ints(tables.sram_src, sram), sram_key=ints(tables.sram_key, sram),
        sram_chip=ints(tables.sram_chip, sram), sram_cores=ints(tables.sram_cores, sram),
        cores=cores, outputs=list(tables.outputs))


def tables_equal(a: RoutingTables, b: RoutingTables) -> bool:
    """Equality up to the (meaningless) order of CAM rows, SRAM rows and cores."""
    a, b = canonical_tables(a), canonical_tables(b)
    scalars = ("target", "chips", "cores_per_chip", "neurons_per_core", "syn_types",
               "populations", "input_populations", "outputs", "cores")
    arrays = ("neuron_hw", "cam_post", "cam_key", "cam_type", "cam_code",
              "sram_src", "sram_key", "sram_chip", "sram_cores")
    return all(getattr(a, s) == getattr(b, s) for s in scalars) and \
        all(np.array_equal(getattr(a, s), getattr(b, s)) for s in arrays)


def population_offsets(pops: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    """(first global index, size) of every population of a (name, size) list."""
    out, start = {}, 0
    for name, size in pops:
        out[name] = (start, size)
        start += size
    return out
