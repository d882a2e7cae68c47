"""Which video links may be fetched: http(s) URLs on public storage. A link (or a redirect) into this machine
or its network could make the server fetch, and save, what only it can reach (a router page, a cloud
metadata service)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import anyio

from heygen_video_mcp.tools.errors import DownloadFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that mean this machine or its network by definition: .localhost (RFC 6761), mDNS's .local (RFC 6762),
# .internal (reserved for private use; cloud metadata lives there) and home.arpa (RFC 8375).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def check_url(url: str, what: str) -> None:
    """Raise DownloadFailed unless `url` is an http(s) URL with a host; `what` starts the message."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [ around an IPv6 address
        valid = False
    if not valid:
        raise DownloadFailed(f"{what} {url[:60]!r}, which is not an http(s) URL, so nothing was downloaded.")


async def refuse_private(url: str, *, redirected: bool = False) -> None:
    """Raise DownloadFailed if `url`'s host is, or resolves to any, non-public address.

    Literal addresses and `localhost` are judged as written; other names are resolved, and a name that
    does not resolve is left to the HTTP client to fail on.
    """
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise DownloadFailed(_message(host, None, redirected))
    literal = literal_address(host)
    addresses: list[Address] = [literal] if literal is not None else []
    if literal is None:
        try:
            found = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    for address in addresses:
        if is_private(address):
            raise DownloadFailed(_message(host, address, redirected))


def literal_address(host: str) -> Address | None:
    """`host` as the address it writes, in any form HTTP clients accept (an IPv6 zone; IPv4 in hex, octal
    or fewer parts, like 0x7f.1), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if not host.replace(".", "").isalnum():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def local_host(url: str, *, allow_loopback: bool = False) -> str | None:
    """What `url`'s host is, when it is on this machine or a private network, judged as written; None if
    it looks public (or is loopback, with `allow_loopback`).

    Names are not resolved: a link handed on to someone else (HeyGen fetches a reference image) is fetched
    through that party's resolver, and ours says nothing about what it gets. Names that are local by
    definition are refused, and so are names of one label, which only a local search domain resolves.
    """
    if is_loopback_url(url):
        return None if allow_loopback else "this machine (loopback)"
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    address = literal_address(host)
    if address is not None:
        if not is_private(address):
            return None
        if _mapped(address).is_link_local:
            return "a link-local address, where cloud metadata services answer"
        return "a private or reserved address"
    if host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        return "a name that only a local network resolves"
    return None


def is_loopback_url(url: str) -> bool:
    """Whether `url`'s host is this machine: localhost, *.localhost, or a loopback address."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address, as written, is this machine."""
    host = host.rstrip(".").lower()
    address = literal_address(host)
    if address is not None:
        return _mapped(address).is_loopback
    return host == "localhost" or host.endswith(".localhost")


def _mapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    return address


def is_private(address: Address) -> bool:
    address = _mapped(address)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # e.g. 100.64.0.0/10, shared by carrier-grade NAT
    )


def _message(host: str, address: Address | None, redirected: bool) -> str:
    where = host if address is None or str(address) == host else f"{host} ({address})"
    how = "The video link redirected to" if redirected else "The video link points at"
    return (
        f"{how} {where}, a local, private or reserved address, so nothing was downloaded: video links must "
        "point at public storage. Ask HeyGen for the video again; if this server talks to a local HeyGen "
        "sandbox, set HEYGEN_API_BASE_URL to the sandbox's address so that its links are allowed."
    )
