"""Verifiers: recompute spans from evidence and sign verdicts; probe servers as ordinary clients.

- ``tolerance``: the comparison of one replayed step with the claimed one, against inner scales (pure);
- ``statistics``: the session statistics a check decides on (prompt step, largest step, pooled error) (pure);
- ``tolerance_document``: tolerance documents (format 2) per model and dtype, thresholds per span (pure);
- ``tail_fit``: thresholds from a generalised Pareto fit of the honest tail, false-positive bounds (pure);
- ``replay``: spans loaded on demand (a small cache) and replayed as one prefill over a session's inputs;
- ``checking``: from evidence to a finding (pass, fail, or invalid evidence) with its error figures;
- ``escalation``: when a check is replayed step by step as the server computed it, compared bit for bit where
  that is exact (a policy, OS-random coins);
- ``worker``: the verifier loop: claim an assignment, fetch its evidence, check, sign and submit a verdict;
- ``probes``: sessions of the verifier's own through the normal client, each under a fresh peer id and key;
- ``prompts``: probe prompts composed afresh from a word chain, of an exact token count;
- ``lengths``: probe lengths drawn from the clients' session lengths the ledger summarises (pure);
- ``calibration``: honest sessions, tail-fitted thresholds and adversaries measured: tolerance documents;
  ``crafted``: the worst statistics a client's crafted inputs can provoke on an honest span, found by search;
  ``batched_serving``: honest sessions served as a batching server serves them, and a check's severity of each;
  ``cli``: the commands;
- ``tolerance_records``: a calibration's tolerance document signed as a ``ToleranceRecord`` for the ledger;
- ``ledger_tolerances``: the records the ledger serves, checked and parsed into what a verifier judges by
  (refused with a reason when they cannot be; a local ``--tolerances`` file overrides them).

(The consensus arithmetic lives in ``ledger.consensus``: it is a pure function of ledger events.)
"""
