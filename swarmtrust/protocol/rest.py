"""The ledger's REST API as both sides see it: its path prefix, and the answers that clients parse.

The service (``api``) answers with these models and documents them in its OpenAPI document; clients
(``node.ledger_api.LedgerApi``) validate what they receive against the same models, so a field renamed on one
side fails on the other's tests, not in a swarm. ``Schema`` gives every field an example by its name.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

API_PREFIX = "/api/v1"  # every REST path of the ledger service is under it
MicroCredits = Annotated[int, Field(ge=0, strict=True)]  # a whole, non-negative amount: never a float or a string

KEY_EXAMPLE = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
ID_EXAMPLE = "9f86d081884c7d659a2feaa0c55ad015"


HASH_EXAMPLE = "5d41402abc4b2a76b9719d911017c592ae4e0f1c1e6a3b2c9fcd0e9f7a1b2c3d"
MS_EXAMPLE = 1_795_000_000_000
BASE64_EXAMPLE = "kqRzd2FybXRydXN0"
# Examples of fields by name, for every field that does not give its own: the naming conventions of this
# module (``*_key`` hex keys, ``*_id`` hex ids, ``*_ms`` times, ...) make one example serve every schema.
EXAMPLES_BY_NAME: dict[str, Any] = {
    "model_id": "tiny",
    "seq": 42,
    "dtype": "float32",
    "name": "gpu-box-7",
    "block_start": 0,
    "block_end": 4,
    "throughput": 812.5,
    "round": "initial",
    "outcome": "pass",
    "status": "accepted",
    "action": "quarantine",
    "reason": "operator reported a faulty GPU",
    "message": "receipt signature does not verify",
    "where": "reputations",
    "input_shape": [1, 1, 4096],
    "output_shape": [1, 1, 4096],
    "interval": [0.91, 0.99],
    "trust": 0.93,
    "spot_check_rate": 0.42,
    "reliability": 0.95,
    "max_rel_error": 2.4e-7,
    "mean_rel_error": 3.1e-8,
    "announced_state": "online",
    "payload": BASE64_EXAMPLE,
    "signature": BASE64_EXAMPLE,
    "signed_assignment": BASE64_EXAMPLE,
    "next_cursor": "eyJrIjoiM2I2YSJ9",
}
SUFFIX_EXAMPLES: tuple[tuple[str, Any], ...] = (
    ("_key", KEY_EXAMPLE),
    ("signer", KEY_EXAMPLE),
    ("_id", ID_EXAMPLE),
    ("receipt", ID_EXAMPLE),
    ("replaces", ID_EXAMPLE),
    ("_ms", MS_EXAMPLE),
    ("digest", HASH_EXAMPLE),
    ("hash", HASH_EXAMPLE),
    ("_seq", 42),
)
TYPE_EXAMPLES: dict[str, Any] = {"integer": 3, "number": 0.5, "boolean": True, "string": "text"}


def _field_examples(schema: dict[str, Any]) -> None:
    """Give each property of a model's JSON schema an example, unless it has one or is another model."""
    for name, prop in schema.get("properties", {}).items():
        nested = "$ref" in prop or "$ref" in prop.get("items", {}) or "additionalProperties" in prop
        if "examples" in prop or nested:
            continue
        if name in EXAMPLES_BY_NAME:
            example = EXAMPLES_BY_NAME[name]
        else:
            example = next((e for suffix, e in SUFFIX_EXAMPLES if name.endswith(suffix)), None)
            if example is None:
                kinds = [k.get("type") for k in prop.get("anyOf", [prop]) if k.get("type") != "null"]
                example = TYPE_EXAMPLES.get(kinds[0] if kinds else "")
        if example is not None:
            prop["examples"] = [example]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_field_examples)


# --- reputation -----------------------------------------------------------------------------------------


class Posterior(Schema):
    alpha: float
    beta: float


class ReputationView(Schema):
    state: str = Field(description="newcomer, trusted or quarantined", examples=["trusted"])
    trust: float = Field(description="5% credible lower bound of the long posterior (0 when quarantined)")
    interval: list[float] = Field(description="[5%, 95%] credible bounds of the long posterior")
    posterior: Posterior = Field(description="The long-horizon Beta posterior, decayed to now")
    short_posterior: Posterior = Field(description="The short-horizon posterior that triggers quarantine")
    spot_check_rate: float = Field(description="Share of this server's sessions clients should challenge")
    checks: int
    passes: int
    fails: int
    consecutive_passes: int
    bonded: bool = Field(
        description="Its bond meets the bond rule at its price, for a full-length session through its announced "
        "span: clients route it beyond the exploration budget (see docs/market.md)"
    )
    bond: MicroCredits = Field(0, description="Micro-credits in its bond, which a confirmed cheat is slashed from")
    price: MicroCredits = Field(0, description="Micro-credits per block-token it quoted (0: none, it works for free)")


class ServerReputation(ReputationView):
    server_key: str = Field(examples=[KEY_EXAMPLE])
    checked: bool = Field(description="False: never checked, so this is today's newcomer prior")
    model_id: str | None = None


class CheckpointRef(Schema):
    """Which checkpoint an answer stands on: clients remember the latest and refuse answers that go back."""

    number: int = Field(ge=1, examples=[12])
    digest: str = Field(pattern="^[0-9a-f]{64}$", examples=[HASH_EXAMPLE])


class ReputationBatch(Schema):
    model_id: str | None = Field(description="The model asked for, if any")
    as_of_ms: int
    newcomer: ReputationView = Field(description="What a server never checked gets today")
    servers: dict[str, ReputationView] = Field(description="By hex server key")
    checkpoint: CheckpointRef | None = Field(
        default=None, description="The ledger's latest final checkpoint (null: none yet)", examples=[None]
    )
