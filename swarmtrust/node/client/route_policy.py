"""The client's routing policy: which servers may carry a session, and at what price (time plus risk).

- quarantined servers are never used;
- servers with little evidence (newcomers) share one exploration budget: only ``exploration`` of
  sessions may route through them (less when recent newcomers cheated), unless no chain covers the
  blocks without them; so do servers whose bond is short of the bond rule (``protocol.bond_rule``) at their
  current price, however good their record, unless ``enforce_bonds`` is off: cheating must cost more
  than it earns at the floor spot-check rate, and full weight costs capital that a confirmed cheat loses.
  When no chain covers the blocks otherwise, servers short of bond are added before newcomers;
- every hop is priced by the time this client measured (announced throughput until then) plus a risk
  premium per block, ``risk_seconds_per_block * (1 - p)``, where ``p`` is a Thompson sample of the
  server's posterior (or its 5% lower bound in conservative mode), so trusted servers carry most traffic
  while the others still get a chance in proportion to what the evidence allows;
- servers that failed are avoided for a while (``BanList``);
- servers announcing a dtype the model does not allow (``protocol.serving_dtypes``: its ledger registration, else
  its config, plus what the user admits) are never used: a server cannot pick a looser dtype than the model's.
  When no chain can be built without them, the error names their dtype and the allowed ones.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import replace

from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.chain_search import Candidate, Hop, NoRouteError, choose_chain
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, ServerTrust
from swarmtrust.protocol.bond_rule import BondTerms, fully_bonded, session_block_tokens
from swarmtrust.protocol.newcomers import PRIOR_MEAN_CAP
from swarmtrust.protocol.serving_dtypes import AllowedDtypes

FULL, SHORT_OF_BOND, NEWCOMER, QUARANTINED = "full", "short_of_bond", "newcomer", "quarantined"
# The standings a chain may use: a session that does not explore tries the first, then widens.
TIERS = ((FULL,), (FULL, SHORT_OF_BOND), (FULL, SHORT_OF_BOND, NEWCOMER))


class Router:
    def __init__(
        self,
        config: ClientConfig,
        latency: LatencyTracker,
        bans: BanList,
        book: ReputationBook | None = None,
        rng: random.Random | None = None,
        dtypes: AllowedDtypes | None = None,
    ) -> None:
        self.config = config
        self.latency = latency
        self.bans = bans
        self.book = book or ReputationBook()
        self.rng = rng or random.Random()
        self.dtypes = dtypes  # None: any dtype (only for callers that filtered servers themselves)

    def explores(self) -> bool:
        """Whether a new session may use newcomers (drawn once per session). The budget shrinks with the
        newcomer prior: when recent newcomers have cheated (a flood, or whitewashing), fewer sessions
        explore, so fresh identities gain less from coming back."""
        newcomers_honest = min(1.0, self.book.newcomer.posterior.mean / PRIOR_MEAN_CAP)
        return self.rng.random() < self.config.exploration * newcomers_honest

    def bond_terms(self) -> BondTerms:
        """The bond rule's terms for this client: a client that checks less often than the floor (a forced
        ``spot_check_rate``) deters less, so it asks more bond of the servers it trusts."""
        terms, forced = self.config.bond_terms, self.config.spot_check_rate
        if forced is not None and forced < terms.spot_check_rate:
            return replace(terms, spot_check_rate=max(0.0, forced))
        return terms

    def short_of_bond(self, trust: ServerTrust, span_blocks: int, session_tokens: int | None = None) -> bool:
        """Whether a server's bond is short of the bond rule at its current price, for a session of
        ``session_tokens`` (the configured bound if not given) through its whole span."""
        if not self.config.enforce_bonds:
            return False
        if trust.bond is None or trust.price is None:
            return not trust.bonded  # a ledger that gives no bond and price: its own summary decides
        tokens = self.config.bond_session_tokens if session_tokens is None else session_tokens
        block_tokens = session_block_tokens(span_blocks, tokens)
        return not fully_bonded(trust.bond, trust.price, block_tokens, self.bond_terms())

    def standing(self, server: ServerInfo, session_tokens: int | None = None) -> str:
        """full, short_of_bond, newcomer or quarantined: which chains may use the server."""
        trust = self.book.of(server.key)
        if trust.state == "quarantined":
            return QUARANTINED
        if trust.state == "newcomer":
            return NEWCOMER
        return SHORT_OF_BOND if self.short_of_bond(trust, server.end - server.start, session_tokens) else FULL

    def candidates(
        self, servers: Iterable[ServerInfo], *, newcomers: bool, session_tokens: int | None = None
    ) -> list[Candidate]:
        """Candidates in full standing; with ``newcomers``, every routable one (the exploration budget)."""
        return self._candidates(servers, TIERS[-1] if newcomers else TIERS[0], session_tokens)

    def _candidates(
        self, servers: Iterable[ServerInfo], admitted: tuple[str, ...], session_tokens: int | None
    ) -> list[Candidate]:
        out = []
        for server in servers:
            if not self.admits_dtype(server) or self.standing(server, session_tokens) not in admitted:
                continue
            trust = self.book.of(server.key)
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
        self,
        servers: Collection[ServerInfo],
        start: int,
        end: int,
        *,
        explore: bool,
        exclude: Collection[str] = (),
        session_tokens: int | None = None,
    ) -> list[Hop]:
        """The cheapest chain. Servers short of bond, then newcomers, only when exploring, or when the blocks
        cannot be covered otherwise. ``session_tokens``: the session's length, for the bond rule."""
        excluded = set(exclude) | self.bans.banned()
        tiers = TIERS[-1:] if explore else TIERS
        for tier in tiers[:-1]:
            try:
                return choose_chain(self._candidates(servers, tier, session_tokens), start, end, exclude=excluded)
            except NoRouteError:
                continue  # widen to the next tier
        try:
            return choose_chain(self._candidates(servers, tiers[-1], session_tokens), start, end, exclude=excluded)
        except NoRouteError as exc:
            refused = self._refused_dtypes(servers, excluded)
            if refused:
                raise NoRouteError(f"{exc}. {refused}") from None
            raise

    def admits_dtype(self, server: ServerInfo) -> bool:
        """Whether the server's announced dtype is one this client routes to."""
        return self.dtypes is None or self.dtypes.admits(server.announcement.dtype)

    def _refused_dtypes(self, servers: Collection[ServerInfo], excluded: set[str]) -> str:
        """Why servers that would otherwise be usable were left out for their dtype ('' when none was)."""
        if self.dtypes is None:
            return ""
        by_dtype: dict[str, int] = {}
        for server in servers:
            if server.key not in excluded and not self.admits_dtype(server):
                by_dtype[server.announcement.dtype] = by_dtype.get(server.announcement.dtype, 0) + 1
        if not by_dtype:
            return ""
        found = ", ".join(f"{n} serve {d}" for d, n in sorted(by_dtype.items()))
        return (
            f"Servers left out for their dtype: {found}; this model allows {self.dtypes.describe()}. Admit another "
            f"dtype only knowingly (--allow-dtype {min(by_dtype)}): its sessions would fail verification"
        )

    def spot_check_rate(self, key: str, server: ServerInfo | None = None, session_tokens: int | None = None) -> float:
        """The configured rate when one is forced, else the one the server's reputation sets, except that a
        server short of bond (carrying a session only because no chain covers the blocks without it, or as
        exploration) is checked on every session: its bond does not make cheating at the floor rate cost."""
        forced = self.config.spot_check_rate
        if forced is not None:
            return forced
        if server is not None and self.standing(server, session_tokens) == SHORT_OF_BOND:
            return 1.0
        return self.book.of(key).spot_check_rate
