"""Where the dashboard listens: the launcher's check of the bind address (empty, malformed or unresolvable ones are
refused; any but loopback opens the dashboard to the network, said in a warning) and of classroom mode's setting.
Light on purpose: the launcher runs it before the server starts."""

from __future__ import annotations

import ipaddress
import re
import socket

ENV = "LLM_LANDSCAPE_CLASSROOM"  # "1" (or the launcher's --classroom) turns classroom mode on; "0" or unset: off
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_address(value: str, where: str = "--server.address") -> tuple[str, bool]:
    """The address to bind (an IP address or a host name of this machine) and whether it opens the dashboard to
    the network (any address but loopback); raises ValueError naming `where` and the rule."""
    rule = "use 127.0.0.1 (this machine only) or, to open the dashboard to your network on purpose, 0.0.0.0"
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: the address is empty; {rule}")
    if value != value.strip() or len(value) > 253:
        raise ValueError(f"{where}: {value[:60]!r} is not an IP address or host name; {rule}")
    try:
        found = [ipaddress.ip_address(value)]
    except ValueError:
        found = _resolve(value, where, rule)
    if not any(_bindable(ip) for ip in found):
        raise ValueError(f"{where}: {value} is not an address of this machine, so nothing can listen on it; {rule}")
    return value, not all(loopback(ip) for ip in found)


def _resolve(name: str, where: str, rule: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a host name stands for; raises ValueError for a malformed name, a numeric shorthand ('0',
    '127.1', which the resolver would read as an address) or a name that does not resolve."""
    labels = name.rstrip(".").split(".")
    if labels[-1].isdigit() or _numeric(name):
        raise ValueError(f"{where}: {name[:60]!r} is not an IP address in full (such as 127.0.0.1); {rule}")
    if not all(_HOST_LABEL.fullmatch(p) for p in labels):
        raise ValueError(f"{where}: {name[:60]!r} is not an IP address or host name; {rule}")
    try:
        found = {a[4][0] for a in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        raise ValueError(f"{where}: the host name {name!r} does not resolve on this machine; {rule}") from None
    return [ipaddress.ip_address(a.split("%")[0]) for a in found]


def _bindable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether this machine can listen on an address (tried on a port the system picks, closed at once)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((str(ip), 0))
    except OSError:
        return False
    return True


def _numeric(name: str) -> bool:
    """Whether the C resolver would read a name as an IPv4 address in a shorthand form ('0x7f.1')."""
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return (mapped or ip).is_loopback


def open_warning(address: str, classroom: bool) -> str:
    """What the launcher prints when the dashboard listens on more than this machine."""
    who = (f"warning: the dashboard listens on {address}, so it is open to the network: anyone who can reach this "
           "machine can use it. ")
    if classroom:
        return who + ("Classroom mode is on: visitors explore every page but cannot train, upload, edit worlds or "
                      "write files; this machine (localhost) keeps everything.")
    return who + ("They can train models, upload model folders and edit worlds on this machine; add --classroom "
                  "(or set LLM_LANDSCAPE_CLASSROOM=1) so that visitors can only explore.")



def setting(value: str | None) -> bool:
    """Classroom mode from the LLM_LANDSCAPE_CLASSROOM value; raises ValueError for a value that is neither on nor
    off."""
    text = (value or "").strip().lower()
    if text in ON or text in OFF:
        return text in ON
    raise ValueError(f"{ENV}={value[:40]!r}: use 1 (classroom mode on) or 0 (off)")


def check_forwarding(environ: dict[str, str]) -> None:
    """For classroom mode: refuse FORWARDED_ALLOW_IPS='*' (uvicorn would then take any client's X-Forwarded-For,
    so a visitor could name 127.0.0.1 and pass for the teacher); raises ValueError."""
    trusted = [t.strip() for t in environ.get("FORWARDED_ALLOW_IPS", "").split(",")]
    if "*" in trusted:
        raise ValueError("FORWARDED_ALLOW_IPS='*' trusts every client's X-Forwarded-For, so classroom mode could not "
                         "tell visitors from this machine; name your proxy's address instead (loopback is trusted "
                         "by default)")
