"""The block server: serves a span of a model over hivemind P2P and signs a receipt for every step.

- ``config``: what an operator chooses (span, dtype, limits, behavior, network);
- ``receipting``: building and signing the receipt of one step;
- ``sessions``: one client session's state (KV cache, step, receipt chain);
- ``session_registry``: every session id this server opened, on disk, so it never signs one step twice;
- ``step_batcher``: concurrent sessions' one-token steps gathered into batched forward passes;
- ``handler``: the RPC handlers (inference stream, pushes, stateless forward) and request validation;
- ``pushes``: hidden states pushed between the servers of a chain (outbox, inbox);
- ``announcer``: signed announcements in the DHT, re-published periodically, marked offline at exit;
- ``registration``: announcing the server to the ledger service as well (``node start --ledger URL``);
- ``span_choice`` (pure): with ``--num-blocks``, the window where the swarm is thinnest and when to move;
  ``placement``: the swarm as that choice sees it (announced servers, their throughput and trust);
- ``status``: the operator's status line (what was served; spot checks, trust and earnings at the ledger);
- ``app``: start-up and shutdown of the whole server process.
"""
