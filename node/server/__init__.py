"""The block server: serves a span of a model over hivemind P2P and signs a receipt for every step.

- ``config``: what an operator chooses (span, dtype, limits, behavior, network);
- ``receipting``: building and signing the receipt of one step;
- ``sessions``: one client session's state (KV cache, step, receipt chain);
- ``handler``: the RPC handlers (inference stream, stateless forward) and request validation;
- ``announcer``: signed announcements in the DHT, re-published periodically, marked offline at exit;
- ``app``: start-up and shutdown of the whole server process.
"""
