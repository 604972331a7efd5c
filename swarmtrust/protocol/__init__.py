"""The wire kernel every role shares: records, signatures, digests and the signed formats of the swarm.

Servers, clients, verifiers and the ledger all speak it, so it imports nothing else of the project (a test
over the imports enforces this), and neither torch nor an HTTP or P2P stack: a ledger installs it alone.

Modules:
- ``errors``: the exception tree shared by every swarmtrust package (``SwarmtrustError`` at its root);
- ``keys``: Ed25519 key files (0600, never overwritten silently) and public-key hex forms;
- ``canonical``: canonical msgpack of plain lists (envelopes, evidence) and strict decoding;
- ``records``: ``WireRecord``, a msgspec Struct whose field types carry their bounds, as a complete wire format
  (the msgpack array ``[version, field, ...]``, canonical and checked on construction and decoding);
- ``signing``: domain-separated signatures and the ``Signed`` envelope; ``http_signing``: signed REST requests;
- ``digests``: BLAKE2b-256 of tensors and records (pure bytes), and the dtypes the wire carries;
- ``receipts``: the activation ``Receipt`` (wire format v1);
- ``evidence``: a session's receipts with the tensors they commit to; ``tensor_pack``: those tensors compressed;
- ``challenges``: challenges and verdicts of spot-checking;
- ``misbehaviour``: two receipts one server cannot honestly have signed, and the signed proof of them;
- ``merkle``: Merkle roots and inclusion proofs over receipt digests, for epochs;
- ``announcements``: a server's signed DHT record (its span, dtype, throughput);
- ``beta``: Beta posteriors with forgetting; ``newcomers``: the newcomer prior the ledger and clients share;
- ``reputation_snapshot``: the ledger-signed reputation snapshot published in the DHT;
- ``rest``: the ledger's REST path prefix and the answers clients parse (the service answers with them);
- ``market_records``: transfers, bonds, prices and session payments; ``bond_rule``: the bond a server must
  hold at its price so that cheating never pays (client and ledger);
- ``checkpoints``: ledger checkpoints, verifiers' co-signatures, the quorum rule and fork proofs;
- ``checkpoint_proofs``: proof that a checkpoint is final, checkable with the ledger key alone, and its DHT record;
- ``fork_reports``: the DHT record reporting a ledger's two checkpoints of one number, which proves itself;
- ``model_records``: a model's ledger-signed registration (the dtypes it may be served in) and calibrators'
  tolerance records; ``serving_dtypes``: who follows a registration and how (clients, servers, verifiers).
"""
