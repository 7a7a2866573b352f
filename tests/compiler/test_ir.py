import numpy as np
import pytest
import scipy.sparse as sp

from neurocc.compiler.errors import IRVerifyError
from neurocc.compiler.ir import Network, Projection, make_population, networks_equal


def small_net() -> Network:
    net = Network(dt=1e-3, name="small")
    net.add_population(make_population("in", "input", 3))
    net.add_population(make_population("hid", "LIF", 4, tau_mem=0.02))
    net.add_population(make_population("out", "CubaLIF", 2, tau_mem=0.02, tau_syn=0.005))
    net.add_projection(Projection("in->hid", "in", "hid", sp.csr_array(np.ones((4, 3)))))
    net.add_projection(Projection("hid->out", "hid", "out", sp.csr_array(np.eye(2, 4))))
    net.add_projection(Projection("out->hid", "out", "hid", sp.csr_array(-np.ones((4, 2))), delay=1))
    net.outputs.append("out")
    return net


def test_verify_accepts_recurrent_net_with_delay_and_reports_counts():
    net = small_net().verify()
    assert net.neurons() == 6 and net.neurons(include_inputs=True) == 9
    assert net.synapses() == 12 + 2 + 8
    assert net.recurrent
    assert net.step_order() == ["in", "hid", "out"]
    assert net.projections["out->hid"].sign == "inhibitory"


def test_verify_rejects_cycle_without_delay():
    net = small_net()
    net.projections["out->hid"].delay = 0
    with pytest.raises(IRVerifyError, match="cycle without delay: .*hid -> out"):
        net.verify()


def test_verify_names_the_offending_index():
    net = small_net()
    net.populations["out"].params["tau_syn"][1] = -1.0
    with pytest.raises(IRVerifyError, match=r"'out'.*tau_syn\[1\] = -1.0 s is not positive"):
        net.verify()
    net = small_net()
    net.projections["hid->out"].weights.data[0] = np.nan
    with pytest.raises(IRVerifyError, match=r"hid->out.*weight \[0, 0\] is nan"):
        net.verify()


def test_verify_rejects_wrong_shape_and_dangling_edge():
    net = small_net()
    net.projections["in->hid"].weights = sp.csr_array(np.ones((3, 3)))
    with pytest.raises(IRVerifyError, match=r"shape \(3, 3\), expected .* \(4, 3\)"):
        net.verify()
    net = small_net()
    net.add_projection(Projection("x", "ghost", "hid", sp.csr_array((4, 1))))
    with pytest.raises(IRVerifyError, match="dangling edge: population 'ghost'"):
        net.verify()


def test_copy_is_deep_and_equal():
    net = small_net()
    twin = net.copy()
    assert networks_equal(net, twin)
    twin.projections["in->hid"].weights.data[0] = 5.0
    assert net.projections["in->hid"].weights.data[0] == 1.0
    assert not networks_equal(net, twin)


def test_make_population_rejects_unknown_parameter():
    with pytest.raises(IRVerifyError, match="LIF has no parameters \\['tau_syn'\\]"):
        make_population("p", "LIF", 2, tau_mem=0.01, tau_syn=0.01)
