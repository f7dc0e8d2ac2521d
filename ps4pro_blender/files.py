"""Files: reading what users (or strangers) hand us safely, and writing ours atomically.

Standard library only; both sides use it (the Blender side reads PLYs with it).

Writing: every output goes through :func:`atomic_path`, so a crash, a cancel or a full disk never
leaves a half-written file under the real name; something that looks finished is finished.

A path in a dataset or a snapshot may name a FIFO, a device or a socket, whose ``open`` or
``read`` blocks forever or never ends, so every reader opens through :func:`open_regular`. It
opens without blocking and then checks the *opened* descriptor, so nothing can swap a FIFO in
between a check and the open.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile

try:  # not on Windows, where FIFOs do not appear in the file system anyway
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


class NotARegularFile(OSError):
    """The path exists but is a folder, FIFO, device or socket."""


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path, mode: str = "rb"):
    """A binary file object for reading ``path``, which must be a regular file (symlinks to one are
    fine). Raises ``FileNotFoundError`` or :class:`NotARegularFile` (both ``OSError``)."""
    if mode != "rb":
        raise ValueError("open_regular only reads (mode 'rb')")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(os.fspath(path), flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"{os.fspath(path)} is {kind_of(st.st_mode)}, not a regular file")
        if fcntl is not None and getattr(os, "O_NONBLOCK", 0):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class TooLarge(OSError):
    """The file is larger than its reader accepts."""


def read_bytes(path, limit: int) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes (:class:`TooLarge` otherwise)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise TooLarge(f"{os.fspath(path)} is {size:,} bytes; at most {limit:,} are read")
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise TooLarge(f"{os.fspath(path)} is over {limit:,} bytes; at most {limit:,} are read")
    return data


MAX_IMAGE_BYTES = 1 << 30


def in_memory(path, limit: int = MAX_IMAGE_BYTES) -> io.BytesIO:
    """The file's bytes as a file object, for decoders (Pillow) that trust the lengths inside a
    file: a PNG chunk that claims 4 GB makes Pillow ask a real file for 4 GB in one read, which
    Python allocates up front, while a BytesIO returns only what is there."""
    return io.BytesIO(read_bytes(path, limit))


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends
    without an exception, removed otherwise. The folder is made if needed. ``suffix`` keeps the
    extension for writers that choose the format by it (Pillow)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide outputs from other users of a shared folder
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
