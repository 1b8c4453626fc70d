"""Output files: a command either writes all of its output completely or leaves the path alone.

What ``-o PATH`` does depends on what ``PATH`` is (a symlink counts as its target; the link stays):

* ``-``, ``/dev/stdout`` (also ``/dev/stderr``, ``/dev/fd/N``): that open descriptor, written
  directly (with stdout redirected to a file, replacing the file would lose the output).
* a regular file, or nothing yet: the data go to a short-named temporary file
  (``.hwcnn-<8 hex digits>.tmp``) beside the target, which then atomically replaces it. A new file
  gets the mode the umask gives (like any other tool's output); an overwritten file keeps its
  mode. The parent directory must exist: it is never created here (a mistyped directory is an
  error, not a new directory tree).
* a character device or FIFO (``/dev/null``, a terminal, a named pipe): written straight into,
  never replaced.
* a directory, block device or socket: refused.

Every failure is an :class:`OutputError` naming the user's path, never a temporary file, and the
temporary file or staging directory is removed on every exit path: exceptions, a full disk,
KeyboardInterrupt, and SIGTERM (the CLI turns it into an exception). :func:`cleanup` removes
whatever an interrupt left behind in the rare case it struck between creating and registering.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import HwcnnError

#: The ``-o`` value meaning standard output.
STDOUT = "-"

#: Temporary files and staging directories that exist right now (removed by :func:`cleanup`).
_LIVE: set[str] = set()


class OutputError(HwcnnError):
    """An output path that cannot be written (it names the path as the user gave it)."""


def _fail(path: str | os.PathLike[str], problem: str) -> OutputError:
    return OutputError(f"{os.fspath(path)}: {problem}")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _temp_name(directory: str, suffix: str = ".tmp") -> str:
    """A short hidden name in ``directory`` (19 characters: any target name up to 255 works)."""
    return os.path.join(directory, f".hwcnn-{secrets.token_hex(4)}{suffix}")


def _stat(path: str | os.PathLike[str], shown: str | os.PathLike[str]) -> os.stat_result | None:
    """``os.stat`` (following symlinks); None if nothing is there, OutputError (naming
    ``shown``) on a path that cannot be looked at."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise _fail(shown, "a parent in the path is not a directory") from None
    except OSError as exc:
        raise _fail(shown, _why(exc)) from None


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    if stat.S_ISDIR(mode):
        return "directory"
    return "other"


def _resolve(path: str | os.PathLike[str]) -> str:
    """The file a path names: symlinks followed (a dangling link names its missing target)."""
    p = os.fspath(path)
    try:
        return os.path.realpath(p, strict=False)
    except OSError as exc:  # a symlink loop on some Python versions
        raise _fail(p, _why(exc)) from None


_FD_ALIAS = re.compile(r"/dev/(?:fd/(\d+)|(stdout)|(stderr))|/proc/self/fd/(\d+)")


def _fd_alias(path: str | os.PathLike[str]) -> int | None:
    """The descriptor a ``/dev/stdout``-like path means (written to directly, never replaced:
    with stdout redirected to a file, replacing that file would lose the output)."""
    m = _FD_ALIAS.fullmatch(os.fspath(path))
    if m is None:
        return None
    if m[2]:
        return 1
    if m[3]:
        return 2
    return int(m[1] or m[4])


def is_descriptor(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``-`` or names an open descriptor (``/dev/stdout``, ``/dev/fd/3``)."""
    return os.fspath(path) == STDOUT or _fd_alias(path) is not None


def check_output(path: str | os.PathLike[str]) -> None:
    """Raise OutputError now if writing ``path`` later is bound to fail (called before work)."""
    if os.fspath(path) == STDOUT or _fd_alias(path) is not None:
        return
    st = _stat(path, path)
    if st is not None:
        kind = _kind(st)
        if kind == "directory":
            raise _fail(path, "is a directory")
        if kind == "other":
            raise _fail(path, "is not a regular file, character device or FIFO")
        return
    parent = os.path.dirname(_resolve(path)) or "."  # of a dangling symlink's target, too
    shown = parent if os.path.islink(path) else _shown_parent(path)
    pst = _stat(parent, path)
    if pst is None:
        raise _fail(path, f"directory {shown} does not exist")
    if not stat.S_ISDIR(pst.st_mode):
        raise _fail(path, f"{shown} is not a directory")


def _shown_parent(path: str | os.PathLike[str]) -> str:
    parent = os.path.dirname(os.fspath(path).rstrip("/"))
    return parent or "."


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer); one function so tests can slow it down."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` as the module docstring describes; returns ``Path(path)``."""
    shown = os.fspath(path)
    fd = 1 if shown == STDOUT else _fd_alias(shown)
    if fd == 1:
        _write_stdout(data)
    elif fd is not None:
        _write_fd(shown, fd, data)
    else:
        check_output(path)
        st = _stat(path, shown)
        if st is not None and _kind(st) == "stream":
            _write_stream(shown, data)
        else:
            _replace_file(shown, _resolve(path), data, st)
    return Path(shown)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends); see :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", None)
        if out is None:  # a text-only stream (some test harnesses)
            sys.stdout.write(data.decode("utf-8", errors="replace"))
        else:
            out.write(data)
            out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _fail("standard output", _why(exc)) from None


