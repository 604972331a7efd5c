"""Verifiers: recompute spans from evidence and sign verdicts; probe servers as ordinary clients.

- ``tolerance``: per-dtype thresholds and the comparison of replayed with claimed activations (pure);
- ``replay``: spans loaded on demand (a small cache) and replayed as one prefill over a session's inputs;
- ``checking``: from evidence to a finding (pass, fail, or invalid evidence) with its error figures;
- ``worker``: the verifier loop: claim an assignment, fetch its evidence, check, sign and submit a verdict;
- ``probes``: sessions of the verifier's own through the normal client, each under a fresh peer id and key;
- ``prompts``: probe prompts composed afresh from a word chain, of an exact token count;
- ``lengths``: probe lengths drawn from the clients' session lengths the ledger summarises (pure);
- ``calibration``: measuring honest error distributions to set the thresholds; ``cli``: the commands.

(The consensus arithmetic lives in ``ledger.consensus``: it is a pure function of ledger events.)
"""
