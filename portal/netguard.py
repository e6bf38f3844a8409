"""Requests to URLs that users hand us: only public https servers, only at the address checked.

The worker POSTs every Web Push message to the endpoint a browser's subscription names. Taken as
it comes, that is server-side request forgery: an endpoint naming this machine, the clinic's
private network or the cloud's metadata service (169.254.169.254) would be fetched from inside.
So a URL the server fetches on someone's behalf must pass `check_url`:

- `https` (plain http only where a setting allows it: the tests' local push service);
- a host on the allowed list (exact names, or `*.example.com` for any name under it; `*` alone
  for any host), so a push goes only to the known push services unless configured otherwise;
- every address the host resolves to is public: not loopback, private, link-local, shared
  (100.64/10), reserved, multicast or unspecified, also when an IPv4 address hides inside an
  IPv6 one (::ffff:10.0.0.1, 6to4, Teredo).

Checking a name and then letting the HTTP client resolve it again is not enough: a name can
answer with a public address to the check and with 10.0.0.1 a moment later (DNS rebinding).
`pinned_session` therefore connects to the very address the check approved, while the request
keeps the host name for everything else: the Host header, the TLS server name (SNI) and the
certificate check. It follows no redirects and ignores proxy settings from the environment.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

DEFAULT_PORTS = {"https": 443, "http": 80}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL may not be fetched; the message says why, in words for the person who sent it."""


class UnresolvedHost(UnsafeURL):
    """The host name did not resolve (now): nothing was checked, so nothing may be fetched."""


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to for it."""

    url: str
    scheme: str
    host: str  # lower case, without a trailing dot; an IPv6 literal without brackets
    port: int
    address: str  # the checked IP address the connection goes to


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` matches one of `patterns`: a name, `*.name` (any name below it) or `*`."""
    host = host.rstrip(".").lower()
    for pattern in patterns:
        pattern = pattern.strip().rstrip(".").lower()
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):  # ".example.com": a name below, not the name itself
                return True
        elif pattern and host == pattern:
            return True
    return False


def public_address(address: IPAddress) -> bool:
    """Whether `address` is on the public internet (and so no door into our own networks)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            address.teredo[1] if address.teredo else None)
        if embedded is not None and not public_address(embedded):
            return False
        if address.ipv4_mapped is not None:
            return True  # decided by the IPv4 address it carries
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself).

    Through `socket.getaddrinfo`, looked up at call time, so tests can stand in for DNS.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(f"the host {host} could not be resolved") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the part before % is the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvedHost(f"the host {host} has no address")
    return addresses


def check_url(url: str, *, allowed_hosts: Iterable[str], allow_http: bool = False,
              allow_private: bool = False) -> Destination:
    """The destination to connect to for `url`, or UnsafeURL saying why it may not be fetched.

    Resolves the host now and checks every address it has; `allow_private` (tests only) skips
    the address check, never the resolution or the pinning.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a malformed netloc or port
        raise UnsafeURL("this is not a valid URL") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeURL("it must be an https:// URL")
    if parts.username or parts.password:
        raise UnsafeURL("it must not carry a user name or password")
    host = parts.hostname.rstrip(".").lower()
    if not host_allowed(host, allowed_hosts):
        raise UnsafeURL(f"{host} is not one of the allowed push services")
    port = port or DEFAULT_PORTS[parts.scheme]
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            if not public_address(address):
                raise UnsafeURL(f"{host} resolves to a private or local address ({address})")
    return Destination(url=url, scheme=parts.scheme, host=host, port=port,
                       address=str(addresses[0]))


class PinnedAdapter(HTTPAdapter):
    """Sends requests for one checked destination to its checked address, and nothing else.

    The URL's host is replaced by the address just before sending; the Host header and, for
    https, the TLS server name and the certificate check keep the original host name.
    """

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        super().__init__(max_retries=0)

    def send(self, request, **kwargs):
        dest = self.destination
        parts = urlsplit(request.url)
        host = (parts.hostname or "").rstrip(".").lower()
        if (parts.scheme, host, parts.port or DEFAULT_PORTS.get(parts.scheme)) != (
                dest.scheme, dest.host, dest.port):
            raise UnsafeURL(f"{request.url} is not the checked destination")
        literal = f"[{dest.address}]" if ":" in dest.address else dest.address
        request.url = urlunsplit((parts.scheme, f"{literal}:{dest.port}", parts.path,
                                  parts.query, ""))
        name = f"[{dest.host}]" if ":" in dest.host else dest.host
        default = dest.port == DEFAULT_PORTS[dest.scheme]
        request.headers["Host"] = name if default else f"{name}:{dest.port}"
        return super().send(request, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        if host_params["scheme"] == "https":
            # SNI and the certificate's name are the host's, not the address connected to.
            pool_kwargs["server_hostname"] = self.destination.host
            pool_kwargs["assert_hostname"] = self.destination.host
        return host_params, pool_kwargs


class PinnedSession(requests.Session):
    """A session bound to one destination: no redirects, no proxies from the environment."""

    def __init__(self, destination: Destination) -> None:
        super().__init__()
        self.trust_env = False  # HTTPS_PROXY and friends would resolve the name again
        adapter = PinnedAdapter(destination)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False  # a 3xx is an answer, never a second destination
        return super().request(method, url, *args, **kwargs)


def pinned_session(destination: Destination) -> PinnedSession:
    return PinnedSession(destination)
