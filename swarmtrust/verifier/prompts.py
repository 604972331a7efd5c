"""Probe prompts: text composed afresh for every probe, of exactly the number of tokens asked for.

The first server of a chain sees a prompt's embeddings, and the embedding matrix is public, so it reads the
prompt's tokens: a probe's prompt must look like a client's, and must never come from a list a server can
learn. Prompts are composed from a word chain (each word drawn given the two before it, from a corpus of
prose and code) inside the forms clients use (questions, instructions, chat turns, continuations, code),
with a jump to any word of the corpus now and then. The space is far too large to repeat or enumerate.

The corpus is by default the docstrings and code of Python's standard library, which are on every machine
but public; a verifier that points the generator at a corpus of its own (``--probe-corpus``) denies a
server the word statistics it would need to tell the chain's text from a person's.
"""

from __future__ import annotations

import functools
import inspect
import random
import re
import sysconfig
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from swarmtrust.protocol.errors import SwarmtrustError

CORPUS_CHARS = 3_000_000  # text read at most from a corpus (a few seconds to build, once per process)
JUMP_RATE = 0.12  # chance per word of leaving the chain for any word of the corpus
_WORD = re.compile(r"\s*\S+")  # a word with the whitespace before it: layout (lines, indents) is kept
_DOCSTRING = re.compile(r'"""(.+?)"""', re.DOTALL)

# Forms of prompt; ``{}`` is filled with chain text. Weights: rough shares of chat/completion traffic.
_PROSE_FORMS: tuple[tuple[str, float], ...] = (
    ("{}", 0.30),
    ("{}?", 0.10),
    ("What does this mean: {}", 0.04),
    ("Explain {}", 0.06),
    ("Summarize the following text.\n\n{}", 0.06),
    ("Can you explain why {}?", 0.04),
    ("User: {}\nAssistant:", 0.10),
    ("Q: {}?\nA:", 0.05),
    ("Translate into French: {}", 0.03),
    ("Write a short story about {}", 0.03),
    ("### Instruction:\n{}\n\n### Response:\n", 0.04),
)
_CODE_FORMS: tuple[tuple[str, float], ...] = (
    ("{}", 0.08),
    ("Fix the bug in this code:\n{}", 0.03),
    ("```python\n{}", 0.04),
)


class ProbeCorpusError(SwarmtrustError):
    """A probe corpus that cannot be read or holds too little text; point ``--probe-corpus`` elsewhere."""


@dataclass(frozen=True)
class WordChain:
    """Words (each with the whitespace before it) and, for each pair of words, the words seen after it
    (an order-2 Markov chain); joined as they are, they keep the line breaks and indents of the corpus."""

    words: tuple[str, ...]
    following: dict[tuple[str, str], tuple[str, ...]]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> WordChain:
        following: dict[tuple[str, str], list[str]] = defaultdict(list)
        words: list[str] = []
        for text in texts:
            tokens = _WORD.findall(text)
            words.extend(tokens)
            for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
                following[(a, b)].append(c)
        if len(following) < 1000:
            raise ProbeCorpusError(f"a probe corpus needs more text: {len(following)} word pairs, want 1000+")
        return cls(tuple(words), {pair: tuple(after) for pair, after in following.items()})

    def walk(self, rng: random.Random) -> Iterator[str]:
        """Words without end: the chain, restarted or jumped anywhere now and then."""
        start = rng.randrange(len(self.words) - 1)
        a, b = self.words[start], self.words[start + 1]
        yield a.lstrip()
        yield b
        while True:
            after = self.following.get((a, b))
            word = rng.choice(after) if after and rng.random() >= JUMP_RATE else rng.choice(self.words)
            yield word
            a, b = b, word


@dataclass(frozen=True)
class ProbeCorpus:
    prose: WordChain
    code: WordChain


class PromptGenerator:
    """Prompts of an exact token count; ``encode`` is the model's tokenizer (text -> ids, BOS included)."""

    def __init__(self, corpus: ProbeCorpus, encode: Callable[[str], list[int]], rng: random.Random) -> None:
        self.corpus = corpus
        self.encode = encode
        self.rng = rng
        forms = [(form, weight, corpus.prose) for form, weight in _PROSE_FORMS]
        forms += [(form, weight, corpus.code) for form, weight in _CODE_FORMS]
        self._forms = forms
        self._weights = [weight for _, weight, _ in forms]

    def prompt(self, tokens: int) -> list[int]:
        """A fresh prompt of exactly ``tokens`` token ids (1 or more)."""
        if tokens < 1:
            raise ValueError(f"a prompt of {tokens} tokens: ask for 1 or more")
        form, _, chain = self.rng.choices(self._forms, weights=self._weights)[0]
        if 2 * len(self.encode(form.format(""))) > tokens:
            form = "{}"  # the form would leave too little room for text: bare text
        head, _, tail = form.partition("{}")
        words: list[str] = []
        walk = chain.walk(self.rng)
        ids = self.encode(head + tail)
        while len(ids) < tokens:  # grow a word at a time until the prompt is as long as asked, or longer
            words.append(next(walk))
            ids = self.encode(head + "".join(words) + tail)
        if len(ids) == tokens:
            return ids
        words.pop()  # one word too many: end on another word, of the right length if there is one
        return self._fit(head, words, tail, chain, tokens)

    def _fit(self, head: str, words: list[str], tail: str, chain: WordChain, tokens: int) -> list[int]:
        for _ in range(400):
            word = self.rng.choice(chain.words)
            ids = self.encode(head + "".join([*words, word]) + tail)
            if len(ids) == tokens:
                return ids
        # No word fits (rare: the room left is longer than most words): cut a longer text at the length.
        longer = [*words, *(next(chain.walk(self.rng)) for _ in range(tokens))]
        return self.encode(head + "".join(longer) + tail)[:tokens]


def corpus_from_texts(prose: Iterable[str], code: Iterable[str]) -> ProbeCorpus:
    return ProbeCorpus(WordChain.from_texts(prose), WordChain.from_texts(code))


@functools.cache
def standard_corpus() -> ProbeCorpus:
    """Prose and code of Python's standard library (built once per process)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return corpus_from_files(sorted(p for p in root.rglob("*.py") if "test" not in p.parts and "tests" not in p.parts))


def corpus_from_directory(directory: Path) -> ProbeCorpus:
    """A corpus of one's own: every ``.txt``, ``.md`` and ``.py`` file under ``directory``."""
    if not directory.is_dir():
        raise ProbeCorpusError(f"--probe-corpus {directory}: not a directory of text files")
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".txt", ".md", ".py") and p.is_file())
    return corpus_from_files(files)


def corpus_from_files(files: Iterable[Path]) -> ProbeCorpus:
    """Docstrings and text files feed the prose chain, code lines the code chain."""
    prose: list[str] = []
    code: list[str] = []
    size = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # unreadable files are skipped: a corpus is best effort
        if path.suffix == ".py":
            prose += [inspect.cleandoc(doc) for doc in _DOCSTRING.findall(text)]  # as written, not as indented
            code.append(_DOCSTRING.sub("", text))
        else:
            prose.append(text)
        size += len(text)
        if size >= CORPUS_CHARS:
            break
    if not code:
        code = prose  # a corpus of prose only: its code prompts are prose too
    return corpus_from_texts(prose, code)
