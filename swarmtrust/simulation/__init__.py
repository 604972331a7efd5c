"""``swarmtrust simulate``: a discrete-event adversary simulation of the trust layer.

It runs the real code of the system, not a model of it: reputation (``ledger.reputation``), spot-check
rates and audit sampling, the consensus round logic and verifier reliability (``ledger.consensus``), and
the client's routing policy (``node.client.route_policy``). Only the servers, verifiers and network are
simulated; a verifier catches a corrupted session at the session rate calibration measured for that dtype
and corruption (and fails an honest one at the measured held-out rate), and colluders exploit what they can
see (their partners, their own polling, never an audit coin).

- ``config``: scenarios and parameters (adversary, malicious fraction, dtype, corruption, sizes, seed, the
  calibration whose rates apply);
- ``detection_table``: the measured rates, per dtype and corruption, read from tolerance documents (the shipped
  ``swarmtrust/verifier/tolerances.json`` or ``--calibration FILE``), with the session counts they rest on;
- ``detection``: from those session rates to what one check of a session finds, and the bounds on how long a
  cheater lasts;
- ``world``: the simulated servers and verifiers, and what a check's evidence shows;
- ``engine``: the event loop: requests, routing, corrupted steps, spot checks, consensus (its one call into
  ``ledger.consensus.next_step``), reputation;
- ``metrics``: what is measured and the JSON report; ``plots``: PNG figures (matplotlib);
- ``errors``: ``ScenarioError``, a scenario that cannot be simulated as asked; ``cli``: the command.
"""
