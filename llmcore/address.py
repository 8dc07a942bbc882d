"""Addresses a server may listen on, checked before it starts (an outside input like any flag): an empty,
malformed, shorthand or unresolvable one is refused with the rule, and any but loopback is said to open the server
to the network. Used by `llmcore dashboard` and by the dashboard's own launcher (dashboard/binding.py)."""

from __future__ import annotations

import ipaddress
import re
import socket

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
