"""Every file the project writes, and the user cache: regular files only, never a link or special file replaced,
nothing half-written left behind, folders locked while one process writes them.

The read side (regular files, size and nesting bounds) is `llmcore.inputs`; this module is the write side.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from llmcore.inputs import InputError, file_kind

CACHE_ENV = "LLM_LANDSCAPE_CACHE"  # overrides the user cache folder (tests, shared machines)
DATA_ENV = "LLM_LANDSCAPE_DATA"  # overrides the user data folder (models trained or uploaded in the dashboard)
LOCK_FILE = ".llm-landscape.lock"
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # atomic_write's temporary files: .<name>.<random>.tmp


class FolderBusy(InputError):
    """Another process holds the folder's lock; the message names its pid."""


class WriteRefused(PermissionError):
    """A write this process refuses by its own rule (`refuse_writes_when`); caches that cannot be written are
    computed again next time, as for any folder that cannot be written."""


_WRITE_CHECKS: list[Callable[[Path], str | None]] = []


def refuse_writes_when(check: Callable[[Path], str | None]) -> None:
    """Ask `check(path)` before every write (a file, a lock): a message it returns refuses the write with
    WriteRefused. The dashboard's classroom mode adds one, so that nothing a visitor's page runs writes a file."""
    if check not in _WRITE_CHECKS:
        _WRITE_CHECKS.append(check)


def file_mode() -> int:
    """The mode a new file gets under this process's umask (mkstemp's temp files are 0600 until given this)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def check_write_target(path: Path) -> Path:
    """`path` back if a regular file may be written there: it is absent or a regular file (never a symbolic link,
    FIFO, socket, device or folder, which a rename would replace), and its folder is a folder or can be made."""
    path = Path(path)
    if str(path) in ("", "."):
        raise InputError("an empty path is not a file name")
    for check in _WRITE_CHECKS:
        if reason := check(path):
            raise WriteRefused(reason)
    kind = file_kind(path, follow=False)
    if kind not in (None, "a regular file"):
        raise InputError(f"{path} is {kind}; only regular files are written, and nothing else is replaced")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"{path}: {parent} is not a folder")
            break
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Write a regular file in full or not at all: a temp file in the same folder, fsync, then a rename over the
    target, which must be absent or a regular file (checked again just before the rename)."""
    path = check_write_target(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_write_target(path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_into(folder: Path, name: str, data: bytes, error: type[Exception]) -> Path:
    """Write `name` into `folder` atomically (a link, FIFO or folder of that name is never replaced); a refusal is
    raised as `error`, naming the path."""
    path = Path(folder) / name
    try:
        atomic_write(path, data)
    except InputError as e:
        raise error(f"{path}: cannot be written ({e})") from None
    return path


def remove_own_file(path: Path) -> bool:
    """Delete `path` if it is a regular file (never a link, folder or special file); True if it was deleted."""
    if file_kind(Path(path), follow=False) != "a regular file":
        return False
    Path(path).unlink(missing_ok=True)
    return True


def remove_temp_leftovers(folder: Path) -> int:
    """Delete the temporary files an interrupted `atomic_write` left in `folder` (only names of that pattern)."""
    if not Path(folder).is_dir():
        return 0
    return sum(remove_own_file(p) for p in Path(folder).iterdir() if TEMP_NAME.match(p.name))


def user_cache_dir() -> Path:
    """Where computed caches go (maps, reference states, kept traces): $LLM_LANDSCAPE_CACHE, else the platform's
    user cache folder (platformdirs), never the installed package."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("llm-landscape", appauthor=False))


def user_data_dir() -> Path:
    """Where the dashboard keeps what users make (uploaded and trained models, edited worlds): $LLM_LANDSCAPE_DATA,
    else the platform's user data folder (platformdirs), never the installed package."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("llm-landscape", appauthor=False))


def is_installed(path: Path) -> bool:
    """Whether `path` lies in an installed package (site-packages, or the bundled model a wheel carries): a place
    nothing is written to, whatever its permissions say."""
    import site
    import sysconfig

    roots = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")} | {Path(p) for p in site.getsitepackages()}
    roots.add(Path(__file__).resolve().parent.parent / "llmcore_checkpoints")  # the wheel's copy of the model
    resolved = Path(path).resolve()
    return any(r.resolve() in (resolved, *resolved.parents) for r in roots if r.exists())


class FolderLock:
    """An advisory lock on a folder (a lock file in it holding the holder's pid), so two processes never write one
    training folder or one map cache at once. `wait=False` refuses at once with FolderBusy naming the holder;
    `wait=True` blocks until the holder is done, calling `on_wait(pid)` once first."""

    def __init__(self, folder: Path, what: str, *, wait: bool = False,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.folder, self.what, self.wait, self.on_wait = Path(folder), what, wait, on_wait
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = check_write_target(self.folder / LOCK_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), file_mode())
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"{path} is not a regular file")
            if not _try_lock(fd):
                pid, what = _holder(fd)
                if not self.wait:
                    raise FolderBusy(f"{self.folder} is in use by {what} in process {pid}; wait for it to finish or "
                                     "choose another folder")
                if self.on_wait:
                    self.on_wait(pid)
                _lock(fd)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {self.what}".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock; the file stays (removing it would race a waiter)
            self._fd = None


def _holder(fd: int) -> tuple[str, str]:
    """The lock holder's pid and what it is doing, as it wrote them into the lock file."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid, _, what = os.read(fd, 200).decode().strip().partition(" ")
    except (OSError, UnicodeDecodeError):
        pid, what = "", ""
    return pid or "unknown", what or "another process"


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _lock(fd: int) -> None:
        while not _try_lock(fd):
            import time

            time.sleep(0.5)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
