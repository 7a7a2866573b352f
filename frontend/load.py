"""Pick the right reader for a saved model and apply the options the file cannot carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neurocc.compiler.errors import ModelFormatError
from neurocc.compiler.ir import Network

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class LoadOptions:
    """What a NIR file does not store and the user must choose.

    ``dt``: seconds per simulation step (snnTorch exports assume 1e-4 s; Norse, 1e-3 s is typical;
    Spyx counts steps, dt = 1). ``reset``: ``zero`` or ``subtract``. ``refractory``: seconds.
    """

    dt: float = 1e-4
    reset: str = "zero"
    refractory: float = 0.0


def load_model(path: str | Path, options: LoadOptions = LoadOptions()) -> Network:
    """Read a NIR (HDF5) file or a neurocc text network (``.ncl``) into a verified IR."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError("file not found", where=str(path),
                               fix="check the path of the model file")
    with path.open("rb") as fh:
        head = fh.read(len(HDF5_MAGIC))
    if head == HDF5_MAGIC:
        from .nir_reader import read_nir
        return read_nir(path, options)
    if head.startswith(b"PK\x03\x04"):
        raise ModelFormatError(
            "not a NIR file but a zip archive (what torch.save writes)", where=str(path),
            fix="export the network to NIR (e.g. snntorch.export_to_nir + nir.write) and pass "
                "that file")
    if path.suffix == ".ncl":
        from .text_format import read_text
        return read_text(path)
    raise ModelFormatError(
        f"not a NIR (HDF5) file nor a neurocc text network (first bytes {head[:4]!r})",
        where=str(path),
        fix="export the model with nir.write(...) from your training framework, "
            "or write it in the .ncl text format")
