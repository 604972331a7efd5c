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
        return {
            "host_maddrs": self.host_maddrs(),
            "nat_port_map": _pick(self.nat_port_map, not local),
            "auto_nat": _pick(self.auto_nat, not local),
            "use_relay": _pick(self.use_relay, not local),
            "use_auto_relay": _pick(self.use_auto_relay, False),
        }


def _pick(flag: bool | None, default: bool) -> bool:
    return default if flag is None else flag
