"""Networks, placements, resources and routing tables the tests build, in one place.

Every test file imports its builders from here (``from networks import ...``: pytest's
``pythonpath`` puts ``tests/`` on the path); no test file imports another.
"""

from __future__ import annotations

import itertools
import os
import signal
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

import scipy.signal
import scipy.sparse as sp

from neurocc.backends.config.meta import ConfigMeta, ProjectionRecord
from neurocc.backends.target import WeightScheme
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.compiler.placement import Placement
from neurocc.compiler.placement.resources import Resources
from neurocc.compiler.tables import CoreConfig, RoutingTables

#: The repository root (the shipped example networks live in ``REPO / "examples"``).
REPO = Path(__file__).resolve().parents[1]
#: The real NIR files (``../shared/models`` beside the repository, or NEUROCC_SHARED_MODELS).
SHARED_MODELS = Path(os.environ.get("NEUROCC_SHARED_MODELS", REPO.parent / "shared" / "models"))


# -- IR networks -----------------------------------------------------------------------------------
def make_net(pops: list[tuple[str, int]], edges: list[tuple[str, str, np.ndarray]],
             inputs: list[tuple[str, int]] = ()) -> Network:
    """Inputs, LIF populations, and projections given as dense (target x source) matrices
    (delay 1 between neuron populations, so any wiring is a valid IR)."""
    net = Network(name="test")
    for name, size in inputs:
        net.add_population(make_population(name, "input", size))
    for name, size in pops:
        net.add_population(make_population(name, "LIF", size, tau_mem=0.02))
    for i, (src, dst, w) in enumerate(edges):
        net.add_projection(Projection(f"p{i}_{src}_{dst}", src, dst, sp.csr_array(w),
                                      delay=0 if net.populations[src].is_input else 1))
    return net.verify()


def random_matrix(rng, rows: int, cols: int, per_row: int) -> np.ndarray:
    w = np.zeros((rows, cols))
    for r in range(rows):
        w[r, rng.choice(cols, size=min(per_row, cols), replace=False)] = rng.uniform(0.1, 1.0)
    return w


def clustered_net(rng, clusters: int, size: int, fan_in: int, cross: int) -> tuple[Network,
                                                                                    np.ndarray]:
    """One recurrent population whose neurons form shuffled clusters (index order is useless)."""
    n = clusters * size
    label = rng.permutation(n) % clusters
    w = np.zeros((n, n))
    for v in range(n):
        same = np.flatnonzero(label == label[v])
        w[v, rng.choice(same, fan_in, replace=False)] = 1.0
        w[v, rng.choice(n, cross, replace=False)] = 1.0
    return make_net([("h", n)], [("h", "h", w)]), label


# -- placement -------------------------------------------------------------------------------------
def toy_resources(chips=1, cores=4, npc=4, cam=64, sram=4, keys=2048, grid=None) -> Resources:
    xy = np.array(grid if grid is not None else [(c, 0) for c in range(chips)])
    return Resources(name="toy", chips=chips, chip_xy=xy, cores_per_chip=cores,
                     neurons_per_core=npc, cam_per_neuron=cam, sram_per_neuron=sram,
                     addressing="tag", key_count=keys, hop_range=(-7, 7),
                     syn_types=("exc", "inh"), weights=WeightScheme("base_sum", 4, 4, True),
                     sram_entries=sram)


def manual_placement(target, chip, core, slot) -> Placement:
    """A placement written by hand (the router must cope with any valid one)."""
    chip, core, slot = (np.asarray(a, dtype=np.int64) for a in (chip, core, slot))
    return Placement(chip=chip, core=core, slot=slot, neuron_class=np.zeros(chip.size, int),
                     cores_per_chip=target.cores_per_chip,
                     neurons_per_core=target.neurons_per_core, objective=0.0, bound=0.0,
                     status="MANUAL", method="manual", seconds=0.0)


# -- independent recomputations (plain loops, not the code under test) -----------------------------
def reached(problem, core_of) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for s, p in zip(problem.pre.tolist(), problem.post.tolist()):
        out.setdefault(s, set()).add(int(core_of[p]))
    return out


