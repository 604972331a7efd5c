"""``swarmtrust simulate``: a discrete-event adversary simulation of the trust layer.

It runs the real code of the system, not a model of it: reputation (``ledger.reputation``), spot-check
rates and audit sampling, the consensus round logic and verifier reliability (``ledger.consensus``), and
the client's routing policy (``node.client.router``). Only the servers, verifiers and network are
simulated.

- ``config``: scenarios and parameters (adversary, malicious fraction, sizes, seed);
- ``world``: the simulated servers and verifiers;
- ``engine``: the event loop: requests, routing, corrupted steps, spot checks, consensus, reputation;
- ``metrics``: what is measured and the JSON report; ``plots``: PNG figures (matplotlib).
"""
