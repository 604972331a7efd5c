"""The client: finds servers in the DHT, routes through a chain of them, checks every receipt, fails over.

- ``discovery``: verified server announcements from the DHT;
- ``routing``: the chain choice (pure; the route cost lives here and nowhere else);
- ``router``: the routing policy: quarantine, trust, the exploration budget, the bond rule, bans;
- ``reputation``: servers' reputations, bonds and prices from the ledger's REST API or DHT snapshot;
- ``receipt_check``: what a receipt must say about the step just taken (pure);
- ``faults``: what can go wrong with a server, as the client records it;
- ``misbehaviour``: a server's contradictory signed receipts, reported to the ledger as a proof;
- ``transport``: one inference stream to one server over hivemind P2P;
- ``session``: an inference session across a chain, with failover by replaying history;
- ``swarm``: ``SwarmClient``, the DHT/P2P connection and its event loop, behind a plain Python API;
- ``generation``: greedy generation with embeddings and LM head on the client.
"""
