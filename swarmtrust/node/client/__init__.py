"""The client: finds servers in the DHT, routes through a chain of them, checks every receipt, fails over.

- ``discovery``: verified server announcements from the DHT;
- ``chain_search``: the chain choice, a shortest path over block boundaries (pure; the route cost lives here);
- ``route_policy``: which servers may carry a session: quarantine, trust, the exploration budget, the bond rule, bans;
- ``bans``: liveness bans with back-off; ``latency``: step times the client measures itself, per server;
- ``config``: client settings, with units;
- ``reputation``: servers' reputations, bonds and prices from the ledger's REST API or DHT snapshot;
- ``checkpoint_memory``: the latest final checkpoint seen per ledger, checked by its co-signatures; answers that do
  not extend it are refused (pure);
- ``fork_reports``: reports of a ledger that signed two histories, published in and read from the DHT;
- ``receipt_check``: what a receipt must say about the step just taken (pure);
- ``faults``: what can go wrong with a server, as the client records it;
- ``misbehaviour``: a server's contradictory signed receipts, reported to the ledger as a proof;
- ``transport``: one inference stream to one server over hivemind P2P; ``exchange``: one step's request and the
  checks on its reply; ``forward``: a stateless forward pass through a chain;
- ``session``: an inference session across a chain, with failover by replaying history;
- ``swarm``: ``SwarmClient``, the DHT/P2P connection and its event loop, behind a plain Python API;
- ``generation``: generation with embeddings, LM head and the choice of tokens on the client;
- ``causal_lm``: ``DistributedModelForCausalLM``, transformers' ``from_pretrained`` and ``generate`` over the swarm;
- ``evidence``: what the client keeps of a sampled session, and the challenge it submits;
- ``payments``: paying servers for a finished generation through the ledger's market.
"""
