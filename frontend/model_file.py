"""What a model path must be before any reader opens it: an existing regular file of bounded size.

Opening a FIFO blocks until someone writes to it, and a device such as ``/dev/zero`` never ends;
both are refused from ``os.stat`` alone, before the file is opened. The size cap bounds what a
reader may pull into memory from one file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from neurocc.compiler.errors import ModelFormatError

#: Largest model file (NIR or ``.ncl``) the readers accept: 1 GiB. The largest shared export is
#: 0.3 MB; a ``.ncl`` text of a 64k-neuron network with a million synapses is about 30 MB.
MAX_MODEL_BYTES = 2**30


def check_model_file(path: Path, kind: str) -> int:
    """Raise unless ``path`` is a regular file of at most :data:`MAX_MODEL_BYTES`; return its size.

    ``kind`` names the expected format in messages (``NIR``, ``.ncl``).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFormatError("cannot read: file not found", where=str(path),
                               fix=f"check the path of the {kind} file") from None
    except OSError as err:
        raise ModelFormatError(f"cannot read the file ({err.strerror})", where=str(path),
                               fix=f"check the path of the {kind} file") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFormatError("is a directory, not a model file", where=str(path),
                               fix=f"give the path of the {kind} file itself")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFormatError("not a regular file (a pipe, socket or device), so it is not read",
                               where=str(path), fix=f"save the model to a {kind} file first")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelFormatError(f"the file is larger than {MAX_MODEL_BYTES} bytes "
                               f"({info.st_size} bytes), the most a model file may be",
                               where=str(path),
                               fix=f"check that this is the {kind} file you meant")
    return info.st_size
