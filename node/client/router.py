"""The client's routing policy: which servers may carry a session, and at what price (time plus risk).

- quarantined servers are never used;
- servers with little evidence (newcomers) share one exploration budget: only ``exploration`` of
  sessions may route through them (less when recent newcomers cheated), unless no chain covers the
  blocks without them; with ``require_bond``, so do servers without a full bond in the market, however
  good their record (sybil resistance: full weight costs capital that a confirmed cheat loses);
- every hop is priced by the time this client measured (announced throughput until then) plus a risk
  premium per block, ``risk_seconds_per_block * (1 - p)``, where ``p`` is a Thompson sample of the
  server's posterior (or its 5% lower bound in conservative mode), so trusted servers carry most traffic
  while the others still get a chance in proportion to what the evidence allows;
- servers that failed are avoided for a while (``BanList``).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable

from node.client.bans import BanList
from node.client.config import ClientConfig
from node.client.discovery import ServerInfo
from node.client.latency import LatencyTracker
from node.client.reputation import ReputationBook
from node.client.routing import Candidate, Hop, NoRouteError, choose_chain

NEWCOMER_PRIOR_CAP = 0.9  # the ledger's highest newcomer prior mean: a full exploration budget


class Router:
    def __init__(
        self,
        config: ClientConfig,
        latency: LatencyTracker,
        bans: BanList,
        book: ReputationBook | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.latency = latency
        self.bans = bans
        self.book = book or ReputationBook()
        self.rng = rng or random.Random()

    def explores(self) -> bool:
        """Whether a new session may use newcomers (drawn once per session). The budget shrinks with the
        newcomer prior: when recent newcomers have cheated (a flood, or whitewashing), fewer sessions
        explore, so fresh identities gain less from coming back."""
        newcomers_honest = min(1.0, self.book.newcomer.posterior.mean / NEWCOMER_PRIOR_CAP)
        return self.rng.random() < self.config.exploration * newcomers_honest

    def candidates(self, servers: Iterable[ServerInfo], *, newcomers: bool) -> list[Candidate]:
        out = []
        for server in servers:
            trust = self.book.of(server.key)
            limited = trust.state == "newcomer" or (self.config.require_bond and not trust.bonded)
            if trust.state == "quarantined" or (limited and not newcomers):
                continue
            p = trust.lower_bound() if self.config.conservative_routing else trust.sample(self.rng)
            span = server.end - server.start
            out.append(
                Candidate(
                    key=server.key,
                    start=server.start,
                    end=server.end,
                    seconds_per_block=self.latency.seconds_per_block(server.key, server.announcement.throughput, span),
                    hop_seconds=self.config.hop_seconds,
                    risk_per_block=self.config.risk_seconds_per_block * (1.0 - p),
                )
            )
        return out

    def chain(
        self, servers: Collection[ServerInfo], start: int, end: int, *, explore: bool, exclude: Collection[str] = ()
    ) -> list[Hop]:
        """The cheapest chain; newcomers only when exploring, or when the blocks cannot be covered otherwise."""
        excluded = set(exclude) | self.bans.banned()
        try:
            return choose_chain(self.candidates(servers, newcomers=explore), start, end, exclude=excluded)
        except NoRouteError:
            if explore:
                raise
            return choose_chain(self.candidates(servers, newcomers=True), start, end, exclude=excluded)

    def spot_check_rate(self, key: str) -> float:
        """The configured rate when one is forced, else the one the server's reputation sets."""
        forced = self.config.spot_check_rate
        return forced if forced is not None else self.book.of(key).spot_check_rate
