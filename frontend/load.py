"""Pick the right reader for a saved model and apply the options the file cannot carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurocc.compiler.ir import Network
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY


@dataclass(frozen=True)
class LoadOptions:
    """What a NIR file does not store and the user must choose.

    ``dt``: seconds per simulation step (snnTorch exports assume 1e-4 s; Norse, 1e-3 s is typical;
    Spyx counts steps, dt = 1). ``reset``: ``zero`` or ``subtract``. ``refractory``: seconds.
    ``max_memory``: bytes any single allocation driven by the file's declared sizes may take
    (:func:`neurocc.compiler.limits.check_memory`).
    """

    dt: float = 1e-4
    reset: str = "zero"
    refractory: float = 0.0
    max_memory: int = DEFAULT_MAX_MEMORY


def load_model(path: str | Path, options: LoadOptions = LoadOptions()) -> Network:
    """Read a neurocc text network (``.ncl``) or else a NIR (HDF5) file into a verified IR.

    The NIR reader recognises files that are not HDF5 (a torch.save zip, a pickle) and says so.
    """
    path = Path(path)
    if path.suffix == ".ncl":
        from .ncl.text_format import read_text
        return read_text(path)
    from .nir.reader import read_nir
    return read_nir(path, options)
