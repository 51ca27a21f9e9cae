"""Who is the client: the one resolver of a request's client address (auth IP rules, sticky sessions,
usage logs, login throttles all ask it).

Forwarding headers are believed only from a peer inside settings.TRUSTED_PROXIES (CIDR list, empty by
default): anyone else could write them. From a trusted proxy the order is `CF-Connecting-IP`, then
`X-Real-IP`, then `X-Forwarded-For` read from the right, skipping the trusted hops (the entry a trusted
proxy appended is the address it saw; entries to its left are what the client claimed). A header value
that is not an IP address is ignored.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """'10.0.0.0/8, 127.0.0.1' → networks; ValueError names the entry that is not a CIDR range."""
    items = spec.split(",") if isinstance(spec, str) else spec
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR range") from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(spec)


def _ip(value: str | None):
    if not value:
        return None
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # v4:port
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(remote_addr: str | None, headers: Mapping[str, str]) -> str:
    """The client's address. `headers`: request.headers, or any mapping with lower-case header names."""
    networks = _trusted(tuple(settings.TRUSTED_PROXIES))
    peer = _ip(remote_addr)
    if not networks or not _is_trusted(peer, networks):
        return str(peer) if peer is not None else (remote_addr or "")
    for name in ("cf-connecting-ip", "x-real-ip"):
        if (address := _ip(headers.get(name))) is not None:
            return str(address)
    hops = [_ip(hop) for hop in (headers.get("x-forwarded-for") or "").split(",")]
    hops = [hop for hop in hops if hop is not None]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return str(hop)
    return str(hops[0]) if hops else str(peer)


class _MetaHeaders:
    """request.META read as lower-case header names, without building Django's request.headers."""

    def __init__(self, meta):
        self.meta = meta

    def get(self, name: str, default=None):
        return self.meta.get("HTTP_" + name.upper().replace("-", "_"), default)


def request_ip(request) -> str:
    """client_ip() of a Django (or DRF) request."""
    return client_ip(request.META.get("REMOTE_ADDR"), _MetaHeaders(request.META))
