"""Sessions as a server sees them, for the probe classifier: clients' traffic, the old probes and the new.

A server (the first of a chain, which sees the most) sees of each session: the peer that opened it and that
peer's earlier sessions, the prompt's tokens (it reads them from the embeddings: the embedding matrix is
public), the prompt's length, the steps asked for (``max_length``) and taken, the batch size and when the
session came. Probes are made with the verifier's real code (``verifier.prompts``, ``verifier.lengths``,
the ledger's ``summarise_sessions``); nothing here runs a swarm.

The client workload (an assumption, stated in the benchmark's section): prompts are excerpts of text and
code that are not the probe generator's corpus (the repository's docs and the Python packages installed
beside it), some in a chat or instruction form; prompt lengths a mixture of chat-short and document-long,
new tokens a mixture of common settings and free values. Peers are either one-shot (``swarmtrust generate``
starts a fresh peer per run) or long-lived (a Python program with one ``SwarmClient`` for a burst of
sessions); ``reuse`` is the share of sessions from long-lived peers.
"""

from __future__ import annotations

import math
import random
import site
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from swarmtrust.ledger.session_lengths import ReceiptFacts, summarise_sessions
from swarmtrust.verifier.lengths import LengthDistribution, ProbeLengths
from swarmtrust.verifier.prompts import ProbeCorpus, PromptGenerator, corpus_from_texts, standard_corpus

MAX_LENGTH = 1024  # positions of the tiny model
PROBE_MEAN_INTERVAL = 60.0  # seconds between probes, per verifier
CLIENT_MEAN_INTERVAL = 5.0  # seconds between client sessions reaching the server
BURST_GAP = 20.0  # mean seconds between the sessions of one long-lived client peer
BURST_MEAN = 5.0  # mean sessions of one long-lived client peer
OLD_PROBE_TEXTS = (  # the probes of before: a fixed list, cut to 4..48 tokens, always 16 new tokens
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time, in a village by the sea,",
    "def fibonacci(n):\n    return n if n < 2 else",
    "The capital of France is",
    "Translate to German: good morning, how are you?",
    "In 1969 the first humans landed on the",
)
_CLIENT_FORMS = ("{}", "{}", "{}", "Please help me with this:\n{}", "Human: {}\n\nAssistant:", "{}\n\nTL;DR:")

Encode = Callable[[str], list[int]]


@dataclass(frozen=True)
class Session:
    """One session as the first server of its chain sees it."""

    peer: str
    arrived: float  # seconds
    prompt: tuple[int, ...]
    steps: int
    batch: int
    probe: bool


