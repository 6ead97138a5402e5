"""The guard of the one outbound HTTP kit (channels/outbound_http.py, used by every provider that
speaks HTTP): URL checks, the SSRF guard on every resolved address, capped answer reads.

A URL, from an event or from the operator's settings, must not reach the operator's own network
unless listed. It is parsed first (a port out of range, a bad IDNA label or a control character is
a permanent `invalid_url`, never an exception), its host is checked (non-canonical IPv4 spellings
such as `0x7f.1` or `2130706433` are refused outright), then the GuardedResolver resolves it,
checks every address and hands aiohttp only the checked ones: the connection goes to the address
that was checked, with no second lookup in between (no DNS-rebinding window). Loopback, private,
link-local (the cloud metadata address 169.254.169.254 included), site-local (fec0::/10), CGNAT,
unique-local, multicast, reserved and IPv4-mapped/embedded IPv6 addresses are refused unless the
channel's allowed-targets setting lists the host name or a subnet that holds the address."""
from __future__ import annotations

import functools
import ipaddress
import re
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from consumer.outcomes import Permanent
from consumer.settings import SettingsError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL_LENGTH = 8192
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
# A DNS label as resolvers accept it once IDNA-encoded (underscores occur in real names).
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


class TargetRefused(Exception):
    """Not an OSError on purpose: aiohttp passes it through from the resolver unchanged."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"target {host!r} refused: {reason}")
        self.reason = reason


def parse_url(raw: object) -> URL | Permanent:
    """An http(s) URL a resolver and aiohttp can use as it is, or Permanent `invalid_url` saying why."""
    shown = repr(str(raw)[:200])
    if not isinstance(raw, str) or not raw.startswith(("http://", "https://")):
        return Permanent("invalid_url", f"not an http(s) URL: {shown}")
    if len(raw) > MAX_URL_LENGTH:
        return Permanent("invalid_url", f"URL longer than {MAX_URL_LENGTH} characters: {shown}")
    if _CONTROL_OR_SPACE.search(raw):
        return Permanent("invalid_url", f"URL contains a space or a control character: {shown}")
    try:
        url = URL(raw)
        host, port = url.raw_host, url.explicit_port
    except (ValueError, UnicodeError) as exc:  # a port out of range, a bad IPv6 literal, bad IDNA
        return Permanent("invalid_url", f"cannot parse {shown}: {exc}")
    if not host:
        return Permanent("invalid_url", f"no host in {shown}")
    if port == 0:
        return Permanent("invalid_url", f"port 0 in {shown}")
    if _literal(host) is None and (reason := _hostname_fault(host)):
        return Permanent("invalid_url", f"host of {shown} {reason}")
    return url


def _hostname_fault(host: str) -> str | None:
    try:
        # The codec the resolver and aiohttp encode with: a 64+ character or empty label fails here.
        ascii_host = host.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return "is not a valid IDNA host name (a label empty or longer than 63 characters)"
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in ascii_host.split(".")):
        return "is not a valid host name"
    return None


class HostList:
    """The hosts a channel sends to, whatever the event names: host names, `*.example.com` for
    the subdomains of example.com, or `*` for any host (every one still passes the SSRF guard)."""

    _PATTERN = re.compile(r"\*|(\*\.)?[a-z0-9._-]+")

    def __init__(self, patterns: frozenset[str]):
        self.patterns = patterns

    @classmethod
    def parse(cls, text: str, setting: str) -> "HostList":
        """Comma-separated patterns; SettingsError naming `setting` for one that is no host."""
        patterns = frozenset(p.strip().lower().rstrip(".") for p in text.split(",") if p.strip())
        bad = sorted(p for p in patterns if not cls._PATTERN.fullmatch(p))
        if bad or not patterns:
            raise SettingsError(f"setting {setting}: {', '.join(bad) or repr(text)} is not a host name, "
                                "*.domain or *")
        return cls(patterns)

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return "*" in self.patterns or host in self.patterns or any(
            p.startswith("*.") and host.endswith(p[1:]) for p in self.patterns)

    def __str__(self) -> str:
        return ", ".join(sorted(self.patterns))


class TargetPolicy:
    def __init__(self, hosts: frozenset[str] = frozenset(), networks: tuple = ()):
        self.hosts = hosts
        self.networks = networks
        # A host name's verdict depends on this policy alone, not on DNS, so it is worked out once
        # per host; resolved addresses are still checked on every lookup (GuardedResolver).
        self._cached_host_refusal = functools.lru_cache(maxsize=4096)(self._host_refusal)

    @classmethod
    def from_setting(cls, raw: str | None, setting: str = "webhook_allowed_targets") -> "TargetPolicy":
        """An allowed-targets setting: comma-separated host names and addresses or subnets
        (`receiver.internal, 10.1.0.0/16, 127.0.0.1`)."""
        hosts, networks = set(), []
        for entry in filter(None, (part.strip().lower() for part in (raw or "").split(","))):
            try:
                networks.append(ipaddress.ip_network(entry.replace("[", "").replace("]", ""), strict=False))
            except ValueError:
                if not re.fullmatch(r"[a-z0-9._-]+", entry):
                    raise SettingsError(f"setting {setting}: {entry!r} is neither a host "
                                        "name nor an address or subnet") from None
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def screen(self, url: URL) -> Permanent | None:
        """Permanent `target_refused` for what the URL alone shows; aiohttp resolves no IP literal,
        so this is the only check a literal gets."""
        try:
            self.check_host(url.raw_host or "")
        except TargetRefused as exc:
            return Permanent("target_refused", str(exc))
        return None

    def check_host(self, host: str) -> None:
        """Refuse what can be decided from the URL alone: odd IPv4 spellings and IP literals."""
        reason = self._cached_host_refusal(host)
        if reason is not None:
            raise TargetRefused(host, reason)

    def check_address(self, host: str, address: Address) -> None:
        reason = self._address_refusal(address)
        if reason is not None:
            raise TargetRefused(host, reason)

    def _host_refusal(self, host: str) -> str | None:
        if self.host_allowed(host):
            return None
        literal = _literal(host)
        if literal is not None:
            return self._address_refusal(literal)
        return "non-canonical IPv4 address" if _non_canonical_ipv4(host) else None

    def _address_refusal(self, address: Address) -> str | None:
        if any(address in network for network in self.networks if network.version == address.version):
            return None
        reason = refusal(address)
        return None if reason is None else f"{reason} address {address}"


def refusal(address: Address) -> str | None:
    """Why an address is not a public Internet destination, or None when it is."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6"
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None or address in NAT64:
            return "IPv4-embedding IPv6"
    for name, flag in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                       ("multicast", address.is_multicast), ("unspecified", address.is_unspecified),
                       ("CGNAT", address.version == 4 and address in CGNAT),
                       # Deprecated (RFC 3879) but still routed inside some networks; Python calls it global.
                       ("site-local", address.version == 6 and address.is_site_local),
                       ("reserved", address.is_reserved), ("private", address.is_private)):
        if flag:
            return name
    return None if address.is_global else "non-global"


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _non_canonical_ipv4(host: str) -> bool:
    """`0x7f.1`, `2130706433`, `0177.0.0.1`, `127.1`: numbers a resolver would read as IPv4."""
    parts = host.lower().rstrip(".").split(".")
    return all(_NUMERIC_PART.match(part) for part in parts)


class GuardedResolver(AbstractResolver):
    """Resolves through `inner` (the system resolver by default) and checks every address."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        self.policy.check_host(host)
        infos = await self.inner.resolve(host, port, family)
        if not self.policy.host_allowed(host):
            for info in infos:
                self.policy.check_address(host, ipaddress.ip_address(info["host"].split("%")[0]))
        return infos

    async def close(self) -> None:
        await self.inner.close()


def guarded_connector(policy: TargetPolicy, resolver: AbstractResolver | None = None, *,
                      limit: int = 100, limit_per_host: int = 0) -> aiohttp.TCPConnector:
    """A connector whose every lookup goes through the guard (cached lookups were checked too)."""
    return aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=60,
                                resolver=GuardedResolver(policy, resolver))


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most `cap` bytes of the answer; leaving the rest unread makes aiohttp close the connection."""
    chunks, size = [], 0
    while size < cap:
        chunk = await response.content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
