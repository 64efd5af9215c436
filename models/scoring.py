"""P(Yes) for N candidates that share one user context, with the context computed once.

Cost model (2 CPU cores, fp32): time is proportional to the number of token positions run
through the transformer. A naive padded batch runs the shared context N times; here it runs
once and keeps its KV cache, and all the candidates then run packed side by side in one
sequence behind it (``models.packing``: a 4D mask keeps each candidate to the prefix and
itself, so there is no per-candidate copy of the cache and no padding between titles).
Logits are needed at one position per candidate and for a handful of vocabulary rows (the
"Yes"/"No" tokens), so instead of the full-vocabulary lm_head we gather each candidate's final
hidden state and multiply it by just those rows.

``score_many`` does the same for several users in one call, for throughput: all contexts run
in one right-padded prefix pass, and row u of every pass is user u.

``score_naive`` is the straightforward reference (full prompts, one padded batch, full
``model(...)`` logits). It shares no scoring code with ``score`` except tokenization, which is
why the benchmark and the tests can use it to check the fast path.

Both paths feed identical token ids: ``tokenize(context) + tokenize(candidate,
add_special_tokens=False)``. Tokenizing the concatenated string instead could merge tokens
across the boundary and make the two paths disagree.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from models.exceptions import ModelLoadError, ScoringInputError
from models.loading import load_causal_lm
from models.packing import hoist_shared_head, pack_candidates

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "ANSWER_YES",
    "ANSWER_NO",
    "PassHook",
    "Scorer",
    "ScorerConfig",
    "UserRequest",
    "answer_token_ids",
    "yes_no_logit",
]

log = logging.getLogger(__name__)

# The answer may come with or without a leading space depending on how the prompt ends and
# on the tokenizer, so both spellings count. Their probability mass is pooled (logsumexp).
ANSWER_YES: tuple[str, ...] = ("Yes", " Yes")
ANSWER_NO: tuple[str, ...] = ("No", " No")


@dataclass(frozen=True)
class ScorerConfig:
    """Limits that keep one request from exhausting memory or time."""

    max_candidates: int = 512  # per call; Triton requests above this are rejected
    max_context_tokens: int = 4096  # the shared prefix
    max_candidate_tokens: int = 256  # each candidate suffix
    # Candidates per user per forward pass, packed into the user's row. A pass holds about
    # candidate_batch_size * 30 tokens per user, and its attention mask is
    # users * S * (context + S) values (S the packed width): 32 candidates and a 300-token
    # context make ~5 MB per user in fp32.
    candidate_batch_size: int = 32
    # Run the candidates' shared first tokens once, as the end of the prefix
    # (``models.packing.hoist_shared_head``): the same scores for ~9% less CPU time per
    # ranking. False exists so the scoring-steps benchmark can measure what it buys.
    hoist_shared_head: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.hoist_shared_head, bool):
            raise ValueError(f"ScorerConfig.hoist_shared_head must be a bool, got {self.hoist_shared_head!r}")
        for name in (
            "max_candidates",
            "max_context_tokens",
            "max_candidate_tokens",
            "candidate_batch_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ScorerConfig.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class UserRequest:
    """One user's share of a :meth:`Scorer.score_many` call: a context and its candidates.

    Not validated here: :meth:`Scorer.tokenize` applies the same checks and limits as
    :meth:`Scorer.score`, per request.
    """

    context: str
    candidates: tuple[str, ...]


# Called before every forward pass of ``score_many`` with the request index of each batch
# row (a CPU LongTensor [rows]), so per-user state (adapter weights) can follow the rows
# without the scorer knowing about it.
PassHook = Callable[[torch.Tensor], None]


def answer_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """First token ids of the Yes and No spellings, deduplicated, in a stable order."""

    def first_ids(words: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for word in words:
            encoded = tokenizer.encode(word, add_special_tokens=False)
            if encoded and encoded[0] not in ids:
                ids.append(int(encoded[0]))
        return ids

    yes, no = first_ids(ANSWER_YES), first_ids(ANSWER_NO)
    if not yes or not no or set(yes) & set(no):
        raise ModelLoadError(
            f"tokenizer gives unusable answer tokens: yes={yes!r}, no={no!r} (need two "
            "non-empty, disjoint sets)"
        )
    return yes, no


def yes_no_logit(answer_logits: torch.Tensor, n_yes: int) -> torch.Tensor:
    """[n, K] logits of the answer tokens (Yes variants first) -> [n] log P(Yes) - log P(No).

    The one definition of the answer: scoring takes its sigmoid, training its cross-entropy,
    so the probability a fine-tuned adapter learns is exactly the one serving reads.
    """
    yes = torch.logsumexp(answer_logits[:, :n_yes], dim=-1)
    no = torch.logsumexp(answer_logits[:, n_yes:], dim=-1)
    return yes - no


class Scorer:
    """Scores candidates for one user's context, or several users' at once; stateless between calls."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: ScorerConfig = ScorerConfig(),
        name: str = "",
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config
        self.name = name or type(model).__name__
        # The transformer without its lm_head; its last_hidden_state is already normalized.
        self._body: torch.nn.Module = model.base_model
        yes, no = answer_token_ids(tokenizer)
        self._n_yes = len(yes)
        self._answer_ids = yes + no
        head = model.get_output_embeddings()
        if not isinstance(head, torch.nn.Linear):
            raise ModelLoadError(f"{self.name}: expected a Linear lm_head, got {type(head)}")
        # Rows are gathered per call (4 rows: negligible), so weights changed in place later,
        # e.g. by fine-tuning, are always the ones used.
        self._head = head
        # Inputs follow the weights: the CPU here, a GPU in production (see load_causal_lm).
        self.device = next(model.parameters()).device
        self._answer_rows = torch.tensor(self._answer_ids, device=self.device)
        self._softcap: float | None = getattr(model.config, "final_logit_softcapping", None)
        # The packed passes' 4D mask is added to the attention scores in the activations' dtype.
        self._attention_dtype: torch.dtype = next(model.get_input_embeddings().parameters()).dtype

    @classmethod
    def from_pretrained(
        cls,
        model_dir: Path,
        config: ScorerConfig = ScorerConfig(),
        device: str = "cpu",
        precision: str = "auto",
    ) -> Scorer:
        """Load a local Hugging Face causal-LM directory; the scorer is named after it.

        ``precision`` ``auto`` is bf16 on CUDA and fp32 on the CPU (``models.loading``).
        """
        model, tokenizer = load_causal_lm(model_dir, device=device, precision=precision)
        return cls(model, tokenizer, config, name=model_dir.name)

    # -- tokenization, shared by both paths -------------------------------------------------

    def tokenize(self, context: str, candidates: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        if not candidates:
            raise ScoringInputError("candidates must not be empty")
        if len(candidates) > self.config.max_candidates:
            raise ScoringInputError(
                f"{len(candidates)} candidates exceed max_candidates={self.config.max_candidates}"
            )
        context_ids = list(self.tokenizer(context)["input_ids"])
        if not context_ids:
            raise ScoringInputError("context must produce at least one token")
        if len(context_ids) > self.config.max_context_tokens:
            raise ScoringInputError(
                f"context has {len(context_ids)} tokens, above max_context_tokens="
                f"{self.config.max_context_tokens}"
            )
        candidate_ids = [
            list(ids) for ids in self.tokenizer(list(candidates), add_special_tokens=False)["input_ids"]
        ]
        for index, ids in enumerate(candidate_ids):
            if not ids:
                raise ScoringInputError(f"candidate {index} produces no tokens")
            if len(ids) > self.config.max_candidate_tokens:
                raise ScoringInputError(
                    f"candidate {index} has {len(ids)} tokens, above max_candidate_tokens="
                    f"{self.config.max_candidate_tokens}"
                )
        return context_ids, candidate_ids

    @staticmethod
    def pad_right(sequences: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ids [n, L] and mask [n, L] right-padded with 0, plus each sequence's length."""
        lengths = torch.tensor([len(s) for s in sequences])
        width = int(lengths.max())
        ids = torch.zeros((len(sequences), width), dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        return ids, mask, lengths

    def _to_device(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t.to(self.device) for t in tensors)

    def _probabilities(self, answer_logits: torch.Tensor) -> torch.Tensor:
        """[n, K] logits of the answer tokens (Yes variants first) -> [n] P(Yes)."""
        # sigmoid(yes - no) == softmax over (yes, no), taking the yes half
        return torch.sigmoid(yes_no_logit(answer_logits, self._n_yes))

    def answer_logit(self, last_hidden: torch.Tensor) -> torch.Tensor:
        """[n, hidden] final hidden states at the answer position -> [n] Yes-minus-No logit.

        Only the answer rows of the lm_head are multiplied. Differentiable, so training calls
        it too.
        """
        # In fp32 whatever the model's precision: the Yes-minus-No difference of two bf16 logits
        # would lose most of its bits, and this product is 4 rows, so it costs nothing.
        bias = None if self._head.bias is None else self._head.bias[self._answer_rows].float()
        weight = self._head.weight[self._answer_rows].float()
        logits = torch.nn.functional.linear(last_hidden.float(), weight, bias)
        if self._softcap:
            logits = torch.tanh(logits / self._softcap) * self._softcap
        return yes_no_logit(logits, self._n_yes)

    def _batches(self, n: int) -> list[slice]:
        step = self.config.candidate_batch_size
        return [slice(start, min(start + step, n)) for start in range(0, n, step)]

    # -- the fast path -----------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, context: str, candidates: Sequence[str]) -> npt.NDArray[np.float32]:
        """P(Yes) per candidate (float32, shape [N]), running the context only once."""
        return self._score_tokenized([self.tokenize(context, candidates)], None)[0]

    @torch.inference_mode()
    def score_many(
        self, requests: Sequence[UserRequest], before_pass: PassHook | None = None
    ) -> list[npt.NDArray[np.float32]]:
        """P(Yes) for several users in one call: one float32 array [N_u] per request, in order.

        Each user's result is :meth:`score` of that user alone up to float rounding (the padded
        shapes differ), which is what lets serving batch users for throughput without changing
        a ranking. Row u of every forward pass is request u, so ``before_pass``, if given,
        receives ``arange(len(requests))`` (a CPU LongTensor) before each pass: per-user state
        such as adapter weights follows the rows without the scorer knowing about it.
        """
        if not requests:
            return []
        tokenized: list[tuple[list[int], list[list[int]]]] = []
        for index, request in enumerate(requests):
            try:
                tokenized.append(self.tokenize(request.context, request.candidates))
            except ScoringInputError as exc:
                # The same per-user limits as score(), and the message names the request.
                raise ScoringInputError(f"request {index}: {exc}") from exc
        return self._score_tokenized(tokenized, before_pass)

    def _score_tokenized(
        self, tokenized: Sequence[tuple[list[int], list[list[int]]]], before_pass: PassHook | None
    ) -> list[npt.NDArray[np.float32]]:
        """The one fast path: a prefix pass, then packed candidate passes (``models.packing``)."""
        if self.config.hoist_shared_head:
            tokenized = [
                hoist_shared_head(context_ids, candidate_ids) for context_ids, candidate_ids in tokenized
            ]
        users = len(tokenized)
        rows = torch.arange(users)
        # 1. All contexts in one right-padded pass (row u is user u). A pad comes after its
        #    row's real tokens, so no real token attends to one under the causal mask; the
        #    pads' keys and values stay finite (they attend to the real tokens before them),
        #    which matters because a masked key still enters the attention matmul with weight 0.
        prefix_ids, prefix_mask, prefix_lengths = self.pad_right([context for context, _ in tokenized])
        prefix_width = prefix_ids.shape[1]
        if before_pass is not None:
            before_pass(rows)
        prefix_cache = self._body(
            input_ids=prefix_ids.to(self.device),
            attention_mask=prefix_mask.to(self.device),
            position_ids=torch.arange(prefix_width, device=self.device).unsqueeze(0).expand(users, -1),
            use_cache=True,
        ).past_key_values

        # 2. Up to candidate_batch_size candidates of every user per pass, packed into the
        #    user's row behind its prefix: each attends to the user's real prefix tokens and
        #    to itself, and its positions continue from the user's real context length, so it
        #    sees exactly what it would see scored alone.
        sizes = [len(candidate_ids) for _, candidate_ids in tokenized]
        offsets = [sum(sizes[:user]) for user in range(users)]
        out = torch.empty(sum(sizes), dtype=torch.float32)
        step = self.config.candidate_batch_size
        passes = (max(sizes) + step - 1) // step
        for index in range(passes):
            window = slice(index * step, (index + 1) * step)
            chunks = [candidate_ids[window] for _, candidate_ids in tokenized]
            packed = pack_candidates(chunks, prefix_mask, prefix_lengths)
            # The pass appends its keys and values to the cache; only the last pass may
            # consume the prefix cache itself, the others work on a copy (one row per user,
            # not one per candidate).
            cache = prefix_cache if index == passes - 1 else copy.deepcopy(prefix_cache)
            if before_pass is not None:
                before_pass(rows)
            hidden = self._body(
                input_ids=packed.ids.to(self.device),
                attention_mask=packed.additive_mask(self._attention_dtype).to(self.device),
                position_ids=packed.position_ids.to(self.device),
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state
            # 3. Logits only at each candidate's last token, only for the answer tokens.
            last = hidden[packed.last_rows.to(self.device), packed.last_columns.to(self.device)]
            first = index * step
            targets = torch.tensor(
                [offsets[user] + first + j for user, chunk in enumerate(chunks) for j in range(len(chunk))],
                dtype=torch.long,
            )
            out[targets] = torch.sigmoid(self.answer_logit(last)).float().cpu()
        return [part.numpy() for part in torch.split(out, sizes)]

    # -- the reference path ------------------------------------------------------------------

    @torch.inference_mode()
    def score_naive(self, context: str, candidates: Sequence[str]) -> npt.NDArray[np.float32]:
        """Same result as :meth:`score`, the plain way: full prompts, full-vocabulary logits."""
        context_ids, candidate_ids = self.tokenize(context, candidates)
        out = torch.empty(len(candidate_ids), dtype=torch.float32)
        for batch in self._batches(len(candidate_ids)):
            ids, mask, lengths = self._to_device(
                *self.pad_right([context_ids + c for c in candidate_ids[batch]])
            )
            logits = self.model(input_ids=ids, attention_mask=mask).logits  # [n, L, vocab]
            last = logits[torch.arange(ids.shape[0], device=self.device), lengths - 1]
            out[batch] = self._probabilities(last[:, self._answer_ids]).float().cpu()
        return out.numpy()
