"""Reading the ledger service's REST API in tests: one GET, or every item of every cursor page."""

from __future__ import annotations

from typing import Any

import httpx


def rest_get(api_url: str, path: str, **params: Any) -> Any:
    """``GET {api_url}/api/v1{path}``; for a paged list, every item of every page."""
    answer = httpx.get(f"{api_url}/api/v1{path}", params=params, timeout=30).json()
    if not (isinstance(answer, dict) and "items" in answer and "next_cursor" in answer):
        return answer
    items = answer["items"]
    while answer["next_cursor"] is not None:
        params["cursor"] = answer["next_cursor"]
        answer = httpx.get(f"{api_url}/api/v1{path}", params=params, timeout=30).json()
        items += answer["items"]
    return items
