"""Read-back: config -> hardware network -> IR with realised weights and parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurocc.backends.config.meta import ConfigMeta, ProjectionRecord
from neurocc.backends.dynapse1 import config as se1
from neurocc.backends.dynapse2 import config as se2
from neurocc.backends.readback import tables_to_network
from neurocc.backends.target import load_target
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.ir import networks_equal
from networks import full_meta, se1_tables, se2_tables


@pytest.fixture(scope="module")
def t2():
    return load_target("dynapse2")


@pytest.fixture(scope="module")
def t1():
    return load_target("dynapse1")


class Chip:
    """Independent evaluation of the circuit relations for one post core's biases."""

    def __init__(self, target, biases, options: CircuitOptions, dt: float):
        self.t, self.b, self.o, self.dt = target, biases, options, dt

    def current(self, role: str) -> float:
        spec = self.t.bias_for_role(role)
        if spec is None:
            assert role == "I_spkthr"
            return self.o.spike_threshold_current
        return self.t.bias_current(spec.name, *self.b[spec.name])

    def weight(self, type_name: str, i_w: float) -> float:
        c, st = self.t.circuit, self.t.synapse_type(type_name)
        tau_syn = st.capacitance * c.U_T / (c.kappa * self.current(st.tau_role))
        t_pulse = c.V_th * c.capacitance["pulse"] / self.current("I_pulse")
        r_m = self.current("I_gain_mem") / self.current("I_tau_mem")
        gain = self.current(st.gain_role) / self.current(st.tau_role)
        sign = 1.0 if st.sign == "excitatory" else -1.0
        return sign * i_w * r_m * tau_syn * gain * (1 - math.exp(-t_pulse / tau_syn)) / \
            (self.dt * self.o.time_scale * self.current("I_spkthr"))

    def base_sum(self, mask: int) -> float:
        return sum(self.current(f"I_w_base.{k}") for k in range(4) if (mask >> k) & 1)

    def tau_mem(self) -> float:
        c = self.t.circuit
        tau_chip = c.capacitance["mem"] * c.U_T / (c.kappa * self.current("I_tau_mem"))
        return -self.dt / math.expm1(-self.dt * self.o.time_scale / tau_chip)

    def v_leak(self) -> float:
        return self.current("I_gain_mem") / self.current("I_tau_mem") * \
            (self.current("I_dc") - self.current("I_tau_mem")) / self.current("I_spkthr")


# (projection, post row, pre col, synapse type, CAM mask, repeats, post core)
SE2_SYNAPSES = [
    ("p_in", 0, 0, "AMPA", 0b0011, 2, (0, 0)),
    ("p_in", 0, 1, "GABA", 0b0100, 1, (0, 0)),
    ("p_in", 1, 0, "AMPA", 0b1000, 1, (0, 0)),
    ("p_in", 2, 2, "AMPA", 0b0001, 1, (0, 0)),
    ("p_in", 3, 2, "AMPA", 0b0101, 1, (0, 1)),  # tag 7 on core 1 comes from channel 2
    ("p_rec", 0, 2, "NMDA", 0b0010, 1, (0, 0)),
    ("p_out", 0, 0, "AMPA", 0b1111, 1, (3, 1)),
    ("p_out", 0, 1, "SHUNT", 0b0110, 1, (3, 1)),
    ("p_out", 1, 2, "AMPA", 0b0001, 1, (3, 1)),
    ("p_out", 1, 3, "AMPA", 0b0010, 1, (3, 1)),
]


def test_se2_weights_are_mask_times_base_currents_through_the_dpi_relations(t2):
    tables, meta = se2_tables(), full_meta()
    net = tables_to_network(tables, t2, meta)
    chips = {k: Chip(t2, c.biases, meta.circuit_options, meta.dt) for k, c in tables.cores.items()}
    expected = {name: np.zeros(net.projections[name].weights.shape) for name in net.projections}
    for proj, row, col, kind, mask, repeats, core in SE2_SYNAPSES:
        chip = chips[core]
        expected[proj][row, col] = chip.weight(kind, repeats * chip.base_sum(mask))
    for name, want in expected.items():
        got = net.projections[name].weights.toarray()
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert net.projections[name].num_synapses == np.count_nonzero(want)
    assert [p.delay for p in net.projections.values()] == [0, 1, 0]


