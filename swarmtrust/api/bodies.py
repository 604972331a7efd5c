"""Binary request bodies: the media types a msgpack route takes, and decoding them into 4xx, never 500.

Signed writes carry msgpack (a batch of receipts, a ``[challenge, evidence]`` pair, a signed envelope).
``MsgpackBody`` is such a route's body once its ``Content-Type`` is one of ``MSGPACK_TYPES`` (or absent,
as from a bare HTTP client); any other type is refused with 415 before the signature is even looked at,
so a browser's form or a JSON document can never be mistaken for a record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from swarmtrust.api.errors import ApiError
from swarmtrust.api.schemas import ErrorBody
from swarmtrust.protocol.canonical import unpack_list
from swarmtrust.protocol.errors import WireFormatError

MSGPACK_TYPES = frozenset(
    {"application/x-msgpack", "application/msgpack", "application/vnd.msgpack", "application/octet-stream"}
)


def media_type(content_type: str | None) -> str | None:
    """The bare media type of a ``Content-Type`` header (parameters such as charset dropped), lower case."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


async def msgpack_body(request: Request) -> bytes:
    given = media_type(request.headers.get("content-type"))
    if given is not None and given not in MSGPACK_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"this route takes msgpack bytes, not {given}: send Content-Type: application/x-msgpack "
            "(or application/octet-stream)",
        )
    return await request.body()


MsgpackBody = Annotated[bytes, Depends(msgpack_body)]
UNSUPPORTED_MEDIA: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorBody, "description": "The body is sent as another media type than msgpack"}
}  # for the responses of every route that takes MsgpackBody


def msgpack_list(body: bytes, what: str) -> list[Any]:
    """``body`` as one msgpack array (not checked for canonical form: only records inside it are signed);
    400 ``bad_body`` for anything else."""
    try:
        return unpack_list(body, max_bytes=len(body), what=what, canonical=False)
    except WireFormatError as exc:
        raise ApiError(400, "bad_body", f"expected a msgpack array: {exc}") from None
