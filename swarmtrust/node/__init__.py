"""The swarm's block server and client, over hivemind's DHT and P2P (the wire formats are ``protocol``).

Modules:
- ``server``: serves a span of a model and signs a receipt for every step; ``client``: finds servers, routes
  a chain through them, checks every receipt and fails over; ``model``: the models a swarm serves;
- ``block_rpc``: the block-server protocol over hivemind P2P (handlers, metadata, tensors on the wire);
  ``frames``: protobuf messages framed on a binary stream;
- ``dht``: hivemind DHT set-up and signed-record validation; ``network``: listen addresses and NAT helpers;
- ``tensors``: the torch adapter for digests and sketches; ``sampling``: choosing tokens and when to stop;
  ``device``: where blocks run (``--device``);
- ``behaviors``: honest serving and the adversaries that tests and the demo run;
- ``cli`` (``swarmtrust node``: keys, ``node start``), ``cli_dht`` (``dht start``), ``cli_generate``
  (``generate``), ``cli_market`` (``market``: balance, bond, unbond, price, transfer, history);
  ``cli_options``: their shared options; ``console``: error reporting; ``settings``: caches;
- ``ledger_api``: the one client of the ledger's REST API, signing every request it can.
"""
