"""The one client of the ledger service's REST API (httpx): every role's requests go through ``LedgerApi``.

Requests are signed with the caller's key where it has one (``protocol.http_signing``: writes need it, reads
do not), and carry an administrator's token where one is given. Answers that clients act on are validated
against the models the service answers with (``protocol.rest``).
"""

from __future__ import annotations

import functools
import json
import ssl
from typing import Any
from urllib.parse import quote

import httpx
import nacl.signing
import pydantic

from swarmtrust.protocol.challenges import pack_submission
from swarmtrust.protocol.checkpoint_proofs import FinalityProof
from swarmtrust.protocol.checkpoints import Checkpoint, CheckpointSignature
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.http_signing import sign_request
from swarmtrust.protocol.rest import API_PREFIX, ReputationBatch
from swarmtrust.protocol.signing import open_signed

PAGE_LIMIT = 1000  # items asked for per page when reading a whole list


class LedgerApiError(SwarmtrustError):
    """The ledger service refused a request or could not be reached; ``status`` and ``code`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"ledger service: {message} ({status} {code})")
        self.status = status
        self.code = code


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate-checking TLS context every ``LedgerApi`` shares: building one reads the CA bundle (about
    20 ms of CPU), which a client that opens an API per session would otherwise spend on every session."""
    return httpx.create_ssl_context()


