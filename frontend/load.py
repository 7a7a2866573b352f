"""Pick the right reader for a saved model and apply the options the file cannot carry."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from neurocc.compiler.errors import NeuroccError, UnsupportedError
from neurocc.compiler.ir import Network
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, check_memory

from .presets import get_preset

#: What a NIR file is read with when the user gives no ``dt``, ``reset`` or ``refractory``.
NIR_DEFAULTS = {"dt": 1e-4, "reset": "zero", "refractory": 0.0}
#: Bytes one neuron costs while a model is read and compiled (parameters, identity and composed
#: matrices, per-neuron tables), for the memory budget check before populations are built.
BYTES_PER_NEURON = 256


@dataclass(frozen=True)
class LoadOptions:
    """What a NIR file does not store and the user must choose; ``None`` means "not given".

    ``dt``: seconds per simulation step (snnTorch exports assume 1e-4 s; Norse, 1e-3 s is typical;
    Spyx counts steps, dt = 1). ``reset``: ``zero`` or ``subtract``. ``refractory``: seconds.
    A NIR file is read with :data:`NIR_DEFAULTS` for what is not given. A ``.ncl`` file states
    its own values: a given option must agree with every value the file states, and fills in
    ``reset``/``refractory`` where a population leaves them out (README, "Options the NIR file
    cannot carry"). ``max_memory``: bytes any allocation driven by the file's declared sizes may
    take (:func:`neurocc.compiler.limits.check_memory`). ``preset``: the framework that wrote a
    NIR file (:data:`neurocc.frontend.presets.PRESETS`); its dt and reset stand in for the ones
    not given, and it says how to read the file's time constants.
    """

    dt: float | None = None
    reset: str | None = None
    refractory: float | None = None
    max_memory: int = DEFAULT_MAX_MEMORY
    preset: str = "nir"

    def __post_init__(self) -> None:
        get_preset(self.preset)  # an unknown name fails here, before any file is read

    def with_nir_defaults(self) -> LoadOptions:
        """These options with the preset's values, then :data:`NIR_DEFAULTS`, in place of the
        ones not given (an explicit option wins over both)."""
        preset = get_preset(self.preset)
        defaults = {**NIR_DEFAULTS, **{key: value for key, value in
                                       (("dt", preset.dt), ("reset", preset.reset))
                                       if value is not None}}
        return replace(self, **{key: value for key, value in defaults.items()
                                if getattr(self, key) is None})


def check_neuron_memory(neurons: int, what: str, max_memory: int) -> None:
    """Refuse a model whose ``neurons`` would not fit the memory budget (before building them).

    ``neurons`` may be any Python int (a declared shape can multiply to 10^900): it is compared
    exactly and shown as a power of ten when it is too long to print.
    """
    if neurons * BYTES_PER_NEURON <= max_memory:
        return
    shown = str(neurons) if neurons < 10**15 else f"about 10^{int(math.log10(neurons))}"
    check_memory(float(min(neurons, 10**300)) * BYTES_PER_NEURON, f"{what} ({shown} neurons)",
                 max_memory)


def load_model(path: str | Path, options: LoadOptions = LoadOptions()) -> Network:
    """Read a neurocc text network (``.ncl``) or else a NIR (HDF5) file into a verified IR.

    Only regular files are read (a pipe or device is refused before it is opened), up to
    :data:`neurocc.frontend.model_file.MAX_MODEL_BYTES`. The NIR reader recognises files that are
    not HDF5 (a torch.save zip, a pickle) and says so.
    """
    path = Path(path)
    try:
        if path.suffix == ".ncl":
            if options.preset != "nir":
                raise UnsupportedError(f"--from {options.preset} applies to NIR files; a .ncl "
                                       "file states its own dt and reset", fix="leave out --from")
            from .ncl.text_format import read_text
            return read_text(path, options)
        from .nir.reader import read_nir
        return read_nir(path, options)
    except NeuroccError as err:
        _one_line(err)
        raise


#: What ``str.splitlines`` splits at: a name or node type holding one would break the message.
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def _one_line(err: NeuroccError) -> None:
    """Escape line breaks that names and values from the file carried into the error's text."""
    for attr in ("message", "where", "fix"):
        text = getattr(err, attr)
        if text:
            setattr(err, attr, _LINE_BREAKS.sub(lambda m: ascii(m.group())[1:-1], text))
