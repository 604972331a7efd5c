"""A bfloat16 cheater caught by verifiers judging with ledger-served tolerances, with real processes on loopback:
tiny is registered for bfloat16 and float16, and the ledger serves a calibrator-signed tolerance record for
bfloat16 only (the shipped calibration's document). A server of blocks 0:8 in bfloat16 adds noise at 1e-2 of its
output's RMS to every step; three verifiers (a failure needs a quorum of three) compare escalated checks bit for
bit, as one-machine swarms may (``--exact-replay``). Sessions through the cheater are checked one at a time
until it is quarantined: within 3 checks. An honest float16 server's session, for which the ledger holds no
tolerance record, gets no verdict at all, and the verifiers log why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from swarmtrust.launcher import ChildProcess, LocalSwarm
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.verifier.tolerance_records import select_document
from tests.node.swarm_helpers import PROMPT, tiny
from tests.rest import rest_get
from tests.verifier.exactness import needs_shipped_exactness

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

STEPS = 24  # decode steps per session: enough that the noise's pooled error nears the threshold and escalates
MAX_CHECKS = 3
VERIFIERS = ("v1", "v2", "v3")


@dataclass
class Live:
    swarm: LocalSwarm
    keys: dict[str, str]  # public keys by process name
    verifiers: list[ChildProcess]
    client: SwarmClient

    def api(self, path: str, **params: Any) -> Any:
        return rest_get(self.swarm.api_url, path, **params)

    def session(self, name: str, variant: int) -> list[dict[str, Any]]:
        """One session through server ``name`` alone, every step kept for a check; its challenges."""
        servers = [s for s in self.client.servers("tiny", 8) if s.key == self.keys[name]]
        prompt = [*PROMPT[:-1], 40 + variant]
        return self.client.generate(tiny(), prompt, STEPS, servers=servers, spot_check_rate=1.0).challenges


def bf16_calibration(path: Path) -> Path:
    """The shipped calibration's bfloat16 document of tiny, alone in a file (so float16 gets no record)."""
    shipped = json.loads(resources.files("swarmtrust.verifier").joinpath("tolerances.json").read_text())
    path.write_text(json.dumps([select_document(shipped, "bfloat16")]))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tiny()
    workdir = tmp_path_factory.mktemp("noise")
    with LocalSwarm(workdir) as swarm:
        swarm.start_dht()
        swarm.start_api(
            "--assignment-ttl", "60", models={"tiny": ("bfloat16", "float16")},
            tolerances=bf16_calibration(workdir / "bf16.json"),
        )  # fmt: skip
        alone = ("--batch-sessions", "1")  # verifiers comparing bits need each session computed alone
        servers = {
            "cheater": swarm.launch_server("cheater", "0:8", "--dtype", "bfloat16", "--behavior", "noise:0.01", *alone),
            "half": swarm.launch_server("half", "0:8", "--dtype", "float16", *alone),
        }
        verifiers = [swarm.launch_verifier(name, "--exact-replay", "--verbose") for name in VERIFIERS]
        keys = {name: LocalSwarm.ready(process)["public_key"] for name, process in servers.items()}
        for name, process in zip(VERIFIERS, verifiers, strict=True):
            keys[name] = LocalSwarm.ready(process)["public_key"]
        with SwarmClient([swarm.peer], ledger_url=swarm.api_url) as client:
            client.wait_for_blocks("tiny", 8, min_servers=2)
            yield Live(swarm, keys, verifiers, client)


def wait_for(what: str, condition: Any, timeout: float = 240.0) -> Any:
    """Poll ``condition`` until it returns something true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
    return found


def decided(live: Live, challenge_id: str) -> dict[str, Any] | None:
    detail: dict[str, Any] = live.api(f"/challenges/{challenge_id}")
    return detail if detail["phase"] == "decided" else None


def test_the_bfloat16_ledger_tolerances_are_what_the_verifiers_judge_by(live: Live) -> None:
    view = live.api("/models/tiny")
    assert set(view["tolerances"]) == {"bfloat16"}
    for verifier in live.verifiers:
        wait_for(
            "the verifier logs its tolerances", lambda v=verifier: "judging tiny bfloat16 by the ledger's" in v.stderr()
        )


@needs_shipped_exactness
def test_a_bfloat16_server_adding_noise_is_quarantined_within_three_checks(live: Live) -> None:
    outcomes = []
    for check in range(1, MAX_CHECKS + 1):
        (challenge,) = live.session("cheater", check)
        detail = wait_for("the check is decided", lambda c=challenge: decided(live, c["challenge_id"]))
        outcomes.append(detail["outcome"])
        reputation = live.api(f"/servers/{live.keys['cheater']}/reputation")
        if reputation["state"] == "quarantined":
            break
    assert reputation["state"] == "quarantined", f"not quarantined after {MAX_CHECKS} checks: {outcomes}"
    assert outcomes[-1] == "fail" and reputation["fails"] >= 1 and reputation["trust"] == 0.0
    assert len(detail["verdicts"]) >= 3, "a failure is decided by a quorum, never one verifier's word"
    print(f"quarantined after {len(outcomes)} check(s): {outcomes}")


def test_a_session_in_a_dtype_without_a_ledger_record_gets_no_verdict_and_the_verifier_says_why(live: Live) -> None:
    (challenge,) = live.session("half", 0)
    reason = "cannot judge this session: no tolerances for tiny in float16 on cpu: the ledger serves no tolerance"
    wait_for("a verifier logs why it cannot judge", lambda: any(reason in v.stderr() for v in live.verifiers))
    assert live.api("/verdicts", server=live.keys["half"]) == []
    detail = live.api(f"/challenges/{challenge['challenge_id']}")
    assert detail["phase"] != "decided" and detail["verdicts"] == []
    reputation = live.api(f"/servers/{live.keys['half']}/reputation")
    assert reputation["state"] != "quarantined" and reputation["fails"] == 0
