"""Block-server side of swarmtrust: keys, wire formats and (later) the server, DHT records and client.

Modules:
- ``errors``: the exception tree shared by every swarmtrust package (``SwarmtrustError`` at its root);
- ``keys``: Ed25519 key files (0600, never overwritten silently) and public-key hex forms;
- ``canonical``: canonical msgpack encoding of fixed-order records and strict decoding;
- ``records``: ``WireRecord``, a frozen dataclass plus field checks as a complete wire format;
- ``signing``: domain-separated signatures and the ``Signed`` envelope;
- ``digests``: BLAKE2b-256 of tensors and records (pure bytes); ``tensors``: the torch adapter;
- ``receipts``: the activation ``Receipt`` (wire format v1);
- ``misbehaviour``: two receipts one server cannot honestly have signed, and the signed proof of them;
- ``merkle``: Merkle roots and inclusion proofs over receipt digests, for epochs;
- ``bond_rule``: the bond a server must hold at its price so that cheating never pays (client and ledger);
- ``model_records``: a model's ledger-signed registration (the dtypes it may be served in) and calibrators'
  tolerance records; ``serving_dtypes``: who follows a registration and how (clients, servers, verifiers).
"""
