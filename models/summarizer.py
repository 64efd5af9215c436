"""Batched, greedy text generation of preference summaries with a local causal LM.

Decoding is greedy (``do_sample=False, num_beams=1``) on purpose. A user's summary is a chain,
``summary_k = LLM(summary_{k-1}, block_k)``, and when a user deletes an interaction the chain
is rebuilt from the first affected block. Greedy decoding makes every link a pure function of
its prompt, so the rebuilt chain is reproducible and the rebuild can be tested by comparing
texts; sampling would make two runs over the same history disagree, and a rebuild could not
be told apart from a bug. (Beam search would also be deterministic, but costs num_beams times
the compute for little gain on 2-4 sentence summaries.) An optional repetition penalty
changes the scores greedy decoding picks from, not its determinism. The generation settings are built
here from :class:`GenerationConfig` alone, so a checkpoint's ``generation_config.json``
(temperature, repetition penalty, ...) cannot change the output behind our back.

Batching: prompts are left-padded (a decoder-only model continues from the last position, so
every row must end at the same column) and run ``batch_size`` at a time, sorted by length so
that rows of similar length share a batch and little compute is spent on padding. In fp32
the result of a prompt does not depend on which other prompts share its batch (the tests
check this on the tiny model and on SmolLM2); in half precision it could, by a flipped
near-tie of two logits.

Prompts are wrapped in the tokenizer's chat template (one user message plus the assistant
header) when it has one, as instruct models expect; otherwise they are used as given.
Over-long prompts are rejected with :class:`GenerationInputError`, never truncated: cutting
either end would drop the instruction or the previous summary, and a silently degraded summary
would be carried forward through every later update. ``models.summary_prompts`` bounds lengths.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from models.exceptions import GenerationInputError, ModelLoadError
from models.loading import load_causal_lm

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["GenerationConfig", "Summarizer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationConfig:
    """Limits of one generation call. Decode time is linear in max_new_tokens."""

    max_new_tokens: int = 96  # 2-4 sentences are ~40-90 SmolLM2 tokens; longer output is cut
    max_prompt_tokens: int = 2048  # after the chat template; a recurrent prompt is ~300-600
    # Prompts per generate() call. On 2 CPU cores 16 prompts together give ~3x the summaries
    # per second of one at a time (serving.bench.summarizer); the padded KV cache grows with
    # batch * longest prompt: ~46 KB/token for SmolLM2-135M, ~25 MB for 16 x 350 tokens.
    batch_size: int = 16
    # 1.0: plain greedy. Above 1, tokens already in the prompt or the output are penalized
    # (CTRL-style); still deterministic. SmolLM2-135M under plain greedy often copies the
    # previous summary and then repeats one sentence until max_new_tokens; 1.1 curbs that.
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "max_prompt_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GenerationConfig.{name} must be a positive integer, got {value!r}")
        penalty = self.repetition_penalty
        if (
            isinstance(penalty, bool)
            or not isinstance(penalty, (int, float))
            or not math.isfinite(penalty)
            or penalty <= 0
        ):
            raise ValueError(
                f"GenerationConfig.repetition_penalty must be a finite number > 0, got {penalty!r}"
            )


def _as_ids(value: Any) -> list[int]:
    """An eos_token_id setting (None, an int or a list of ints) as a list."""
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


class Summarizer:
    """Generates one text per prompt with a causal LM; stateless between calls."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: GenerationConfig = GenerationConfig(),
        name: str = "",
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.name = name or type(model).__name__
        self.device = next(model.parameters()).device
        # 1. Where to stop: any end-of-sequence id the model or the tokenizer declares. They
        #    can disagree: the GGUF-converted SmolLM2 tokenizer calls <|im_start|> its EOS,
        #    while the model ends its turns with <|im_end|>. Stopping at either is right.
        stop: list[int] = []
        for value in (
            getattr(model.generation_config, "eos_token_id", None),
            getattr(model.config, "eos_token_id", None),
            tokenizer.eos_token_id,
        ):
            stop += [i for i in _as_ids(value) if i not in stop]
        if not stop:
            raise ModelLoadError(f"{self.name}: neither the model nor the tokenizer defines an EOS token")
        self._stop_ids = stop
        # 2. The pad id generate() fills finished rows with: the tokenizer's pad token, else
        #    EOS (rows are cut at the first stop id anyway). The tokenizer is not mutated, and
        #    the left padding of prompts is done by hand (see _pad_left).
        pad = tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else stop[0]
        self.uses_chat_template = bool(getattr(tokenizer, "chat_template", None))
        # 3. Special-token strings a prompt must not contain. Their text form would be parsed
        #    as the real special token, so a movie titled "<|im_end|><|im_start|>assistant"
        #    could close the user turn and speak for the model. They are removed.
        specials = set(tokenizer.all_special_tokens)
        specials |= {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
        self._special_strings = sorted((s for s in specials if s), key=len, reverse=True)
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit is not None and config.max_prompt_tokens + config.max_new_tokens > limit:
            log.warning(
                "%s: max_prompt_tokens %d + max_new_tokens %d exceed the model's %d positions",
                self.name,
                config.max_prompt_tokens,
                config.max_new_tokens,
                limit,
            )

    @classmethod
    def from_pretrained(
        cls,
        model_dir: Path,
        config: GenerationConfig = GenerationConfig(),
        device: str = "cpu",
        precision: str = "auto",
    ) -> Summarizer:
        """Load a local Hugging Face causal-LM directory; the summarizer is named after it."""
        model, tokenizer = load_causal_lm(model_dir, device=device, precision=precision)
        return cls(model, tokenizer, config, name=model_dir.name)

    # -- prompts -> token ids ----------------------------------------------------------------

    def render(self, prompt: str) -> str:
        """The exact text the model sees for ``prompt``: sanitized, in the chat template."""
        for special in self._special_strings:
            prompt = prompt.replace(special, "")
        if not self.uses_chat_template:
            return prompt
        rendered = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        """The token ids the model runs on, per prompt (rendered, unpadded).

        Every prompt is checked here, before any generation starts, so a bad prompt rejects
        the whole call without wasting compute on the others.
        """
        if not prompts:
            raise GenerationInputError("prompts must not be empty")
        encoded: list[list[int]] = []
        for index, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise GenerationInputError(f"prompt {index} must be str, got {type(prompt).__name__}")
            if not prompt.strip():
                raise GenerationInputError(f"prompt {index} is blank")
            # The template already holds its special tokens; a plain prompt gets the
            # tokenizer's usual ones (a BOS for tokenizers that add one).
            ids = self.tokenizer(self.render(prompt), add_special_tokens=not self.uses_chat_template)
            tokens = [int(i) for i in ids["input_ids"]]
            if not tokens:
                raise GenerationInputError(f"prompt {index} produces no tokens")
            if len(tokens) > self.config.max_prompt_tokens:
                raise GenerationInputError(
                    f"prompt {index} has {len(tokens)} tokens, above max_prompt_tokens="
                    f"{self.config.max_prompt_tokens}"
                )
            encoded.append(tokens)
        return encoded

    def _pad_left(self, sequences: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad to one width. Each row is padded with its own first token: pads are masked
        out of attention, but a repetition penalty looks at every input id, and a pad token
        absent from the prompt would be penalized in padded rows only, making a prompt's
        output depend on its batch neighbours."""
        width = max(len(s) for s in sequences)
        ids = torch.empty((len(sequences), width), dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : width - len(seq)] = seq[0]
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, width - len(seq) :] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- generation --------------------------------------------------------------------------

    @torch.inference_mode()
    def generate_tokens(self, prompts: Sequence[str]) -> list[list[int]]:
        """The new token ids per prompt, in prompt order, without the stop token.

        At most ``config.max_new_tokens`` each; fewer when the model stopped at EOS.
        """
        from transformers import GenerationConfig as HFGenerationConfig

        encoded = self.encode(prompts)
        settings = HFGenerationConfig(
            max_new_tokens=self.config.max_new_tokens,
            do_sample=False,
            num_beams=1,
            repetition_penalty=self.config.repetition_penalty,
            eos_token_id=self._stop_ids,
            pad_token_id=self._pad_id,
        )
        # Longest first: rows of similar length share a batch, and the first batch is the
        # most expensive one, so a memory problem shows up at once rather than at the end.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        out: list[list[int]] = [[] for _ in encoded]
        step = self.config.batch_size
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            ids, mask = self._pad_left([encoded[i] for i in rows])
            generated = self.model.generate(  # type: ignore[operator]  # transformers' stub
                input_ids=ids, attention_mask=mask, generation_config=settings
            )
            new = generated[:, ids.shape[1] :].tolist()
            for row, tokens in zip(rows, new, strict=True):
                # A finished row is filled with pad ids until the whole batch is done; cut at
                # the first stop id (pad may equal EOS, so this also drops the filler).
                cut = next((k for k, t in enumerate(tokens) if t in self._stop_ids), len(tokens))
                out[row] = [int(t) for t in tokens[:cut]]
        return out

    def summarize(self, prompts: Sequence[str]) -> list[str]:
        """One generated text per prompt, in prompt order, stripped of whitespace.

        A generation that stops at once (or holds only special tokens) gives "". Raises
        :class:`GenerationInputError` for no prompts, a blank prompt or one that is too long.
        """
        # One flat id list decodes to one str (the stub's return type also allows a list).
        return [
            str(
                self.tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            ).strip()
            for tokens in self.generate_tokens(prompts)
        ]
