"""swarmtrust: the trust layer for decentralised LLM inference. Its sub-packages are its layers:

- ``protocol``: the wire kernel every role shares (records, signatures, receipts, evidence); imports nothing
  else of the project;
- ``node``: the block server and the client over the hivemind swarm;
- ``verifier``: tolerances, calibration, span replay and the verifier loop;
- ``ledger``: the SQL ledger (event log, projections, spot checks, consensus, reputation, market);
  ``migrations``: its schema's Alembic revisions;
- ``api``: the ledger's REST service and dashboard.

The top level is the ``swarmtrust`` command, one console script whose sub-commands are owned by the packages.
It sits above every package so that none of them has to import another just to be reachable from the
command line.

- ``cli``: the root of the command line; ``launcher``: swarm roles as child processes on this machine;
- ``demo``: ``swarmtrust demo``; ``demo_plan`` (pure): who runs and who cheats; ``demo_run``: the run;
  ``demo_traffic``: clients generating through the swarm; ``demo_stages``: the market's opening, a failover,
  the dashboard and the ledger's audit; ``demo_tally`` (pure): what the traffic did; ``demo_report``: the report;
- ``simulation``: ``swarmtrust simulate``, the adversary simulation;
- ``checkpoint_cosigning``: a verifier's co-signatures of the ledger's checkpoints. It runs the ledger's own folds
  over the events it fetches (the same folds as the audit, so that it derives what the ledger must), which is why
  it sits here, where the verifier and the ledger meet, and not in either package.
"""
