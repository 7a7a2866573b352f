"""Every file neurocc writes goes through here: atomic writes, and outputs that never replace the
user's files.

Rules (issue 14): a command never writes over a file it read; it never writes into an existing,
non-empty folder that is not a neurocc output folder unless ``--force``; every file is written to
a temporary file in its own folder and renamed over the target (``os.replace``), so that a crash
or Ctrl-C leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError, ModelFormatError

#: Files whose presence marks a folder as written by ``neurocc compile``.
MARKER_FILES = ("config.json", "report.json")


def write_atomic(path: str | Path, data: str | bytes, *, fix: str) -> Path:
    """Write ``data`` (text as UTF-8 with ``\\n`` line ends) to ``path`` atomically.

    ``fix`` names the CLI flag that chooses this path; it ends the error when writing fails.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc, fix) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())  # what open(path, 'w') would give
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise _write_error(path, exc, fix) from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_figure(fig: Any, path: str | Path, *, fix: str, **savefig: Any) -> Path:
    """Render a matplotlib figure in memory, then write it with :func:`write_atomic`."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **savefig)
    return write_atomic(path, buf.getvalue(), fix=fix)


def refuse_inputs(path: str | Path, inputs: Iterable[str | Path | None], *, fix: str) -> None:
    """Refuse to write ``path`` when it is one of the files the command read."""
    for source in inputs:
        if source is not None and same_file(path, source):
            raise ConfigError(f"would overwrite {source}, which this command reads",
                              where=str(path), fix=fix)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (existing or not: compared after resolving)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def prepare_output_dir(outdir: str | Path, *, force: bool = False,
                       fix: str = "choose another folder with -o", create: bool = True) -> Path:
    """Create ``outdir`` if needed and check it may be written; refuse a folder of other files.

    An existing non-empty folder must hold :data:`MARKER_FILES` (a previous neurocc output) unless
    ``force``. ``fix`` (naming the option that chose the folder) ends every error. With
    ``create`` false a missing folder is not made: its nearest existing parent must be a
    writable folder (so that a command can check its outputs before its work, and leave nothing
    behind when that work fails).
    """
    outdir = Path(outdir)
    if not create and not os.path.lexists(outdir):
        parent = _existing_parent(outdir)
        if not parent.is_dir():
            raise ConfigError(f"{parent} is not a folder", where=str(outdir), fix=fix)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{parent} is not writable", where=str(outdir), fix=fix)
        return outdir
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError("the output path exists and is not a folder", where=str(outdir),
                          fix=fix)
    if outdir.is_dir():
        if not force and _foreign(outdir):
            raise ConfigError("the output folder is not empty and was not written by neurocc "
                              f"(no {' or '.join(MARKER_FILES)})", where=str(outdir),
                              fix=f"{fix}, or pass --force to write neurocc's files into it")
    else:
        try:
            outdir.mkdir(parents=True)
        except OSError as exc:
            raise _write_error(outdir, exc, fix) from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise ConfigError("the output folder is not writable", where=str(outdir), fix=fix)
    return outdir


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if os.path.lexists(parent):
            return parent
    return Path(path.absolute().anchor)


def _foreign(folder: Path) -> bool:
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return False  # unreadable: the writability check reports it
    return bool(names) and not names & set(MARKER_FILES)


def check_regular_file(path: str | Path, *, max_bytes: int, what: str, fix: str) -> int:
    """Refuse ``path`` unless it is an existing regular file of at most ``max_bytes`` bytes
    (checked with ``os.stat`` before opening, so a FIFO or a device never blocks). Returns its
    size."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFormatError(f"{what}: file not found", where=str(path), fix=fix) from None
    except OSError as exc:
        raise ModelFormatError(f"{what}: cannot be read ({exc.strerror})", where=str(path),
                               fix=fix) from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFormatError(f"{what}: not a regular file", where=str(path), fix=fix)
    if st.st_size > max_bytes:
        from .limits import format_bytes
        raise ModelFormatError(f"{what}: {format_bytes(st.st_size)}, above the "
                               f"budget of {format_bytes(max_bytes)}", where=str(path),
                               fix=f"{fix}, or raise --max-memory")
    return int(st.st_size)


def _write_error(path: Path, exc: OSError, fix: str) -> ConfigError:
    return ConfigError(f"cannot be written ({exc.strerror or type(exc).__name__})",
                       where=str(path), fix=fix)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
