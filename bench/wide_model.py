"""A wider model than ``tiny`` for measurements where width matters: ``python -m bench.wide_model DIR``.

Built like ``tiny`` (``node.model.tiny``: weights from a fixed seed, byte-level tokenizer), with Llama-style
proportions at hidden size 1024, so rounding errors sum over realistic reduction lengths. No model hub is
reachable here; this is the model of hidden size >= 1024 the detection table is calibrated on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from swarmtrust.node.model.tiny import CONFIG, write_tiny_model

WIDE_NAME = "wide-1024"  # the directory name, which is the model id (``node.model.source``)
WIDE_CONFIG: dict[str, object] = CONFIG | {
    "hidden_size": 1024,
    "intermediate_size": 2816,  # ~ 8/3 x hidden, rounded as Llama does
    "num_hidden_layers": 4,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 64,
}


def ensure_wide_model(parent: Path) -> Path:
    """The wide model's directory under ``parent`` (its name is the model id), written there if missing."""
    directory = parent / WIDE_NAME
    if not (directory / "model.safetensors").exists():
        write_tiny_model(directory, WIDE_CONFIG)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("parent", type=Path, help=f"the folder to write {WIDE_NAME}/ into")
    print(ensure_wide_model(parser.parse_args().parent))


if __name__ == "__main__":
    main()
