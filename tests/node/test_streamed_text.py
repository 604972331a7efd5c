"""``generate --stream`` prints the text token by token: after each token, what was printed is the text of the
tokens so far (never half a character), and the end completes it to exactly the whole generation's text."""

from __future__ import annotations

import pytest

from swarmtrust.node.cli_generate import _Reader
from swarmtrust.node.model.source import resolve_model


def test_each_token_prints_the_text_it_adds_and_the_end_completes_it(capsys: pytest.CaptureFixture[str]) -> None:
    directory = resolve_model("tiny").directory
    reader = _Reader.of(directory, [], ignore_eos=True, streaming=True)
    assert reader.streaming and reader.tokenizer is not None
    tokens = reader.tokenizer("the swarm checks every step, ünïcödé included").input_ids
    reader.begin()
    printed = ""
    grew = 0
    for count, token in enumerate(tokens, start=1):
        reader.heard(token)
        chunk = capsys.readouterr().out
        printed += chunk
        grew += bool(chunk)
        assert reader.decode(tokens[:count]).startswith(printed), "only text the tokens so far decode to"
        assert "\ufffd" not in printed, "never half a character"
    assert grew > len(tokens) // 2, "the text came as the tokens did, not at the end"
    reader.end()
    printed += capsys.readouterr().out
    assert printed == reader.decode(tokens) + "\n"


def test_without_streaming_nothing_is_printed_per_token(capsys: pytest.CaptureFixture[str]) -> None:
    reader = _Reader.of(resolve_model("tiny").directory, [], ignore_eos=True, streaming=False)
    reader.begin()
    for token in (5, 6, 7):
        reader.heard(token)
    reader.end()
    assert capsys.readouterr().out == ""
