"""Models a swarm serves: the embedded ``tiny`` model, span loading and running, the client's head.

- ``tiny``: a small Llama-family model built locally from a config and a fixed seed (no hub access);
- ``source``: turning a ``--model`` argument (``tiny`` or a local directory) into a checkpoint on disk;
- ``families``: the decoder-layer classes of the supported model families (Llama, Mistral, Qwen2);
- ``checkpoint``: reading only the tensors a span needs, and weights digests of spans;
- ``span``: a span of decoder blocks with a KV cache per session (what servers and verifiers run);
- ``session_batch``: several sessions' one-token steps as one forward pass (attention per session);
- ``head``: embeddings, final norm and LM head (what clients run);
- ``tokenizer``: a model directory's tokenizer, or an error saying to pass token ids;
- ``local``: the whole model in-process, the reference a swarm must match.
"""
