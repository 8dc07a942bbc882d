"""Guards for everything that comes from outside (files, flags, uploads): nesting, BOM, numbers, sizes, links.

Each check runs before any parsing or allocation that the input could blow up, and raises `InputError` (a
ValueError) whose message states the rule; callers prefix the file and key, or wrap it in their own error class.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_DEPTH = 32  # the deepest legitimate file (a checkpoint's config.json holding a world) nests 5 levels
BOM = "\ufeff"


class InputError(ValueError):
    """An outside value that breaks a rule; the message states the rule."""


def decode_text(raw: bytes) -> str:
    """UTF-8 text without a leading byte-order mark (editors on Windows write one)."""
    text = raw.decode("utf-8")
    return text[1:] if text.startswith(BOM) else text


# One token of JSON or TOML that matters for nesting: a whole string (triple-quoted, basic with escapes, literal;
# an unclosed one ends with its line), a comment, or a bracket, dot or separator. Everything else is skipped in C.
_NESTING_TOKEN = re.compile(r'"""[\s\S]*?(?:"""|\Z)|\'\'\'[\s\S]*?(?:\'\'\'|\Z)|"(?:[^"\\\n]|\\[\s\S]|\\\Z)*(?:"|\n|\Z)'
                            r"|'[^'\n]*(?:'|\n|\Z)|#[^\n]*|[\[\]{}.,=\n]")


def text_depth(text: str, toml: bool = False) -> int:
    """The deepest nesting of [ and { in JSON or TOML text, not counting brackets inside strings or comments; for
    TOML each dot of a dotted key (`a.b.c = 1`, `[a.b.c]`) counts as a level too.

    A linear scan, so a file nested thousands of levels deep is refused before a parser sees it (Python's JSON and
    TOML parsers recurse per level, and tomllib takes quadratic time over a dotted key's parts).
    """
    depth = deepest = dots = 0
    for m in _NESTING_TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "." and toml:
            dots += 1
        if c in ",=[]{}\n":
            dots = 0
        deepest = max(deepest, depth + dots)
    return deepest


def value_depth(value: Any) -> int:
    """The nesting depth of parsed data (dicts and lists), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, (list, tuple)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((x, d + 1) for x in v)
    return deepest


def check_depth(value: Any) -> Any:
    """Parsed data back, if it nests at most MAX_DEPTH levels (TOML's dotted keys nest without brackets)."""
    if value_depth(value) > MAX_DEPTH:
        raise InputError(f"nests deeper than {MAX_DEPTH} levels")
    return value


MAX_DIGITS = 100  # a whole number's digits in any file we read: counts, seeds and offsets need at most 20


class _LongWhole:
    """A whole number of more than MAX_DIGITS digits in JSON text, kept as its length until its key is known."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _json_wholes(longs: list[_LongWhole]) -> Callable[[str], int | _LongWhole]:
    """json.loads' parse_int: int() for a number of at most MAX_DIGITS digits (int() of 4,301 raises); a longer one
    becomes a _LongWhole, also kept in `longs` (so that the parsed value is searched only when there is one)."""

    def whole(text: str) -> int | _LongWhole:
        if len(text) <= MAX_DIGITS:
            return int(text)
        digits = len(text.lstrip("-"))
        if digits <= MAX_DIGITS:
            return int(text)
        longs.append(_LongWhole(digits))
        return longs[-1]

    return whole


def _find(value: Any, hit: Callable[[Any], bool]) -> tuple[str, Any] | None:
    """The key path ('a.b.0') and value of the first leaf for which hit(leaf) is true, without recursion."""
    stack = [("", value)]
    while stack:
        path, v = stack.pop()
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else None
        if items is None:
            if hit(v):
                return path, v
            continue
        stack.extend((f"{path}.{k}" if path else str(k), x) for k, x in reversed(list(items)))
    return None


def _too_long(path: str, digits: int) -> InputError:
    where = f"[{path}]" if path else "the value"
    return InputError(f"{where} is a whole number of {digits:,} digits; at most {MAX_DIGITS} are allowed")


def parse_json(text: str) -> Any:
    """JSON text parsed after the nesting check; raises InputError for bad nesting, bad JSON or a whole number of
    more than MAX_DIGITS digits (naming its key)."""
    text = text[1:] if text.startswith(BOM) else text
    if text_depth(text) > MAX_DEPTH:
        raise InputError(f"nests deeper than {MAX_DEPTH} levels")
    longs: list[_LongWhole] = []
    try:
        value = json.loads(text, parse_int=_json_wholes(longs))
    except json.JSONDecodeError as e:
        raise InputError(f"is not valid JSON ({e})") from None
    if longs:
        path, long = _find(value, lambda v: isinstance(v, _LongWhole))
        raise _too_long(path, long.digits)
    return value


_DIGIT_RUN = re.compile(r"\d[\d_]*")


def parse_toml(text: str) -> dict:
    """TOML text parsed after the nesting check; raises InputError for bad nesting, bad TOML or a whole number of
    more than MAX_DIGITS digits (naming its key, or its line when Python cannot even read it)."""
    text = text[1:] if text.startswith(BOM) else text
    if text_depth(text, toml=True) > MAX_DEPTH:
        raise InputError(f"nests deeper than {MAX_DEPTH} levels")
    try:
        value = check_depth(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"cannot be parsed as TOML: {e}") from None
    except ValueError:  # a whole number past Python's int() limit (4,300 digits)
        line, digits = max(((i, len(m.group().replace("_", ""))) for i, ln in enumerate(text.splitlines(), 1)
                            for m in _DIGIT_RUN.finditer(ln)), key=lambda x: x[1], default=(0, 0))
        raise InputError(f"line {line} holds a whole number of {digits:,} digits; at most {MAX_DIGITS} are "
                         "allowed") from None
    long = _find(value, lambda v: is_whole(v) and abs(v) >= 10**MAX_DIGITS)
    if long is not None:
        raise _too_long(long[0], len(str(abs(long[1]))))
    return value


def is_whole(x: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and type(x).__name__ != "bool_"


def is_number(x: Any) -> bool:
    """A finite real number (Python or NumPy int or float), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and type(x).__name__ != "bool_" \
        and math.isfinite(float(x))


def whole_in_range(x: Any, name: str, lo: int, hi: int) -> int:
    """x as a Python int if it is a whole number in [lo, hi]; else InputError naming `name` and the range."""
    if not is_whole(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {x!r}")
    return int(x)


def number_in_range(x: Any, name: str, lo: float, hi: float) -> float:
    """x as a Python float if it is a finite number in [lo, hi]; else InputError naming `name` and the range."""
    if not is_number(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be a number from {lo:g} to {hi:g}, got {x!r}")
    return float(x)


def bounded(default: float, lo: float, hi: float) -> Any:
    """A dataclass field whose value must lie in [lo, hi]: a whole number when lo is an int, else a finite number.
    `check_bounded` enforces it; the range lives beside the field it bounds."""
    return field(default=default, metadata={"range": (lo, hi)})


def check_bounded(obj: Any) -> None:
    """Check (and normalise to int / float) every `bounded` field of a dataclass instance, before any work."""
    for f in fields(obj):
        if "range" in f.metadata:
            lo, hi = f.metadata["range"]
            checked = whole_in_range if isinstance(lo, int) else number_in_range
            setattr(obj, f.name, checked(getattr(obj, f.name), f.name, lo, hi))


class Shaped:
    """A dataclass of arrays that names its fields' dimensions once: SHAPES maps a field to its shape, each entry a
    dimension's name (bound by its first use), a number, or a trailing `...` for any further dimensions, e.g.
    `{"words": ("N",), "ids": ("N", "L", "k")}`. Checked after __init__, before any use."""

    SHAPES: ClassVar[dict[str, tuple]] = {}

    def __post_init__(self) -> None:
        check_dims(type(self).__name__, self.SHAPES, self)


def check_dims(owner: str, spec: dict[str, tuple], obj: Any) -> dict[str, int]:
    """The sizes `spec` binds on `obj`'s fields; ValueError naming owner, field and dimension where they disagree."""
    sizes: dict[str, int] = {}
    for name, dims in spec.items():
        shape = tuple(np.shape(getattr(obj, name)))
        rest = dims[-1] is Ellipsis if dims else False
        dims = dims[:-1] if rest else dims
        if len(shape) < len(dims) or (not rest and len(shape) != len(dims)):
            raise ValueError(f"{owner}.{name} must have {len(dims)}{'+' if rest else ''} dimensions, got shape {shape}")
        for dim, size in zip(dims, shape):
            want = sizes.setdefault(dim, size) if isinstance(dim, str) else dim
            if size != want:
                raise ValueError(f"{owner}.{name} has {dim} = {size}, but {want} elsewhere (shape {shape})")
    return sizes


def port(text: str) -> int:
    """A TCP port from a command-line flag (argparse `type=`)."""
    try:
        p = int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a port number") from None
    if not 1 <= p <= 65535:
        raise InputError(f"port {p} is out of range; use 1 to 65535")
    return p


def check_no_links(folder: Path, names: list[str] | tuple[str, ...]) -> None:
    """Refuse symbolic links among a folder's entries, so that no write or read through them leaves the folder."""
    for name in names:
        p = folder / name
        if p.is_symlink():
            raise InputError(f"{p} is a symbolic link; a checkpoint folder may hold only plain files and folders")


MAX_FILE_BYTES = 2**30  # any one file of a checkpoint; the largest model allowed needs 400 MB
MAX_HEADER_BYTES = 4 * 2**20


def read_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A safetensors file's tensors (NumPy arrays) and metadata, read by safetensors itself once the size and
    header guard (`safetensors_header`) has passed; raises InputError or safetensors' own error."""
    from safetensors import safe_open

    safetensors_header(path)
    with safe_open(path, framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def safetensors_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata only (after the same guard)."""
    from safetensors import safe_open

    safetensors_header(path)
    with safe_open(path, framework="numpy") as f:
        return dict(f.metadata() or {})


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file, after checking that the file's size is within MAX_FILE_BYTES and
    equals what the header declares (so a sparse or padded file is refused before anything hashes or reads it).
    A FIFO, socket or device is refused unopened."""
    if file_kind(path) != "a regular file":
        raise InputError(f"is {file_kind(path) or 'missing'}; only regular files are read")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"is {size:,} bytes; a checkpoint file may be at most {MAX_FILE_BYTES:,}")
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise InputError("cannot be read as safetensors (bad header length)")
        try:
            header = parse_json(decode_text(f.read(n)))
        except (InputError, UnicodeDecodeError) as e:
            raise InputError(f"cannot be read as safetensors (header: {e})") from None
    if not isinstance(header, dict):
        raise InputError("cannot be read as safetensors (the header is not a JSON object)")
    offsets = [t.get("data_offsets") for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    declared = 8 + n + max([o[1] for o in offsets if isinstance(o, list) and len(o) == 2 and is_whole(o[1])],
                           default=0)
    if declared != size:
        raise InputError(f"is {size:,} bytes but its header declares {declared:,}; the file is truncated or padded")
    return header


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISLNK, "a symbolic link"))


def file_kind(path: Path, *, follow: bool = True) -> str | None:
    """'a regular file', 'a folder', 'a FIFO', 'a socket', 'a device', 'a symbolic link' (follow=False only), or
    None if nothing is there (a dangling link, followed, is nothing)."""
    try:
        mode = (os.stat if follow else os.lstat)(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return next((name for test, name in _KINDS if test(mode)), "a regular file")


def check_regular(path: Path, max_bytes: int) -> int:
    """The size of `path` if it is a regular file (a link is followed) of at most `max_bytes`; else InputError.
    A FIFO, socket or device is refused without being opened (opening a FIFO to read it waits for a writer)."""
    kind = file_kind(path)
    if kind != "a regular file":
        raise InputError(f"is {kind or 'missing'}; only regular files are read")
    size = os.stat(path).st_size
    if size > max_bytes:
        raise InputError(f"is {size:,} bytes; at most {max_bytes:,} are read")
    return size


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most `max_bytes` (checked before and while reading: a file swapped or grown in
    between is refused too, and a FIFO swapped in is opened without waiting)."""
    check_regular(path, max_bytes)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("is not a regular file; only regular files are read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputError(f"is more than {max_bytes:,} bytes; at most that many are read")
    return data


def read_json_file(path: Path, max_bytes: int) -> Any:
    """A small JSON file (a cache's or a view's), read through `read_bytes` and `parse_json`."""
    try:
        return parse_json(decode_text(read_bytes(path, max_bytes)))
    except UnicodeDecodeError as e:
        raise InputError(f"is not UTF-8 text ({e})") from None
