"""Schemathesis against the service's own OpenAPI document, over real HTTP: whatever it generates from the
spec (examples, boundary values, random and stateful sequences, with and without credentials) gets no 5xx,
and every answer is one the spec documents, in the documented shape."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from swarmtrust.launcher import LocalSwarm
from tests.conftest import missing_real_component

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

TOKEN = secrets.token_urlsafe(24)
ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
)
# Not checked: "positive_data_acceptance" (schema-valid but unsigned writes, and cursors that this service
# never gave out, are rightly refused) and the Allow header of 405 answers (Starlette lists only the methods
# of the first route matching a path).


def test_no_generated_request_breaks_the_service_or_its_contract(tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    if not schemathesis.exists():
        missing_real_component("the OpenAPI fuzz test needs schemathesis: install the project with its dev extras")
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api(admin_token=TOKEN)
        command = [
            str(schemathesis),
            "run",
            f"{url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--header",
            f"Authorization: Bearer {TOKEN}",  # administrators' routes are fuzzed past the login too
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "15",
            "--workers",
            "1",
        ]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
        run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
        assert " passed" in run.stdout and "failures" not in run.stdout.split("SUMMARY")[-1]

        # What was accepted along the way is still there, and the log still checks out.
        audit = httpx.post(f"{url}/api/v1/admin/audit", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert audit.status_code == 200 and audit.json()["ok"], audit.text
