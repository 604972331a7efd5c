"""The ledger service: a FastAPI app over the ledger (REST API; the dashboard comes later).

- ``app``: the application factory and its lifespan (engine, ledger key, spot-check desk);
- ``settings``: flags and ``SWARMTRUST_*`` variables of ``swarmtrust api serve``;
- ``auth``: signed requests (Ed25519 over method, path, body digest, timestamp) with replay refusal;
- ``errors``: every domain error mapped to an HTTP status in one place, one error body shape;
- ``bodies``: the media types msgpack routes take (415 for others) and decoding bodies into 4xx;
- ``admin_auth``: the administrator's token, session cookies and CSRF tokens; ``admin_sessions``: sessions
  ended by logging out, shared across processes; ``login_throttle``: wrong tokens per address, then 429;
- ``routes``: one router per resource; ``cli``: ``swarmtrust api serve``.
"""
