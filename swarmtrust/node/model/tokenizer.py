"""A model directory's tokenizer, or an error that says what to pass instead of text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swarmtrust.protocol.errors import SwarmtrustError

# What transformers loads a tokenizer from: a fast tokenizer's file, its config, or a slow one's vocabulary.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


class NoTokenizerError(SwarmtrustError):
    """The model directory has no tokenizer that loads: text cannot be turned into tokens or back."""


def load_tokenizer(directory: Path) -> Any:
    """The directory's tokenizer (a transformers ``PreTrainedTokenizerBase``); NoTokenizerError if it has none."""
    advice = "pass token ids instead (--prompt-ids 1,2,3), or copy the model's tokenizer files into the directory"
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise NoTokenizerError(f"{directory} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}): {advice}")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, ImportError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NoTokenizerError(f"the tokenizer in {directory} does not load ({reason}): {advice}") from None