class LedgerApi:
    """``key`` signs every request (None: unsigned, for reads); ``admin_token`` authorises the admin routes."""

    def __init__(
        self,
        base_url: str,
        key: nacl.signing.SigningKey | None = None,
        *,
        admin_token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._key = key
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, verify=tls_context())
        if admin_token is not None:
            self._http.headers["Authorization"] = f"Bearer {admin_token}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LedgerApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes = b"", content_type: str | None = None) -> httpx.Response:
        """``method`` on ``API_PREFIX + path``; a refusal or an unreachable service raises ``LedgerApiError``."""
        request = self._http.build_request(method, API_PREFIX + path, content=body)
        if content_type:
            request.headers["Content-Type"] = content_type
        if self._key is not None:
            request.headers.update(sign_request(self._key, method, request.url.raw_path.decode(), body))
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise LedgerApiError(0, "unreachable", f"cannot reach {self._http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", response.text[:200]
            raise LedgerApiError(response.status_code, code, message)
        return response

    def submit_challenge(self, challenge_wire: bytes, evidence: bytes) -> dict[str, Any]:
        body = pack_submission(challenge_wire, evidence)
        result: dict[str, Any] = self.request("POST", "/challenges", body, "application/x-msgpack").json()
        return result

    def claim_assignment(self, models: list[str] | None = None) -> dict[str, Any] | None:
        query = "?" + str(httpx.QueryParams([("model", m) for m in models])) if models else ""
        response = self.request("GET", "/assignments" + query)
        return None if response.status_code == 204 else dict(response.json())

    def evidence(self, digest: str) -> bytes:
        return self.request("GET", f"/evidence/{digest}").content

    def submit_verdict(self, verdict_wire: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/verdicts", verdict_wire, "application/octet-stream").json()
        return result

    def report_misbehaviour(self, proof_wire: bytes) -> dict[str, Any]:
        """Send a signed ``MisbehaviourProof`` (the request must be signed by its reporter)."""
        result: dict[str, Any] = self.request("POST", "/misbehaviour", proof_wire, "application/octet-stream").json()
        return result

    def get(self, path: str, **params: str) -> Any:
        query = "?" + str(httpx.QueryParams(params)) if params else ""
        return self.request("GET", path + query).json()

    def post_json(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST a JSON body (the admin routes take JSON); the answer's JSON."""
        return self.request("POST", path, json.dumps(body or {}).encode(), "application/json").json()

    def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a paged list (``GET path``, following ``next_cursor`` to the last page)."""
        answer = self.get(path, **params, limit=str(PAGE_LIMIT))
        items: list[dict[str, Any]] = list(answer["items"])
        while answer["next_cursor"] is not None:
            answer = self.get(path, **params, limit=str(PAGE_LIMIT), cursor=answer["next_cursor"])
            items += answer["items"]
        return items

    def reputation(self, model_id: str) -> ReputationBatch:
        """Every checked server of ``model_id`` and the newcomer prior (``GET /reputation``), validated; an
        answer of another shape raises ``LedgerApiError`` with code ``malformed_answer``."""
        response = self.request("GET", "/reputation?" + str(httpx.QueryParams(model=model_id)))
        try:
            return ReputationBatch.model_validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise LedgerApiError(response.status_code, "malformed_answer", f"a reputation answer: {exc}") from exc

    def session_lengths(self, model_id: str) -> dict[str, Any]:
        """The recent distribution of session lengths of ``model_id`` (``GET /session-lengths``)."""
        result: dict[str, Any] = self.get("/session-lengths", model=model_id)
        return result

    def found(self, path: str) -> dict[str, Any] | None:
        """``GET path``'s answer; None for a 404 (the ledger has no such thing)."""
        try:
            answer: dict[str, Any] = self.get(path)
        except LedgerApiError as exc:
            if exc.status == 404:
                return None
            raise
        return answer

    def model(self, model_id: str) -> dict[str, Any] | None:
        """The model's registration, its history and tolerances (``GET /models/{model_id}``); None when the
        ledger knows no registration of it (or is older than model registrations)."""
        return self.found(f"/models/{quote(model_id, safe='')}")

    def checkpoints(self) -> dict[str, Any]:
        """``GET /checkpoints``: the latest checkpoint and the latest final one (each None when there is none)."""
        answer: dict[str, Any] = self.get("/checkpoints")
        return answer

    def checkpoint(self, number: int) -> dict[str, Any] | None:
        """``GET /checkpoints/{number}``; None when the ledger has no such checkpoint."""
        return self.found(f"/checkpoints/{number}")

    def finality_proof(self, number: int) -> FinalityProof | None:
        """Checkpoint ``number`` with the one before it and its co-signatures, as the ledger holds them; None when it
        has no such checkpoint. Whether they show it final is ``FinalityProof.verify``'s to say, not the ledger's;
        WireFormatError or SignatureError when an envelope it sends is not valid."""
        view = self.checkpoint(number)
        before = self.checkpoint(number - 1) if number > 1 else None
        if view is None or (number > 1 and before is None):
            return None
        try:
            checkpoint, signatures = bytes.fromhex(view["record"]), [bytes.fromhex(s) for s in view["signatures"]]
            previous = bytes.fromhex(before["record"]) if before is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            raise WireFormatError(f"the ledger's checkpoint {number} is not hex envelopes ({exc})") from exc
        return FinalityProof(
            open_signed(Checkpoint, checkpoint),
            open_signed(Checkpoint, previous) if previous is not None else None,
            tuple(open_signed(CheckpointSignature, s) for s in signatures),
        )

    def events_after(self, after: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` events after seq ``after``, in order, as ``GET /events`` serves them."""
        items: list[dict[str, Any]] = self.get("/events", after=str(after), limit=str(limit))["items"]
        return items

    def cosign_checkpoint(self, number: int, signature_wire: bytes) -> dict[str, Any]:
        """Send a signed ``CheckpointSignature`` of checkpoint ``number``."""
        path = f"/checkpoints/{number}/signatures"
        result: dict[str, Any] = self.request("POST", path, signature_wire, "application/octet-stream").json()
        return result

    def tolerance_record(self, model_id: str, dtype: str, device: str = "cpu") -> bytes | None:
        """The latest signed tolerance record's envelope for ``model_id`` in ``dtype``, replayed on a ``device`` kind
        (``GET /models/{model_id}/tolerances/{dtype}?device=``); None when the ledger holds none. The caller verifies
        it (``verifier.ledger_tolerances.open_record``): the ledger only relays what a calibrator signed."""
        path = f"/models/{quote(model_id, safe='')}/tolerances/{quote(dtype, safe='')}?device={quote(device, safe='')}"
        try:
            return self.request("GET", path).content
        except LedgerApiError as exc:
            if exc.status == 404:
                return None
            raise
