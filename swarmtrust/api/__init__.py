"""The ledger service: a FastAPI app over the ledger (REST API and the administrators' dashboard).

- ``app``: the application factory and its lifespan; ``service``: ``LedgerService``, the typed state handlers
  share (injected as ``Service``) and the background work the lifespan starts and stops;
- ``settings``: flags and ``SWARMTRUST_*`` variables of ``swarmtrust api serve``;
- ``auth``: signed requests (Ed25519 over method, path, body digest, timestamp) with replay refusal;
- ``errors``: every domain error mapped to an HTTP status in one place, one error body shape;
- ``bodies``: the media types msgpack routes take (415 for others) and decoding bodies into 4xx;
- ``admin_auth``: the administrator's token, session cookies and CSRF tokens; ``admin_sessions``: sessions
  ended by logging out, shared across processes; ``login_throttle``: wrong tokens per address, then 429;
- ``routes``: one router per resource; ``cli``: ``swarmtrust api serve``;
- ``deps``: what route handlers share (the engine, the clock, path and query types); ``pagination``: cursors;
- ``schemas``: the shapes of the answers, with examples (those clients parse are in ``protocol.rest``);
  ``model_schemas``: the model routes' shapes;
- ``admin_actions``: what an administrator can do, for the REST API and the dashboard alike;
- ``reputation_cache``: a model's reputation page, kept until it changes or a second has passed;
- ``settlement``: releasing due escrow in the background; ``checkpointing``: proposing checkpoints in the
  background; ``snapshots``: signed reputation snapshots in the DHT;
- ``metrics``: Prometheus metrics of requests, ingest and the ledger's state;
- ``dashboard``: the administrators' web dashboard.
"""
