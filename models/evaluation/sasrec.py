"""SASRec (Kang & McAuley, ICDM 2018): a small causal self-attention sequence model.

The architecture follows the paper and its reference implementation: item embeddings scaled
by sqrt(d) plus learned positions, ``blocks`` pre-norm blocks of causal single-head attention
and a point-wise feed-forward net, padded positions zeroed after every block, and a shared
item embedding as the output layer. Training is the paper's: at every position predict the
next item with binary cross-entropy against one sampled negative.

Long histories are cut into windows of ``max_len + 1`` from the newest end, so every
training interaction is a prediction target once. Training sequences end before each user's
earliest evaluation target (``FitData.training_history``). The number of epochs is the only
thing tuned: every ``eval_every`` epochs the model ranks the validation targets, the weights
with the best NDCG@10 are kept, and training stops after ``patience`` evaluations without
improvement. Test targets are never looked at during fitting.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.evaluation.data import Target, natural_key
from models.evaluation.metrics import metric_table, positive_rank
from models.evaluation.ranker import FitData, Ranker, Scores

__all__ = ["SASRec", "SASRecConfig", "SASRecRanker"]


@dataclass(frozen=True)
class SASRecConfig:
    max_len: int = 50  # ml-latest-small users have a median of ~70 ratings; the paper used 200 on ML-1M
    hidden: int = 64  # the paper's d for sparse data; larger overfits 100k ratings
    blocks: int = 2  # as in the paper
    heads: int = 1  # as in the paper
    dropout: float = 0.2  # the paper's rate for ML-1M
    lr: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 200
    eval_every: int = 5  # epochs between validation checks
    patience: int = 4  # validation checks without improvement before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "max_len",
            "hidden",
            "blocks",
            "heads",
            "batch_size",
            "max_epochs",
            "eval_every",
            "patience",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SASRecConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden % self.heads:
            raise ValueError(f"SASRecConfig.hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"SASRecConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"SASRecConfig.lr must be a finite number > 0, got {self.lr!r}")


class SASRec(nn.Module):
    """Item sequences [batch, max_len] (0 = padding, left-padded) -> hidden states [batch, max_len, d]."""

    def __init__(self, n_items: int, config: SASRecConfig) -> None:
        super().__init__()
        d = config.hidden
        self.scale = math.sqrt(d)
        self.items = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.positions = nn.Embedding(config.max_len, d)
        self.dropout = nn.Dropout(config.dropout)
        self.attention_norms = nn.ModuleList(nn.LayerNorm(d, eps=1e-8) for _ in range(config.blocks))
        self.attentions = nn.ModuleList(
            nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
            for _ in range(config.blocks)
        )
        self.ffn_norms = nn.ModuleList(nn.LayerNorm(d, eps=1e-8) for _ in range(config.blocks))
        self.ffns = nn.ModuleList(
            nn.Sequential(
                nn.Linear(d, d),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(d, d),
                nn.Dropout(config.dropout),
            )
            for _ in range(config.blocks)
        )
        self.final_norm = nn.LayerNorm(d, eps=1e-8)

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        length = seqs.shape[1]
        x = self.items(seqs) * self.scale + self.positions(torch.arange(length, device=seqs.device))
        x = self.dropout(x)
        keep = (seqs != 0).unsqueeze(-1).to(x.dtype)
        x = x * keep
        # True above the diagonal = may not attend to later positions. Every position can
        # attend to itself, so no softmax row is empty (left padding never yields NaN).
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seqs.device), diagonal=1)
        for norm, attention, ffn_norm, ffn in zip(
            self.attention_norms, self.attentions, self.ffn_norms, self.ffns, strict=True
        ):
            query = norm(x)
            attended, _ = attention(query, x, x, attn_mask=causal, need_weights=False)
            x = ffn_norm(query + attended)
            x = (x + ffn(x)) * keep
        return self.final_norm(x)


class SASRecRanker(Ranker):
    name = "sasrec"

    def __init__(self, config: SASRecConfig = SASRecConfig(), progress: bool = False) -> None:
        self.config = config
        self.progress = progress
        self.model: SASRec | None = None
        self.index: dict[str, int] = {}
        self.trace: list[dict[str, float]] = []
        self.best_epoch = 0
        self.train_seconds = 0.0
        self.n_windows = 0

    # -- data --------------------------------------------------------------------------------

    def _encode(self, items: Sequence[str]) -> list[int]:
        return [self.index[i] for i in items if i in self.index]

    def _left_pad(self, rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
        out = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            tail = list(row)[-width:]
            if tail:
                out[r, width - len(tail) :] = torch.tensor(tail, dtype=torch.long)
        return out

    def _windows(self, data: FitData) -> tuple[torch.Tensor, torch.Tensor, list[set[int]]]:
        """(inputs, next items) of every training window, plus each window's user item set."""
        length = self.config.max_len
        inputs: list[list[int]] = []
        outputs: list[list[int]] = []
        owners: list[set[int]] = []
        for user in data.dataset.histories:
            seq = self._encode([i.item_id for i in data.training_history(user)])
            seen = set(seq)
            for end in range(len(seq), 1, -length):
                chunk = seq[max(0, end - length - 1) : end]
                inputs.append(chunk[:-1])
                outputs.append(chunk[1:])
                owners.append(seen)
        return self._left_pad(inputs, length), self._left_pad(outputs, length), owners

    @staticmethod
    def _negatives(
        positives: torch.Tensor, owners: Sequence[set[int]], n_items: int, rng: np.random.Generator
    ) -> torch.Tensor:
        """One item per position that the window's user never interacted with (rejection sampling)."""
        negatives = rng.integers(1, n_items + 1, size=tuple(positives.shape))
        for row, seen in enumerate(owners):
            if len(seen) >= n_items:
                continue  # the user has seen every item: no true negative exists, keep the draw
            for col in range(negatives.shape[1]):
                while negatives[row, col] in seen:
                    negatives[row, col] = rng.integers(1, n_items + 1)
        return torch.from_numpy(negatives).long()

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, data: FitData) -> None:
        config = self.config
        self.trace, self.best_epoch = [], 0  # a refit starts over
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        vocabulary = sorted(set(data.dataset.items) | set(data.dataset.interacted_items()), key=natural_key)
        self.index = {item: k + 1 for k, item in enumerate(vocabulary)}
        n_items = len(vocabulary)
        inputs, outputs, owners = self._windows(data)
        self.n_windows = len(owners)
        if self.n_windows == 0:
            raise ValueError("SASRec: no training sequence has two or more interactions")
        model = self.model = SASRec(n_items, config)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        best_ndcg, best_state, stale = -1.0, copy.deepcopy(model.state_dict()), 0
        started = time.perf_counter()
        epochs = range(1, config.max_epochs + 1)
        bar = tqdm(epochs, desc="sasrec train", unit="epoch", disable=not self.progress)
        for epoch in bar:
            model.train()
            # 1. A fresh order and fresh negatives every epoch.
            order = torch.from_numpy(rng.permutation(self.n_windows))
            total = 0.0
            for start in range(0, self.n_windows, config.batch_size):
                rows = order[start : start + config.batch_size]
                seqs, positives = inputs[rows], outputs[rows]
                negatives = self._negatives(positives, [owners[r] for r in rows.tolist()], n_items, rng)
                # 2. Next-item logits against the positive and the sampled negative.
                hidden = model(seqs)
                pos_logits = (hidden * model.items(positives)).sum(-1)
                neg_logits = (hidden * model.items(negatives)).sum(-1)
                mask = (positives != 0).float()
                loss = (
                    (
                        loss_fn(pos_logits, torch.ones_like(pos_logits))
                        + loss_fn(neg_logits, torch.zeros_like(neg_logits))
                    )
                    * mask
                ).sum() / mask.sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            # 3. Early stopping on validation NDCG@10 only.
            if epoch % config.eval_every == 0 or epoch == config.max_epochs:
                ndcg = self._validation_ndcg(data.validation) if data.validation else float("nan")
                self.trace.append(
                    {"epoch": epoch, "loss": total / self.n_windows, "validation_ndcg@10": ndcg}
                )
                bar.set_postfix(loss=f"{total / self.n_windows:.3f}", val_ndcg=f"{ndcg:.3f}")
                if not data.validation or ndcg > best_ndcg:
                    best_ndcg, best_state, stale, self.best_epoch = (
                        ndcg,
                        copy.deepcopy(model.state_dict()),
                        0,
                        epoch,
                    )
                else:
                    stale += 1
                    if stale >= config.patience:
                        break
        bar.close()
        model.load_state_dict(best_state)
        model.eval()
        self.train_seconds = time.perf_counter() - started

    def _validation_ndcg(self, targets: Sequence[Target]) -> float:
        ranks = [
            positive_rank(s, t.positive_index) for s, t in zip(self.score(targets), targets, strict=True)
        ]
        return float(metric_table(ranks)["ndcg@10"].mean())

    # -- scoring -----------------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, targets: Sequence[Target], progress: bool = False) -> list[Scores]:
        model = self.model
        if model is None:
            raise RuntimeError("SASRecRanker.score called before fit")
        was_training = model.training
        model.eval()
        out: list[Scores] = []
        for start in range(0, len(targets), 256):
            batch = targets[start : start + 256]
            seqs = self._left_pad(
                [self._encode([i.item_id for i in t.history]) for t in batch], self.config.max_len
            )
            users = model(seqs)[:, -1, :]  # the newest position summarizes the history
            for row, target in enumerate(batch):
                # Unknown items map to the padding row (a zero vector): score 0.
                ids = torch.tensor([self.index.get(c, 0) for c in target.candidates], dtype=torch.long)
                out.append((model.items(ids) @ users[row]).double().numpy())
        model.train(was_training)
        return out

    def info(self) -> dict[str, Any]:
        n_parameters = sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0
        return {
            "hyperparameters": asdict(self.config),
            "parameters": n_parameters,
            "training_windows": self.n_windows,
            "best_epoch": self.best_epoch,
            "epochs_run": self.trace[-1]["epoch"] if self.trace else 0,
            "train_seconds": round(self.train_seconds, 2),
            "validation_trace": self.trace,
        }
