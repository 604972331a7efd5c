"""Can a server tell probes from clients? A classifier trained on what a server sees, tested on held-out
sessions: the new probes against the old ones (``bench.probe_traffic`` makes the sessions).

Two classifiers of our own (no scikit-learn here): L2 logistic regression, and gradient-boosted decision
stumps (which find exact values, such as "always 16 new tokens", that a linear model smooths over). Each
is trained on 70% of a balanced set of probe and client sessions and scored on the other 30%; the
accuracy is given with a 95% Wilson interval, so "chance" is 50% within it.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from bench.probe_traffic import Session, client_corpus, client_sessions, client_texts, new_probes, old_probes
from bench.report import Section, Target, machine_summary, table
from swarmtrust.verifier.prompts import standard_corpus

SESSIONS = 1500  # per class
BUCKETS = 128  # hashed token bigrams
BOOSTING_ROUNDS = 80
META = 7  # features a server sees apart from the prompt's text (the text's follow)
BINS = 24
_WORDS = re.compile(r"\s*\S+")  # as the generator's chain splits text


def features(sessions: Sequence[Session], aware: bool = False) -> np.ndarray:
    """One row per session: the peer's history, lengths, batch, and the prompt's token statistics."""
    known = set(standard_corpus().prose.following) | set(standard_corpus().code.following) if aware else set()
    earlier: dict[str, int] = {}
    last: dict[str, float] = {}
    rows = []
    for session in sorted(sessions, key=lambda s: s.arrived):
        before = earlier.get(session.peer, 0)
        gap = session.arrived - last[session.peer] if before else 0.0
        earlier[session.peer], last[session.peer] = before + 1, session.arrived
        ids = np.asarray(session.prompt, dtype=np.int64)
        unigrams = np.bincount(ids % 256, minlength=256) / len(ids)
        bigrams = np.bincount((ids[:-1] * 31 + ids[1:]) % BUCKETS, minlength=BUCKETS) / max(1, len(ids) - 1)
        meta = [math.log1p(before), float(before == 0), math.log1p(gap), math.log(len(ids)), math.log(session.steps)]
        meta += [float(session.batch), float(session.steps in (16, 32, 64, 128, 256))]
        if aware:  # an attacker who knows the generator's (public) corpus: how many word pairs are in it
            words = _WORDS.findall(bytes(int(i) - 3 for i in ids[1:] if 3 <= i < 259).decode("utf-8", "replace"))
            pairs = list(itertools.pairwise(words))
            meta.append(sum(p in known for p in pairs) / len(pairs) if pairs else 0.0)
        rows.append(np.concatenate([meta, unigrams, bigrams]))
    return np.asarray(rows)


def logistic_regression(train: np.ndarray, labels: np.ndarray, l2: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    mean, scale = train.mean(axis=0), train.std(axis=0) + 1e-9
    x = np.hstack([(train - mean) / scale, np.ones((len(train), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1 / (1 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0, z) - labels * z) + 0.5 * l2 * w[:-1] @ w[:-1])
        grad = x.T @ (p - labels) + l2 * np.append(w[:-1], 0.0)
        return value, grad

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return lambda test: np.hstack([(test - mean) / scale, np.ones((len(test), 1))]) @ w > 0


def boosted_stumps(train: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Gradient boosting of depth-1 trees on the logistic loss, over per-feature quantile bins."""
    edges = [np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1])) for column in train.T]
    binned = np.stack([np.searchsorted(e, column, side="right") for e, column in zip(edges, train.T, strict=True)], 1)
    score = np.zeros(len(train))
    stumps: list[tuple[int, float, float, float]] = []  # feature, threshold, value left, value right
    for _ in range(BOOSTING_ROUNDS):
        p = 1 / (1 + np.exp(-score))
        gradient, hessian = labels - p, p * (1 - p)
        best = (-1.0, 0, 0, 0.0, 0.0)
        for feature in range(train.shape[1]):
            g = np.bincount(binned[:, feature], gradient, BINS + 1).cumsum()
            h = np.bincount(binned[:, feature], hessian, BINS + 1).cumsum() + 1e-9
            gain = g**2 / h + (g[-1] - g) ** 2 / (h[-1] - h + 1e-9)
            cut = int(np.argmax(gain[:-1]))
            if gain[cut] > best[0]:
                left, right = g[cut] / h[cut], (g[-1] - g[cut]) / (h[-1] - h[cut] + 1e-9)
                best = (float(gain[cut]), feature, cut, float(left), float(right))
        _, feature, cut, left, right = best
        threshold = edges[feature][cut] if cut < len(edges[feature]) else math.inf
        stumps.append((feature, threshold, 0.3 * left, 0.3 * right))
        score += np.where(train[:, feature] < threshold, 0.3 * left, 0.3 * right)

    def predict(test: np.ndarray) -> np.ndarray:
        total = np.zeros(len(test))
        for feature, threshold, left, right in stumps:
            total += np.where(test[:, feature] < threshold, left, right)
        return total > 0

    return predict


