"""The loss-curve picture of one adapter set: what a person checks first after a training run.

Left, every shard's training loss per optimizer step (a shard whose loss never falls learned
nothing); right, its validation AUC per epoch with the kept epoch marked (early stopping keeps
the best one, so a late peak or a flat line is visible at a glance). The numbers behind it are
in the manifest (``validation_curve``) and in :class:`~models.training.lora.TrainedAdapter`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from models.training.lora import TrainedAdapter

__all__ = ["plot_training_curves"]


def plot_training_curves(adapters: Sequence[TrainedAdapter], path: Path, title: str) -> None:
    """Write the loss and validation-AUC curves of ``adapters`` (one line per shard) as a PNG.

    The file carries no timestamp, so the same training gives the same picture.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, auc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for k, adapter in enumerate(adapters):
        label = f"shard {k} ({adapter.train_samples} samples)"
        if adapter.losses:
            loss_ax.plot(range(1, len(adapter.losses) + 1), adapter.losses, label=label, linewidth=1)
        points = [(e, a) for e, a in enumerate(adapter.validation_curve, start=1) if not math.isnan(a)]
        if points:
            line = auc_ax.plot([e for e, _ in points], [a for _, a in points], marker="o", label=label)
            kept = dict(points).get(adapter.best_epoch)
            if kept is not None:
                auc_ax.scatter(
                    [adapter.best_epoch], [kept], s=120, facecolors="none", color=line[0].get_color()
                )
    loss_ax.set(title="training loss (BCE on Yes - No)", xlabel="optimizer step", ylabel="loss")
    auc_ax.set(title="validation AUC (circle: kept epoch)", xlabel="epoch", ylabel="AUC")
    auc_ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    for ax in (loss_ax, auc_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
