"""Sharded LoRA adapters (APA): samples, partition, one adapter per shard, aggregation.

The modules, bottom up: ``samples`` (yes/no sample groups from one user's data, with
provenance), ``embeddings`` (item and context vectors from the base LLM), ``partition``
(user-level shards that no other user's data can move), ``lora`` (deterministic shared-prefix
training of one shard), ``aggregation`` (APA's per-request weighted sum of the adapters),
``shards`` (the whole set: assign, train, index, tune).

Kept light: the modules load torch, so this package imports none of them; import from the
defining module (``from models.training.lora import train_adapter``).
"""

__all__ = ["aggregation", "embeddings", "lora", "partition", "samples", "shards"]