def _write_fd(shown: str, fd: int, data: bytes) -> None:
    if fd == 2:
        sys.stderr.flush()
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise _fail(shown, f"cannot write: {_why(exc)}") from None


def _write_stream(shown: str, data: bytes) -> None:
    """Character device or FIFO: open without creating or truncating, write, close."""
    try:
        fd = os.open(shown, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _fail(shown, f"cannot open: {_why(exc)}") from None
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise _fail(shown, f"cannot write: {_why(exc)}") from None
    finally:
        os.close(fd)


def _replace_file(shown: str, target: str, data: bytes, old: os.stat_result | None) -> None:
    """Temporary file beside ``target``, then ``os.replace`` (the old file's mode is kept)."""
    directory = os.path.dirname(target) or "."
    tmp, fd = _create_temp(shown, directory)
    try:
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                _keep_owner(fd, old)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        raise _fail(shown, f"cannot write: {_why(exc)}") from None
    finally:
        _remove(tmp)


def _create_temp(shown: str, directory: str) -> tuple[str, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = _temp_name(directory)
        _LIVE.add(tmp)  # before it exists: an interrupt right after creation still finds it
        try:
            return tmp, os.open(tmp, flags, 0o666)  # 0o666 & ~umask, like any new file
        except FileExistsError:
            _LIVE.discard(tmp)
        except BaseException as exc:
            _LIVE.discard(tmp)
            if isinstance(exc, OSError):
                raise _fail(shown, f"cannot write: {_why(exc)}") from None
            raise
    raise _fail(shown, "cannot create a temporary file beside it")


def _keep_owner(fd: int, old: os.stat_result) -> None:
    """As root, the replacement keeps the old file's owner (others cannot change it anyway)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError:
            pass


def _remove(name: str) -> None:
    """Remove a temporary file or staging directory if it is still there; forget it."""
    try:
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            os.unlink(name)
    except FileNotFoundError:
        pass
    except OSError:
        return  # stays registered: cleanup() tries again
    _LIVE.discard(name)


def cleanup() -> None:
    """Remove every temporary file and staging directory still registered (interrupt paths)."""
    for name in sorted(_LIVE):
        _remove(name)


def check_output_dir(path: str | os.PathLike[str]) -> None:
    """Raise OutputError now unless ``path`` is ``-``, a directory, or a new name in one."""
    if os.fspath(path) == STDOUT:
        return
    target = _resolve(path)
    st = _stat(target, path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise _fail(path, "is not a directory")
    if st is None:
        pst = _stat(os.path.dirname(target) or ".", path)
        if pst is None or not stat.S_ISDIR(pst.st_mode):
            raise _fail(path, f"directory {_shown_parent(path)} does not exist")


def write_files_atomic(out_dir: str | os.PathLike[str], files: Mapping[str, bytes | str], *,
                       create: bool = True) -> list[Path]:
    """Write several files into ``out_dir``: all are staged first, then moved in place.

    If ``out_dir`` does not exist and ``create`` is true, it is created, but only once every
    file is complete: the files are staged in a hidden directory beside it, which is then
    renamed to ``out_dir`` (its parent must exist). A failure or interrupt leaves no
    directory at all. If ``out_dir`` exists, the files are staged inside it and each replaces
    its old version atomically (existing files keep their modes). Names may contain ``/``.
    """
    shown = os.fspath(out_dir)
    check_output_dir(out_dir)
    target = _resolve(out_dir)
    st = _stat(target, shown)
    if st is None and not create:
        raise _fail(shown, "directory does not exist")
    final_dir = Path(target)
    try:
        with _staging(shown, str(final_dir) if st is not None else
                      (os.path.dirname(target) or ".")) as stage:
            for name, content in files.items():
                data = content.encode("utf-8") if isinstance(content, str) else content
                dest = stage / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                old = _stat(final_dir / name, shown) if st is not None else None
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                try:
                    if old is not None and stat.S_ISREG(old.st_mode):
                        os.fchmod(fd, stat.S_IMODE(old.st_mode))
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if st is None:
                os.replace(stage, final_dir)  # the whole directory appears at once
            else:
                for name in files:
                    dest = final_dir / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if dest.is_symlink():  # replace the link's target, keep the link
                        dest = Path(_resolve(dest))
                    os.replace(stage / name, dest)
    except OSError as exc:
        raise _fail(shown, f"cannot write: {_why(exc)}") from None
    return [Path(shown) / name for name in files]


@contextmanager
def _staging(shown: str, where: str) -> Iterator[Path]:
    """A fresh hidden directory in ``where`` (mode from the umask), removed on every exit."""
    for _ in range(100):
        stage = _temp_name(where, suffix=".stage")
        _LIVE.add(stage)
        try:
            os.mkdir(stage, 0o777)
            break
        except FileExistsError:
            _LIVE.discard(stage)
        except BaseException as exc:
            _LIVE.discard(stage)
            if isinstance(exc, OSError):
                raise _fail(shown, f"cannot write: {_why(exc)}") from None
            raise
    else:
        raise _fail(shown, "cannot create a staging directory")
    try:
        yield Path(stage)
    finally:
        _remove(stage)
