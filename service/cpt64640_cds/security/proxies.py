"""Which peers are our own proxies (CDS_FORWARDED_ALLOW_IPS), and the id of the client request they pass on.

A proxy that may try a request on a second instance (deploy/nginx/nginx.conf: `non_idempotent` retries) sets
`X-Proxy-Request-Id` to one value per client request ($request_id), replacing any the client sent. The replay
cache takes a token seen again with the same id for that request tried again, not a replay
(security/replay_cache.py). So the header is believed only from a configured proxy's address, and only in the
shape a request id has; otherwise the request has no attempt id. It is never logged: with the token it would let
its holder pass the token once more.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

ATTEMPT_HEADER = "X-Proxy-Request-Id"
_ATTEMPT = re.compile(r"[A-Za-z0-9-]{1,64}")  # nginx's $request_id is 32 hex digits

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Addresses and networks, as gunicorn takes them for forwarded_allow_ips ("*": every IP peer). A peer that
    is not an IP address (gunicorn's unix socket: the built-in front, which does not set the header) is not one."""

    def __init__(self, entries: Iterable[str]):
        self.everyone = False
        networks: list[Network] = []
        for entry in entries:
            if entry == "*":
                self.everyone = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        self.networks = tuple(networks)

    def trusts(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack listener's view of an IPv4 proxy
        return self.everyone or any(address in network for network in self.networks)

    def attempt(self, peer: str | None, header: str | None) -> str | None:
        """The proxy's id of this client request: the header's value from a trusted peer when it is one."""
        if header is None or not self.trusts(peer) or not _ATTEMPT.fullmatch(header):
            return None
        return header
