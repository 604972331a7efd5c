"""Client settings, with units."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarmtrust.node.client.evidence import COMPARED_STEPS
from swarmtrust.protocol.bond_rule import DEFAULT_BOND_TERMS, SESSION_TOKENS, BondTerms
from swarmtrust.protocol.evidence import MAX_EVIDENCE_BYTES


@dataclass(frozen=True)
class ClientConfig:
    step_timeout: float = 30.0  # seconds to wait for a step whose duration this client cannot predict yet
    decode_timeout_factor: float = 20.0  # a decode step may take this many times its server's measured average
    min_decode_timeout: float = 2.0  # ... but never less than this many seconds
    max_failovers: int = 8  # replacements of failed servers within one session before giving up
    push: bool = True  # a chain's servers pass decode steps' hidden states straight on (see node.block_rpc)
    receipts: bool = True  # False only for the receipt-overhead benchmark (servers must agree)
    hop_seconds: float = 0.001  # assumed network round trip of a hop until one is measured
    latency_smoothing: float = 0.3  # weight of the newest measurement in a server's step-time average
    spot_check_rate: float | None = None  # chance a server's session is challenged (None: its reputation decides)
    max_evidence_bytes: int = MAX_EVIDENCE_BYTES  # a checked session's encoded evidence at most (the ledger's)
    compared_steps: int = COMPARED_STEPS  # outputs a checked session keeps: the first step's and this many others
    risk_seconds_per_block: float = 0.005  # routing premium per block of a server trusted at 0 (none at 1)
    conservative_routing: bool = False  # price risk by the trust lower bound instead of a Thompson sample
    exploration: float = 0.05  # share of sessions that may route through newcomers (unless they are needed)
    enforce_bonds: bool = True  # servers whose bond is short of the bond rule share the exploration budget
    bond_terms: BondTerms = DEFAULT_BOND_TERMS  # what the bond rule assumes (floor rate, detection, slash, margin)
    bond_session_tokens: int = SESSION_TOKENS  # tokens a session may reach, for the bond rule, unless the caller says
    ban_seconds: float = 1.0  # a failed server is avoided this long, doubling with each further failure ...
    max_ban_seconds: float = 300.0  # ... up to this
    reputation_ttl: float = 10.0  # seconds a fetched reputation book is reused
    pay: bool = False  # pay servers through the ledger's market for each finished generation (needs a ledger)
    checkpoint_memory: Path | None = None  # where the checkpoints seen per ledger are kept across runs (None: not kept)
    allow_dtypes: tuple[str, ...] = ()  # dtypes routed to beyond the model's registration (or config) allows
