from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from swarmtrust.node.model.checkpoint import Checkpoint
from swarmtrust.node.model.source import ModelNotFoundError, resolve_model
from swarmtrust.node.model.tiny import VOCAB_SIZE, ensure_tiny_model
from swarmtrust.node.settings import NodeSettings
from swarmtrust.node.tensors import fingerprint
from swarmtrust.protocol.digests import span_digest

# Pinned: the tiny model must be byte-identical on every machine, now and later.
TINY_BLOCKS_DIGEST = "0b5db1f0b9088e542727ceff17ca182388014c4bc1a4c1a186cf04cad21f1d43"
TINY_EMBEDDINGS_DIGEST = "c276e3fe175c558bd66a67d568db9d7c16c3f428d45b9e31af19c5773fbe8e71"
TINY_LM_HEAD_DIGEST = "d945b92cded561c9e9915a0963fe074388ec8d6c6660bfffbb6764ce5f377740"
TINY_SAFETENSORS_FILE = "d45bf6d93da0b55006dc729ac8548cfd4ec1346b49d186f1506cb5efcbbfe15b"


@pytest.fixture(scope="module")
def fresh_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from scratch in an empty cache, not taken from the user's cache."""
    return ensure_tiny_model(tmp_path_factory.mktemp("cache"))


def test_the_tiny_weights_are_pinned(fresh_tiny: Path) -> None:
    checkpoint = Checkpoint(fresh_tiny)
    assert span_digest([checkpoint.layer_digest(i) for i in range(8)]).hex() == TINY_BLOCKS_DIGEST
    assert fingerprint(checkpoint.load("model.embed_tokens.")["weight"]).digest.hex() == TINY_EMBEDDINGS_DIGEST
    assert fingerprint(checkpoint.load("lm_head.")["weight"]).digest.hex() == TINY_LM_HEAD_DIGEST
    file_digest = hashlib.blake2b((fresh_tiny / "model.safetensors").read_bytes(), digest_size=32).hexdigest()
    assert file_digest == TINY_SAFETENSORS_FILE


def test_the_tiny_model_is_a_normal_hugging_face_directory(fresh_tiny: Path) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(fresh_tiny), local_files_only=True)
    assert (config.model_type, config.num_hidden_layers, config.vocab_size) == ("llama", 8, VOCAB_SIZE)
    tokenizer = AutoTokenizer.from_pretrained(str(fresh_tiny), local_files_only=True)
    text = "Hello swarm! ünïcode 🙂"
    ids = tokenizer(text).input_ids
    assert ids[0] == 1 and ids[1] == ord("H") + 3
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_a_second_use_reuses_the_cache(fresh_tiny: Path) -> None:
    before = (fresh_tiny / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(fresh_tiny.parent) == fresh_tiny
    assert (fresh_tiny / "model.safetensors").stat().st_mtime_ns == before


def test_model_arguments(tmp_path: Path) -> None:
    settings = NodeSettings(cache_dir=tmp_path)
    source = resolve_model("tiny", settings=settings)
    assert source.model_id == "tiny" and source.directory.parent == tmp_path / "models"
    assert resolve_model(str(source.directory)).directory == source.directory
    with pytest.raises(ModelNotFoundError, match="no model hub is contacted"):
        resolve_model("meta-llama/Llama-2-7b-hf")
