import numpy as np

from neurocc.compiler.tables import RoutingTables, delivered_synapses


def brute_force(t: RoutingTables) -> list[tuple]:
    """Straight loops over every SRAM row, destination core and CAM row."""
    out = []
    for s in range(t.sram_src.size):
        for core in range(t.cores_per_chip):
            if not (t.sram_cores[s] >> core) & 1:
                continue
            dest = t.sram_chip[s] * t.cores_per_chip + core
            for c in range(t.cam_post.size):
                if t.cam_post[c] // t.neurons_per_core == dest and t.cam_key[c] == t.sram_key[s]:
                    out.append((t.sram_src[s], t.cam_post[c], t.cam_type[c], t.cam_code[c]))
    return sorted(out)


def random_tables(seed: int) -> RoutingTables:
    rng = np.random.default_rng(seed)
    npc, cpc, chips = 4, 2, 2
    n_hw = chips * cpc * npc
    n_cam, n_sram = 30, 12
    return RoutingTables(
        target="test", chips=chips, cores_per_chip=cpc, neurons_per_core=npc, syn_types=("e", "i"),
        cam_post=rng.integers(0, n_hw, n_cam), cam_key=rng.integers(0, 5, n_cam),
        cam_type=rng.integers(0, 2, n_cam), cam_code=rng.integers(1, 16, n_cam),
        sram_src=rng.integers(-3, n_hw, n_sram), sram_key=rng.integers(0, 5, n_sram),
        sram_chip=rng.integers(0, chips, n_sram), sram_cores=rng.integers(0, 2 ** cpc, n_sram))


def test_delivered_synapses_matches_brute_force_join():
    for seed in range(20):
        t = random_tables(seed)
        d = delivered_synapses(t)
        got = sorted(zip(d.src, d.post, d.syn_type, d.code))
        assert got == brute_force(t)


def test_key_reaches_only_cores_in_mask_and_aliasing_shows_both_sources():
    t = RoutingTables(target="t", chips=1, cores_per_chip=2, neurons_per_core=2, syn_types=("e",),
                      cam_post=np.array([0, 2]), cam_key=np.array([7, 7]),
                      cam_type=np.array([0, 0]), cam_code=np.array([1, 1]),
                      sram_src=np.array([3, -1]), sram_key=np.array([7, 7]),
                      sram_chip=np.array([0, 0]), sram_cores=np.array([0b01, 0b01]))
    d = delivered_synapses(t)
    # both sources reach neuron 0 (core 0) through the same key: aliasing is visible; core 1 gets none
    assert sorted(zip(d.src.tolist(), d.post.tolist())) == [(-1, 0), (3, 0)]
