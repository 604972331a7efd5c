"""A server asks the ledger which dtypes its model may be served in before it loads anything (a real ledger
service over HTTP): a registered model refuses another dtype; an unregistered one, or no ledger, only warns."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.server.registration import check_registered_dtype
from swarmtrust.protocol.serving_dtypes import DtypeNotAllowedError
from tests.builders import new_key

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

KEY = new_key()


def test_the_registration_decides_and_its_absence_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api(models={"tiny": ("bfloat16", "float32")})
        check_registered_dtype(url, KEY, "tiny", "float32")
        check_registered_dtype(url, KEY, "tiny", "bfloat16")
        with pytest.raises(DtypeNotAllowedError) as refused:
            check_registered_dtype(url, KEY, "tiny", "float16")
        assert "registered at the ledger for bfloat16, float32, not float16" in str(refused.value)
        assert "start with --dtype bfloat16" in str(refused.value), "the registration's default"
        with caplog.at_level(logging.WARNING):
            check_registered_dtype(url, KEY, "other-model", "float16")
        assert "model other-model is not registered at the ledger" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_registered_dtype(url, KEY, "tiny", "float16")  # the service has stopped: unreachable
    assert "cannot read the registration of tiny" in caplog.text
