"""One router per resource.

- ``servers``: the directory of signed announcements, with liveness, receipts and reputation; ``capacity``: per
  model, block coverage, throughput and the last minute's load;
- ``receipts``: signed batches in, read back by server or session; ``epochs``: per-server hourly Merkle roots
  and inclusion proofs; ``session_lengths``: the recent distribution of session lengths (for probes);
- ``reputation``: one server's reputation, or many at once;
- ``spotchecks``: challenges, assignments, evidence, verdicts and disputes; ``misbehaviour``: proofs and
  convictions;
- ``market``: accounts, movements, escrow and the signed market records; ``models``: registrations and
  tolerance records;
- ``events``: the event log itself, for auditors and mirrors; ``admin``: administrators' actions;
- ``checkpoints``: checkpoints, verifiers' co-signatures and inclusion proofs of reputations and balances.
"""
