"""The SQL ledger: an append-only, hash-chained event log and the tables derived from it.

Modules:
- ``models``: SQLAlchemy tables (``events`` is the source of truth; the rest is derived);
- ``events``: which records may be logged and the hash chain over them (pure);
- ``eventlog``: the one write path (lock the chain head, append, apply projections);
- ``projections``: derived tables as functions of events, applied on write and replayed by the audit;
  ``projection_set``: every projection, in the order they apply; ``rowstore``: rows by key, in memory (the
  audit) or in the database (the write path), so a fold is written once; ``bulk_rows``: whole rows written
  with plain DBAPI statements;
- ``checkpoint_fold``: what a checkpoint must say, from the events alone (pure); ``state_root``: the Merkle root
  of the attested state (reputations, balances) and inclusion proofs (pure); ``checkpoints``: proposing,
  co-signatures and their audit;
- ``statements``: the ledger's own signed records (assignments, rounds, outcomes, mints, settlements, ...);
- ``errors``: the ledger's errors;
- ``ingest``: receipt ingest with per-item accepted / duplicate / rejected results;
- ``misbehaviour``: convictions on a server's own contradictory receipts (a proof, or a conflict at ingest);
  ``misbehaviour_projection``: the ``convictions`` table, whose consequences the reputation and market folds take;
- ``model_registry``: models' registrations (the dtypes each may be served in, signed by the ledger) and
  calibrators' tolerance records; ``model_registry_projection``: the ``models``, ``model_registrations`` and
  ``tolerances`` tables;
- ``spotchecks``: the spot-check desk, joining ``spotcheck_intake`` (challenges and their evidence in),
  ``spotcheck_assignment`` (assignments out) and ``spotcheck_adjudication`` (verdicts, rounds, outcomes) over
  ``spotcheck_desk`` (the state they share);
  ``spotcheck_projection``: their tables;
- ``reputation`` (pure): the Beta reputation model; ``reputation_projection``: its tables as a fold of outcomes;
  ``reputation_queries``: reputations as of now; ``reputation_history``: one server's over time;
- ``consensus`` (pure): verifiers' votes to an outcome; ``market_rules`` (pure): the market's flows;
  ``market``: its write path; ``market_projection``: its tables; ``market_queries``: reading them;
- ``directory``: the server directory's write path, administrators' actions and audit runs;
  ``directory_projection``: each server's newest announcement; ``server_queries``: servers as people see them;
  ``capacity``: per model, block coverage, throughput and the last minute's load;
- ``epochs``: per-server hourly receipt summaries with a Merkle root;
- ``session_lengths``: the recent distribution of session lengths in the receipts (for verifiers' probes);
- ``audit``: chain, signature and derived-table verification;
- ``beacon`` (pure), ``beacon_keeper``, ``beacon_projection``: audit coins by commit-reveal: per-epoch seeds
  derived from the ledger key, committed before use and revealed an epoch later, and the audit's recomputation;
- ``verifier_pool``: who may verify a challenge now (present, serving its model, eligible, reliability) and the
  weighted draw; ``consensus_audit``: the audit's re-run of every audit draw, round and outcome;
- ``db``, ``settings``, ``migrate``: engines (SQLite WAL, PostgreSQL), the database URL, Alembic;
- ``store``: ``Ledger``, the handle the CLI and the API hold; ``cli``: ``swarmtrust ledger ...``.

Nothing is imported here, so the pure modules (``reputation``, ``consensus``, ``market_rules``, ...) load without
the SQL stack.
"""
