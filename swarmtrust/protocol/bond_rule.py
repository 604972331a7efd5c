"""The bond rule (pure): the bond a server must hold, at its price, so that cheating never pays.

A server routed beyond the newcomers' exploration budget is spot-checked at the floor rate ``r`` (5% of its
sessions, ``ledger.reputation``); a check of a corrupted session finds it with probability ``d``; a confirmed
cheat loses ``slash(B)`` of the bond ``B`` (half, ``ledger.market_rules``) and the server is quarantined at
once. A cheater that corrupts every session is caught, in expectation, after ``1 / (r·d)`` sessions, and runs
``W`` more (``sessions_in_flight``) before clients learn of the conviction. Counting only the first slash (later
ones halve what is left, and need not come), the expected slash per corrupted session is

    r·d · slash(B) / (1 + r·d·W)

and the rule asks it to be at least ``deterrence`` (10) times the most the session pays, ``P = price ×
block-tokens`` (block-tokens at most the server's span × the session's length). ``required_bond`` is the
least bond that does it; docs/market.md has the reasoning and a worked example.

Both sides import this module, never a copy: the client's router (which sends a server whose bond is short
of it into the exploration budget) and the ledger (whose REST answers and DHT snapshot say ``bonded``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from swarmtrust.protocol.market_records import MICRO

PPM = 1_000_000  # shares are integers of parts per million, so every split is exact
SPOT_CHECK_FLOOR = 0.05  # a trusted server's spot-check rate never falls below this (``ledger.reputation``)
SLASH_PPM = 500_000  # a confirmed cheat loses half of its bond (``ledger.market_rules.MarketParams``)
SESSION_TOKENS = 2048  # a session's length unless its client says (``OpenSession.max_length``'s default)
MIN_BOND = 100 * MICRO  # the least bond for full routing weight, whatever the price (sybil resistance)


@dataclass(frozen=True)
class BondTerms:
    """What the rule assumes; each field's default says where it comes from."""

    spot_check_rate: float = SPOT_CHECK_FLOOR  # chance a trusted server's session is checked: the floor
    detection: float = 1.0  # chance a check finds a corrupted session (float32: every known adversary, always)
    slash_ppm: int = SLASH_PPM  # share of the bond a conviction takes
    deterrence: int = 10  # expected slash per corrupted session, in multiples of what the session pays
    sessions_in_flight: int = 64  # sessions a cheater finishes after its first caught one, before quarantine bites
    min_bond: int = MIN_BOND  # micro-credits; the least full bond even for a server that charges nothing

    def __post_init__(self) -> None:
        if not (0.0 <= self.spot_check_rate <= 1.0 and 0.0 <= self.detection <= 1.0):
            raise ValueError("BondTerms: spot_check_rate and detection are probabilities, within [0, 1]")
        if not 0 <= self.slash_ppm <= PPM:
            raise ValueError(f"BondTerms: slash_ppm is a share in parts per million, within [0, {PPM}]")
        if self.deterrence < 0 or self.sessions_in_flight < 0 or self.min_bond < 0:
            raise ValueError("BondTerms: deterrence, sessions_in_flight and min_bond must not be negative")

    @property
    def catch_rate(self) -> Fraction:
        """``r·d``: the chance one corrupted session leads to a conviction (exact, from the floats given)."""
        return Fraction(self.spot_check_rate) * Fraction(self.detection)


DEFAULT_BOND_TERMS = BondTerms()


def slash_amount(bond: int, slash_ppm: int = SLASH_PPM) -> int:
    """What one conviction takes from a bond of ``bond`` micro-credits (the market's own arithmetic)."""
    return bond * slash_ppm // PPM


def session_block_tokens(span_blocks: int, session_tokens: int = SESSION_TOKENS) -> int:
    """The most block-tokens one session on a server can be billed: every token through every block it serves.
    (A server holds at most ``session_tokens`` positions in a session's cache, so no more tokens are billed.)"""
    if span_blocks < 0 or session_tokens < 0:
        raise ValueError("span_blocks and session_tokens must not be negative")
    return span_blocks * session_tokens


def required_slash(price: int, block_tokens: int, terms: BondTerms = DEFAULT_BOND_TERMS) -> int | None:
    """The least slash (micro-credits) one conviction must take so that the expected slash per corrupted
    session is at least ``deterrence`` times the session's payment; None when no slash can be enough (nothing
    is ever checked, caught or slashed under these terms)."""
    if price < 0 or block_tokens < 0:
        raise ValueError("price and block_tokens must not be negative")
    payment = price * block_tokens
    q = terms.catch_rate
    if payment == 0:
        return 0
    if q == 0:
        return None
    needed = terms.deterrence * payment * (1 + q * terms.sessions_in_flight) / q
    return -(-needed.numerator // needed.denominator)  # ceiling: slashes are whole micro-credits


def required_bond(price: int, block_tokens: int, terms: BondTerms = DEFAULT_BOND_TERMS) -> int | None:
    """The least bond (micro-credits) for full routing weight of a server charging ``price`` micro-credits per
    block-token for sessions of at most ``block_tokens``; None when no bond is enough under these terms."""
    slash = required_slash(price, block_tokens, terms)
    if slash is None or (slash > 0 and terms.slash_ppm == 0):
        return None
    bond = -(-slash * PPM // terms.slash_ppm) if slash else 0  # least B with slash_amount(B) >= slash
    return max(bond, terms.min_bond)


def fully_bonded(bond: int, price: int, block_tokens: int, terms: BondTerms = DEFAULT_BOND_TERMS) -> bool:
    """Whether a bond of ``bond`` micro-credits meets the rule at ``price`` for sessions of ``block_tokens``."""
    needed = required_bond(price, block_tokens, terms)
    return needed is not None and bond >= needed


def expected_slash_per_corrupted_session(bond: int, terms: BondTerms = DEFAULT_BOND_TERMS) -> Fraction:
    """What a cheater that corrupts every session expects to lose per corrupted session: the first conviction's
    slash over the sessions it gets to corrupt, ``1 / (r·d)`` until one is caught plus those in flight."""
    q = terms.catch_rate
    return q * slash_amount(bond, terms.slash_ppm) / (1 + q * terms.sessions_in_flight)