def test_se2_neuron_parameters_are_realised_from_core_biases(t2):
    tables, meta = se2_tables(), full_meta()
    net = tables_to_network(tables, t2, meta)
    hid, out = net.populations["hid"], net.populations["out"]
    cores = [(0, 0)] * 3 + [(0, 1)]
    for i, core in enumerate(cores):
        chip = Chip(t2, tables.cores[core].biases, meta.circuit_options, meta.dt)
        assert hid.params["tau_mem"][i] == pytest.approx(chip.tau_mem(), rel=1e-12)
        assert hid.params["v_leak"][i] == pytest.approx(chip.v_leak(), rel=1e-12)
    assert hid.model == out.model == "CubaLIF"
    assert list(net.populations) == ["inp", "hid", "out"]
    assert net.inputs == ["inp"] and net.outputs == ["out"]
    c = t2.circuit
    i_ref = t2.bias_current("SOIF_REFR_N", *tables.cores[3, 1].biases["SOIF_REFR_N"])
    assert out.refractory == pytest.approx(c.V_th * c.capacitance["ref"] / i_ref / 2.0)


def test_se1_weights_are_counts_times_weight_bias(t1):
    tables = se1_tables()
    options = CircuitOptions(spike_threshold_current=5e-8)
    net = tables_to_network(tables, t1, ConfigMeta(dt=1e-4, circuit_options=options))
    out_core = Chip(t1, tables.cores[3, 2].biases, options, 1e-4)
    hid_core = Chip(t1, tables.cores[0, 1].biases, options, 1e-4)
    w_exc = out_core.current("I_w.AMPA")
    got = net.projections["hid->out"].weights.toarray()
    assert got[0, 0] == pytest.approx(out_core.weight("AMPA", 3 * w_exc), rel=1e-12)
    assert got[0, 1] == pytest.approx(out_core.weight("GABA_B", out_core.current("I_w.GABA_B")),
                                      rel=1e-12)
    inp = net.projections["inp->hid"].weights.toarray()
    assert inp[0, 0] == pytest.approx(2 * inp[1, 0])  # 2 repeated entries vs 1
    assert inp[0, 1] == pytest.approx(hid_core.weight("GABA_A", hid_core.current("I_w.GABA_A")),
                                      rel=1e-12)
    assert net.projections["hid->hid"].delay == 1  # a recurrent edge gets a delay by default


def test_readback_is_deterministic_and_survives_the_file_round_trip(t1, t2, tmp_path):
    for target, tables, module in ((t2, se2_tables(), se2), (t1, se1_tables(), se1)):
        meta = ConfigMeta(dt=1e-3, projections=full_meta().projections)
        direct = tables_to_network(tables, target, meta)
        assert networks_equal(direct, tables_to_network(tables, target, meta))
        module.write_config(tmp_path / "c.json", tables, target, meta)
        dep = module.read_config(tmp_path / "c.json")
        assert networks_equal(direct, tables_to_network(dep.tables, target, dep.meta))


def test_projections_the_chip_cannot_tell_apart_merge_into_the_first(t2):
    meta = ConfigMeta(projections=full_meta().projections +
                      (ProjectionRecord("p_in2", "inp", "hid", 0),))
    net = tables_to_network(se2_tables(), t2, meta)
    assert net.projections["p_in2"].num_synapses == 0
    assert net.projections["p_in"].num_synapses == 5


def test_readback_errors_name_the_cause(t2):
    tables = se2_tables()
    del tables.cores[3, 1].biases["SOIF_LEAK_N"]
    with pytest.raises(ConfigError, match=r"core \(chip 3, core 1\) sets no bias for I_tau_mem"):
        tables_to_network(tables, t2)
    tables = se2_tables()
    del tables.cores[0, 1].biases["SYAM_W2_P"]
    with pytest.raises(ConfigError, match=r"sets no bias for I_w_base.2"):
        tables_to_network(tables, t2)
    meta = ConfigMeta(projections=full_meta().projections[:2])
    with pytest.raises(ConfigError, match="from 'hid' to 'out' but the config lists no such"):
        tables_to_network(se2_tables(), t2, meta)
    tables = se2_tables()
    tables.cam_post = np.where(tables.cam_post == 3 * 1024 + 256 + 11, 3 * 1024 + 256 + 12,
                               tables.cam_post)
    with pytest.raises(ConfigError, match="outside neuron_map"):
        tables_to_network(tables, t2)