def events_by_hand(problem, core_of, hops, cores_per_chip, hop_cost) -> float:
    total = 0.0
    for s, cores in reached(problem, core_of).items():
        for k in cores:
            h = 0 if s >= problem.n_neurons else hops[core_of[s] // cores_per_chip,
                                                     k // cores_per_chip]
            total += problem.rate[s] * (1 + hop_cost * h)
    return total


def brute_force_optimum(problem, res: Resources, hop_cost: float) -> float:
    """Least events over every assignment within the core capacities with one class per core
    (key and SRAM limits relaxed, so it is at most the true optimum)."""
    caps, best = res.core_capacity(), np.inf
    for assign in itertools.product(range(res.total_cores), repeat=problem.n_neurons):
        core_of = np.array(assign)
        if np.any(np.bincount(core_of, minlength=res.total_cores) > caps):
            continue
        if any(np.unique(problem.neuron_class[core_of == k]).size > 1 for k in set(assign)):
            continue
        best = min(best, events_by_hand(problem, core_of, res.hops(), res.cores_per_chip,
                                        hop_cost))
    return best


# -- routing tables of the two chips ---------------------------------------------------------------
SE2_ROLE_BIASES = ("SOIF_GAIN_N", "SOIF_LEAK_N", "SOIF_REFR_N", "SOIF_DC_P", "SOIF_SPKTHR_P",
                   "SYPD_EXT_N", "DEAM_ETAU_P", "DEAM_EGAIN_P", "DEGA_ITAU_P", "DEGA_IGAIN_P",
                   "DENM_ETAU_P", "DENM_EGAIN_P", "DESC_ITAU_P", "DESC_IGAIN_P",
                   "SYAM_W0_P", "SYAM_W1_P", "SYAM_W2_P", "SYAM_W3_P")


SE1_ROLE_BIASES = ("IF_THR_N", "IF_TAU1_N", "IF_RFR_N", "IF_DC_P", "PULSE_PWLK_P",
                   "NPDPIE_TAU_F_P", "NPDPIE_THR_F_P", "PS_WEIGHT_EXC_F_N", "NPDPIE_TAU_S_P",
                   "NPDPIE_THR_S_P", "PS_WEIGHT_EXC_S_N", "NPDPII_TAU_F_P", "NPDPII_THR_F_P",
                   "PS_WEIGHT_INH_F_N", "NPDPII_TAU_S_P", "NPDPII_THR_S_P", "PS_WEIGHT_INH_S_N")


def hw(chip: int, core: int, slot: int) -> int:
    """Hardware neuron id on a board of 4-core, 256-neuron chips."""
    return (chip * 4 + core) * 256 + slot


def role_biases(seed: int, names=SE2_ROLE_BIASES, coarse=(1, 5)) -> dict[str, tuple[int, int]]:
    """A seeded (coarse, fine) for every bias in ``names``, coarse in ``range(*coarse)``."""
    rng = np.random.default_rng(seed)
    return {n: (int(rng.integers(*coarse)), int(rng.integers(20, 250))) for n in names}


def se2_tables() -> RoutingTables:
    """3 input channels -> 4 hidden neurons on chip 0 (two cores) -> 2 outputs on chip 3.

    Tag 7 is reused: channel 0 sends it to core 0, channel 2 to core 1 (tags only need to be
    unique per receiving core). Hidden neuron 0 repeats a CAM entry (weights add); hidden neuron 2
    also feeds back to hidden neuron 0 (recurrent, NMDA); channel 2 has two destinations.
    """
    AMPA, GABA, NMDA, SHUNT = range(4)  # the order of the target's synapse types
    h = [hw(0, 0, 1), hw(0, 0, 2), hw(0, 0, 3), hw(0, 1, 7)]
    o = [hw(3, 1, 10), hw(3, 1, 11)]
    cam = [(h[0], 7, AMPA, 0b0011), (h[0], 7, AMPA, 0b0011), (h[0], 8, GABA, 0b0100),
           (h[0], 50, NMDA, 0b0010), (h[1], 7, AMPA, 0b1000), (h[2], 9, AMPA, 0b0001),
           (h[3], 7, AMPA, 0b0101), (o[0], 100, AMPA, 0b1111), (o[0], 101, SHUNT, 0b0110),
           (o[1], 102, AMPA, 0b0001), (o[1], 103, AMPA, 0b0010)]
    sram = [(-1, 7, 0, 0b0001), (-2, 8, 0, 0b0001), (-3, 9, 0, 0b0001), (-3, 7, 0, 0b0010),
            (h[0], 100, 3, 0b0010), (h[1], 101, 3, 0b0010), (h[2], 102, 3, 0b0010),
            (h[2], 50, 0, 0b0001), (h[3], 103, 3, 0b0010)]
    cam, sram = np.array(cam).T, np.array(sram).T
    cores = {(0, 0): CoreConfig(0, 0, 0, role_biases(0)),
             (0, 1): CoreConfig(0, 1, 1, role_biases(1)),
             (3, 1): CoreConfig(3, 1, 2, role_biases(2))}
    return RoutingTables(
        target="dynapse2", chips=4, cores_per_chip=4, neurons_per_core=256,
        syn_types=("AMPA", "GABA", "NMDA", "SHUNT"), populations=[("hid", 4), ("out", 2)],
        input_populations=[("inp", 3)], neuron_hw=np.array(h + o), cam_post=cam[0],
        cam_key=cam[1], cam_type=cam[2], cam_code=cam[3], sram_src=sram[0], sram_key=sram[1],
        sram_chip=sram[2], sram_cores=sram[3], cores=cores, outputs=["out"])


def full_meta() -> ConfigMeta:
    return ConfigMeta(dt=1e-3, circuit_options=CircuitOptions(time_scale=2, pulse_width=2e-5),
                      projections=(ProjectionRecord("p_in", "inp", "hid", 0),
                                   ProjectionRecord("p_rec", "hid", "hid", 1),
                                   ProjectionRecord("p_out", "hid", "out", 0)),
                      latches={hw(0, 0, 1): {"latch_so_dc": True, "latch_de_mux": False}})


def se1_tables(virtual: bool = True) -> RoutingTables:
    """2 FPGA inputs -> 3 hidden neurons (chip 0, core 1) -> 2 outputs (chip 3, core 2).

    Keys are ``virtual_core * 256 + slot``. Hidden neuron 1 sends with virtual core 3 when
    ``virtual``; hidden neuron 0 reaches output 0 through 3 repeated CAM entries (weight 3),
    hidden neuron 2 also feeds hidden neuron 0 back (NMDA).
    """
    AMPA, NMDA, GABA_A, GABA_B = range(4)  # the order of the target's synapse types
    h = [hw(0, 1, 5), hw(0, 1, 6), hw(0, 1, 7)]
    o = [hw(3, 2, 1), hw(3, 2, 2)]
    k1 = (3 if virtual else 1) * 256 + 6
    cam = [(h[0], 276, AMPA), (h[0], 276, AMPA), (h[0], 533, GABA_A), (h[0], 263, NMDA),
           (h[1], 276, AMPA), (h[2], 533, NMDA), (o[0], 261, AMPA), (o[0], 261, AMPA),
           (o[0], 261, AMPA), (o[0], k1, GABA_B), (o[1], 263, AMPA)]
    sram = [(-1, 276, 0, 0b0010), (-2, 533, 0, 0b0010), (h[0], 261, 3, 0b0100),
            (h[1], k1, 3, 0b0100), (h[2], 263, 3, 0b0100), (h[2], 263, 0, 0b0010)]
    cam, sram = np.array(cam).T, np.array(sram).T
    return RoutingTables(
        target="dynapse1", chips=4, cores_per_chip=4, neurons_per_core=256,
        syn_types=("AMPA", "NMDA", "GABA_A", "GABA_B"), populations=[("hid", 3), ("out", 2)],
        input_populations=[("inp", 2)], neuron_hw=np.array(h + o), cam_post=cam[0],
        cam_key=cam[1], cam_type=cam[2], cam_code=np.ones(cam.shape[1], dtype=np.int64),
        sram_src=sram[0], sram_key=sram[1], sram_chip=sram[2], sram_cores=sram[3],
        cores={(0, 1): CoreConfig(0, 1, 0, role_biases(0, SE1_ROLE_BIASES, (2, 8))),
               (3, 2): CoreConfig(3, 2, 1, role_biases(1, SE1_ROLE_BIASES, (2, 8)))},
        outputs=["out"])


# -- convolution -----------------------------------------------------------------------------------
def reference_conv(x, weight, stride=1, pads=0, dilation=1, groups=1):
    """PyTorch-style convolution written directly with scipy.signal.correlate.

    ``pads`` is an int or one ``(before, after)`` pair per spatial axis.
    """
    c_out, cin_group, *kernel = weight.shape
    ndim = len(kernel)
    stride = (stride,) * ndim if np.isscalar(stride) else tuple(stride)
    dilation = (dilation,) * ndim if np.isscalar(dilation) else tuple(dilation)
    pads = [(pads, pads)] * ndim if np.isscalar(pads) else list(pads)
    xp = np.pad(x, [(0, 0), *pads])
    out = []
    for co in range(c_out):
        group = co // (c_out // groups)
        acc = 0.0
        for cl in range(cin_group):
            dilated = np.zeros([d * (k - 1) + 1 for k, d in zip(kernel, dilation)])
            dilated[tuple(slice(None, None, d) for d in dilation)] = weight[co, cl]
            acc = acc + scipy.signal.correlate(xp[group * cin_group + cl], dilated, mode="valid")
        out.append(acc[tuple(slice(None, None, s) for s in stride)])
    return np.stack(out)


# -- hand-written NIR files -------------------------------------------------------------------------
def write_graph(path, nodes, edges):
    """Write a NIR-layout HDF5 file by hand (strings as HDF5 strings, like the real exports)."""
    with h5py.File(path, "w") as fh:
        fh.create_dataset("version", data="0.2.0", dtype=h5py.string_dtype())
        _fill(fh.create_group("node"), {"type": "NIRGraph", "nodes": nodes, "edges": edges})
    return path


def _fill(group, node):
    for key, value in node.items():
        if key == "nodes":
            sub = group.create_group("nodes")
            for name, child in value.items():
                _fill(sub.create_group(name), child)
        elif key == "edges":
            group.create_dataset("edges", data=np.array(value, dtype=object).reshape(-1, 2),
                                 dtype=h5py.string_dtype())
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        else:
            group.create_dataset(key, data=np.asarray(value))


def lif(n, thr=1.0, **extra):
    """A NIR LIF node of ``n`` neurons (tau 10 ms, r 1, threshold ``thr``)."""
    return {"type": "LIF", "tau": np.full(n, 0.01), "r": np.ones(n), "v_leak": np.zeros(n),
            "v_threshold": np.full(n, thr), **extra}


# -- guards ----------------------------------------------------------------------------------------
@contextmanager
def strict(seconds: int = 10) -> Iterator[None]:
    """No numpy (or other) warnings, and a hang becomes a TimeoutError instead of a stuck run."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        assert not caught, [str(w.message) for w in caught]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
