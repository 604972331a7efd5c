"""Where a DHT/P2P node listens and which NAT helpers it uses (no hivemind import: cheap for the CLI)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NetworkOptions:
    """How a DHT/P2P node reaches the network. On a loopback host every option that reaches beyond the
    machine (UPnP/NAT-PMP port mapping, AutoNAT, relays) is off unless asked for; elsewhere hivemind's
    defaults apply unless overridden."""

    host: str = "127.0.0.1"
    port: int = 0
    nat_port_map: bool | None = None
    auto_nat: bool | None = None
    use_relay: bool | None = None
    use_auto_relay: bool | None = None
    announce_maddrs: tuple[str, ...] = ()  # where peers should dial this node (a proxy, a public address); () all

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def host_maddrs(self) -> list[str]:
        family = "ip6" if ":" in self.host else "ip4"
        host = "127.0.0.1" if self.host == "localhost" else self.host
        return [f"/{family}/{host}/tcp/{self.port}"]

    def dht_kwargs(self) -> dict[str, Any]:
        local = self.is_loopback
        announced = {"announce_maddrs": list(self.announce_maddrs)} if self.announce_maddrs else {}
        return announced | {
            "host_maddrs": self.host_maddrs(),
            "nat_port_map": _pick(self.nat_port_map, not local),
            "auto_nat": _pick(self.auto_nat, not local),
            "use_relay": _pick(self.use_relay, not local),
            "use_auto_relay": _pick(self.use_auto_relay, False),
        }


def check_announce_maddr(maddr: str) -> str:
    """``maddr`` if peers can dial it: /ip4/, /ip6/ or /dns*/ with an explicit TCP port; ValueError saying what
    is wrong otherwise."""
    parts = maddr.split("/")
    if len(parts) < 5 or parts[0] or parts[1] not in {"ip4", "ip6", "dns", "dns4", "dns6"} or parts[3] != "tcp":
        raise ValueError(f"{maddr!r} is not /ip4/ADDRESS/tcp/PORT (or /ip6/, /dns/)")
    if not parts[4].isdigit() or not 0 < int(parts[4]) < 65536:
        raise ValueError(f"{maddr!r} needs an explicit TCP port from 1 to 65535: peers dial it as given")
    return maddr


def _pick(flag: bool | None, default: bool) -> bool:
    return default if flag is None else flag