@dataclass(frozen=True)
class Score:
    accuracy: float
    low: float
    high: float
    tested: int


def wilson(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


GROUPS = ("all features", "all but the text", "the text alone")


def score(probes: Sequence[Session], clients: Sequence[Session], seed: int, aware: bool = False) -> dict[str, Score]:
    """For each group of features, the better of the two classifiers on the held-out sessions."""
    x = np.vstack([features(probes, aware), features(clients, aware)])
    y = np.concatenate([np.ones(len(probes)), np.zeros(len(clients))])
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.7 * len(y))
    train, test = order[:cut], order[cut:]
    text = np.arange(x.shape[1]) >= META
    columns = {GROUPS[0]: np.ones(x.shape[1], bool), GROUPS[1]: ~text, GROUPS[2]: text}
    found = {}
    for group, keep in columns.items():
        best = 0
        for fit in (logistic_regression, boosted_stumps):
            predicted = fit(x[train][:, keep], y[train])(x[test][:, keep])
            best = max(best, int(np.sum(predicted == y[test].astype(bool))))
        found[group] = Score(best / len(test), *wilson(best, len(test)), len(test))
    return found


def run() -> Section:
    from transformers import AutoTokenizer

    from swarmtrust.node.model.source import resolve_model

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("tiny").directory), local_files_only=True)

    def encode(text: str) -> list[int]:
        return list(tokenizer(text).input_ids)

    rng = random.Random(15)
    texts = client_texts()
    clients_text, own_text = texts[0::2], texts[1::2]  # the clients' files, and others of the same kind
    one_shot = client_sessions(SESSIONS, 0.0, encode, rng, clients_text)
    mixed = client_sessions(SESSIONS, 0.5, encode, rng, clients_text)
    old = old_probes(SESSIONS, encode, rng)
    public = new_probes(SESSIONS, encode, rng)
    own = new_probes(SESSIONS, encode, rng, client_corpus(own_text))
    cases = [
        ("old probes", "one-shot peers", score(old, one_shot, 1)),
        ("old probes", "half from long-lived peers", score(old, mixed, 2)),
        ("new probes, corpus of the clients' kind", "one-shot peers", score(own, one_shot, 3)),
        ("new probes, corpus of the clients' kind", "half from long-lived peers", score(own, mixed, 4)),
        ("new probes, default corpus, attacker reads it", "one-shot peers", score(public, one_shot, 5, aware=True)),
    ]
    rows = [
        [probes, clients, *(f"{s.accuracy:.1%} ({s.low:.1%} – {s.high:.1%})" for s in scores.values())]
        for probes, clients, scores in cases
    ]
    seconds = time.perf_counter() - started
    best_new = cases[2][2][GROUPS[1]].high
    best_text = cases[2][2][GROUPS[2]].accuracy
    worst_old = cases[0][2][GROUPS[0]].low
    markdown = "\n".join(
        [
            "## Can a server tell probes from clients? (issue 15)",
            "",
            f"Machine: {machine_summary()}. {SESSIONS} probe and {SESSIONS} client sessions per case, 70% to train, "
            f"30% held out; {seconds:.0f} s in all. Features: what the first server of a chain sees (the peer's "
            "earlier sessions and the time since its last, prompt tokens as read from the embeddings — byte and "
            "hashed bigram frequencies — prompt length, new tokens, batch size). Clients (`bench/probe_traffic.py`): "
            "excerpts of the repository's docs and of installed packages' code, some in chat forms; chat-short and "
            "document-long prompts; common and free new-token settings; peers one-shot (as `swarmtrust generate`) "
            "or, in half the sessions, long-lived in bursts. New probes: the verifier's own prompt generator, lengths "
            "drawn from the ledger's summary of 2,000 earlier client sessions, a fresh peer each.",
            "",
            table(["probes", "clients", *(f"accuracy: {g} (95%)" for g in GROUPS)], rows),
            "",
            "Chance is 50%; each cell is the better of logistic regression and boosted stumps. Apart from the "
            "text (peer, timing, lengths, batch), the new probes are at or near chance against one-shot clients; "
            "against clients that keep one peer for a burst of sessions, a peer never seen before is a hint. The "
            "text still gives probes away: with a generator corpus of the same kind as the clients' text (a "
            "verifier's own `--probe-corpus`), and more with the default, public corpus against an attacker who "
            "reads it (the last row adds the share of the prompt's word pairs found in that corpus). A word chain "
            "does not write like people; closing that gap needs prompts drawn from the clients' own distribution.",
        ]
    )
    targets = (
        Target(
            "probes told from clients by all but the text (upper 95%)", f"{best_new:.1%}", "≤ 55%", best_new <= 0.55
        ),
        Target("probes told from clients by the text", f"{best_text:.1%}", "≤ 55%", best_text <= 0.55),
        Target("old probes told from clients (lower 95%)", f"{worst_old:.1%}", "≥ 90%", worst_old >= 0.9),
    )
    return Section("probe-classifier", markdown, targets)