def client_lengths(rng: random.Random) -> ProbeLengths:
    """Lengths clients ask for: short chat turns and long documents; common and free new-token settings."""
    median = 24 if rng.random() < 0.7 else 300
    prompt = max(2, min(MAX_LENGTH // 2, round(rng.lognormvariate(math.log(median), 0.7))))
    steps = rng.choice((16, 32, 64, 128, 256)) if rng.random() < 0.6 else round(rng.lognormvariate(math.log(60), 1))
    return ProbeLengths(prompt, max(1, min(steps, MAX_LENGTH - prompt)))


def ledger_summary(rng: random.Random, sessions: int = 2000, servers: int = 5) -> dict[str, object]:
    """What ``GET /session-lengths`` answers after ``sessions`` client sessions (their receipts, through the
    ledger's own summary code)."""
    receipts: list[ReceiptFacts] = []
    for index in range(sessions):
        lengths = client_lengths(rng)
        server = f"server{rng.randrange(servers)}"
        for step in range(lengths.max_new_tokens):
            tokens = lengths.prompt_tokens if step == 0 else 1
            receipts.append(ReceiptFacts(server, f"s{index}", step, f"1,{tokens},64"))
    summary = summarise_sessions("tiny", receipts)
    shares = [{"prompt_tokens": s.prompt_tokens, "steps": s.steps, "weight": s.weight} for s in summary.shares]
    return {"shares": shares}


def client_corpus(texts: Sequence[str]) -> ProbeCorpus:
    """A verifier's own corpus of the clients' kind (``--probe-corpus``): other files of the same sources."""
    return corpus_from_texts(texts, texts)


def client_texts(limit_chars: int = 3_000_000) -> list[str]:
    """Clients' text: the repository's docs and the installed packages' code and docs (not the stdlib)."""
    root = Path(__file__).resolve().parents[1]
    files = [*sorted((root / "docs").glob("*.md")), root / "README.md"]
    for packages in site.getsitepackages():
        for name in ("httpx", "fastapi", "sqlalchemy", "pydantic", "typer", "rich", "hypothesis", "starlette"):
            files += sorted((Path(packages) / name).rglob("*.py"))
    texts, size = [], 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) < 200:
            continue  # empty modules and stubs: nothing a client would send
        texts.append(text)
        size += len(text)
        if size >= limit_chars:
            break
    return texts


def client_prompt(texts: Sequence[str], tokens: int, encode: Encode, rng: random.Random) -> tuple[int, ...]:
    """An excerpt of ``tokens`` tokens starting at a line, in one of the clients' forms."""
    form = rng.choice(_CLIENT_FORMS)
    if 2 * len(encode(form.format(""))) > tokens:
        form = "{}"
    text = rng.choice(texts)
    lines = text.splitlines(keepends=True)
    start = rng.randrange(len(lines))
    excerpt = "".join(lines[start:])[: tokens * 4].lstrip()  # nobody's prompt begins with an indent
    ids = encode(form.format(excerpt))
    while len(ids) < tokens:  # the file ended first: go on with another
        excerpt += "\n" + rng.choice(texts)[: tokens * 4]
        ids = encode(form.format(excerpt))
    return tuple(ids[:tokens])


def client_sessions(
    count: int, reuse: float, encode: Encode, rng: random.Random, texts: Sequence[str]
) -> list[Session]:
    """Client sessions: a Poisson stream; a share ``reuse`` of them from long-lived peers in bursts."""
    sessions: list[Session] = []
    now, peers = 0.0, 0
    while len(sessions) < count:
        now += rng.expovariate(1 / CLIENT_MEAN_INTERVAL)
        peers += 1
        long_lived = rng.random() < reuse / (BURST_MEAN - (BURST_MEAN - 1) * reuse)  # so a share ``reuse`` of sessions
        burst = 1 + _geometric(rng, BURST_MEAN - 1) if long_lived else 1
        at = now
        for _ in range(burst):
            lengths = client_lengths(rng)
            prompt = client_prompt(texts, lengths.prompt_tokens, encode, rng)
            sessions.append(Session(f"client{peers}", at, prompt, lengths.max_new_tokens, 1, False))
            at += rng.expovariate(1 / BURST_GAP)
    return sorted(sessions[:count], key=lambda s: s.arrived)


def old_probes(count: int, encode: Encode, rng: random.Random, verifiers: int = 3) -> list[Session]:
    """The probes of before: one peer per verifier, a fixed list of texts, 16 new tokens."""
    sessions: list[Session] = []
    clocks = [0.0] * verifiers
    for index in range(count):
        verifier = index % verifiers
        clocks[verifier] += rng.expovariate(1 / PROBE_MEAN_INTERVAL)
        prompt = tuple(encode(rng.choice(OLD_PROBE_TEXTS))[: rng.randint(4, 48)])
        sessions.append(Session(f"verifier{verifier}", clocks[verifier], prompt, 16, 1, True))
    return sessions


def new_probes(
    count: int, encode: Encode, rng: random.Random, corpus: ProbeCorpus | None = None, verifiers: int = 3
) -> list[Session]:
    """The probes now: a fresh peer each, prompts from the generator (over ``corpus``, default the standard
    library's), lengths from the ledger's summary."""
    distribution = LengthDistribution.from_summary(ledger_summary(rng), MAX_LENGTH)
    generator = PromptGenerator(corpus or standard_corpus(), encode, rng)
    sessions: list[Session] = []
    clocks = [0.0] * verifiers
    for index in range(count):
        verifier = index % verifiers
        clocks[verifier] += rng.expovariate(1 / PROBE_MEAN_INTERVAL)
        lengths = distribution.sample(rng, MAX_LENGTH)
        prompt = tuple(generator.prompt(lengths.prompt_tokens))
        sessions.append(Session(f"probe{index}", clocks[verifier], prompt, lengths.max_new_tokens, 1, True))
    return sessions


def _geometric(rng: random.Random, mean: float) -> int:
    """0, 1, 2, ... with the given mean."""
    return int(math.log(1 - rng.random()) / math.log(mean / (mean + 1)))
