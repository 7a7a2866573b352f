"""Check the external spike trains given to a simulator against the network's input populations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurocc.compiler.errors import SimulationError
from neurocc.compiler.ir import Network


def normalise_inputs(net: Network, inputs: Mapping[str, Any] | Any,
                     steps: int | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Return ``({input name: bool array (batch, T, size)}, T)`` or raise SimulationError.

    ``inputs`` maps each input population to an array ``(batch, T, size)`` or ``(T, size)``
    (batch 1); a bare array is accepted when the network has exactly one input. Values must be
    spikes: 0 or 1 (or booleans), since a spiking source delivers amplitude 1 per step.
    ``steps`` gives ``T`` for a network without inputs and must agree with the arrays otherwise.
    """
    named = _by_name(net, inputs)
    arrays: dict[str, np.ndarray] = {}
    for name, value in named.items():
        arrays[name] = _spike_array(name, value, net.populations[name].size)
    if not arrays:
        if steps is None or steps < 1:
            raise SimulationError(
                "the network has no input population, so the number of steps is unknown",
                where=net.name, fix="pass steps=T (a positive number of time steps)")
        return {}, int(steps)
    shapes = {name: a.shape[:2] for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise SimulationError(
            f"inputs disagree on (batch, steps): {shapes}", where=net.name,
            fix="give every input population the same batch size and number of steps")
    n_steps = next(iter(shapes.values()))[1]
    if steps is not None and steps != n_steps:
        raise SimulationError(f"steps={steps} but the inputs have {n_steps} steps",
                              where=net.name, fix="leave steps out when inputs are given")
    return arrays, n_steps


def _by_name(net: Network, inputs: Mapping[str, Any] | Any) -> dict[str, Any]:
    if not isinstance(inputs, Mapping):
        if len(net.inputs) != 1:
            raise SimulationError(
                f"a single array was given but the network has {len(net.inputs)} inputs "
                f"{net.inputs}", where=net.name,
                fix="pass a dict {input population name: array (batch, T, size)}")
        return {net.inputs[0]: inputs}
    unknown = sorted(set(inputs) - set(net.inputs))
    if unknown:
        raise SimulationError(f"unknown input populations {unknown}", where=net.name,
                              fix=f"the network's inputs are {net.inputs}")
    missing = [name for name in net.inputs if name not in inputs]
    if missing:
        raise SimulationError(f"no spike trains given for inputs {missing}", where=net.name,
                              fix="give an array (batch, T, size) for every input population "
                                  "(zeros for a silent one)")
    return {name: inputs[name] for name in net.inputs}


def _spike_array(name: str, value: Any, size: int) -> np.ndarray:
    where = f"input {name!r}"
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"cannot be read as an array ({exc})", where=where,
                              fix="pass a numpy or JAX array (batch, T, size)") from exc
    given = array.shape
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[2] != size:
        raise SimulationError(
            f"has shape {given}, expected (batch, T, {size}) or (T, {size})", where=where,
            fix=f"the last axis must hold the population's {size} channels")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise SimulationError(f"has shape {given}: no batch entry or no time step",
                              where=where, fix="give at least one sequence of at least one step")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
        raise SimulationError(
            "holds values other than 0 and 1; a spike has amplitude 1 per step", where=where,
            fix="binarise the input (e.g. counts > 0) or split larger counts over steps")
    return array.astype(bool)
