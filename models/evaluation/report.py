"""The files an evaluation run leaves behind, written for people and for re-checking.

- ``report.json``: config, dataset hashes, per model ``metrics`` (test split) and
  ``validation_metrics``, each metric as ``{"value", "ci95": [low, high]}``, and timings.
- ``report.md``: the same as Markdown tables, plus paired differences between models
  (``comparisons`` in report.json).
- ``metrics.png``: Recall@K and MRR@K per model, with the 95% intervals as error bars.
- ``rankings.jsonl``: one line per target with the candidates and every model's scores, so
  any metric can be recomputed without this code.
- ``summaries.jsonl``: the summary each ``llm-summary`` target was scored with.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.evaluation.data import SPLITS, Dataset, Target, natural_key
from models.evaluation.metrics import METRIC_NAMES, MetricValue

if TYPE_CHECKING:
    from models.evaluation.config import EvalConfig
    from models.evaluation.result import ModelResult

__all__ = ["plot_metrics", "write_report"]


_TIES = "pessimistic: rank = 1 + number of other candidates scored >= the positive"
_PROTOCOLS: dict[str, dict[str, Any]] = {
    "movielens": {
        "split": "per user: test = last interaction rated >= 4, validation = the previous one; "
        "history = interactions strictly before the target's timestamp",
        "candidates": "positive + 20 negatives the user never interacted with, seeded (seed, user, split)",
        "ties": _TIES,
        "metrics": list(METRIC_NAMES),
    },
    "mind": {
        "split": "per user: test = latest impression with a clicked and an unclicked news with text, "
        "validation = the one before; history = clicks before the impression's time",
        "candidates": "first clicked news with text + up to 20 unclicked news with text, same impression",
        "ties": _TIES,
        "metrics": list(METRIC_NAMES),
    },
}


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _metrics_json(values: Mapping[str, MetricValue] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: values[name].as_dict() for name in METRIC_NAMES}


def _rankings(path: Path, targets: Sequence[Target], results: Sequence[ModelResult]) -> None:
    order = {split: k for k, split in enumerate(SPLITS)}
    with open(path, "w", encoding="utf-8") as f:
        for target in sorted(targets, key=lambda t: (natural_key(t.user_id), order[t.split])):
            scores = {
                r.name: [float(v) for v in r.scores[target.key]] for r in results if target.key in r.scores
            }
            line = {
                "user_id": target.user_id,
                "split": target.split,
                "positive": target.positive,
                "candidates": list(target.candidates),
                "scores": scores,
            }
            f.write(json.dumps(line) + "\n")


def _summaries(path: Path, results: Sequence[ModelResult]) -> None:
    chains: dict[tuple[str, str], Any] = {}
    for result in results:
        chains.update(getattr(result.ranker, "chains", {}))
    if not chains:
        return
    with open(path, "w", encoding="utf-8") as f:
        for (user, split), chain in sorted(chains.items(), key=lambda kv: (natural_key(kv[0][0]), kv[0][1])):
            f.write(json.dumps({"user_id": user, "split": split, **asdict(chain)}) + "\n")


def _cell(value: MetricValue) -> str:
    return f"{value.value:.3f} [{value.ci95[0]:.3f}, {value.ci95[1]:.3f}]"


def _markdown(report: dict[str, Any], metrics: Mapping[str, Mapping[str, Any]]) -> str:
    config, dataset = report["config"], report["dataset"]
    lines = [
        f"# streamrec offline evaluation: {dataset['name']}",
        "",
        f"- dataset: `{dataset['path']}` (sha256 `{dataset['sha256'][:16]}...`), {dataset['users']} users, "
        f"{dataset['items']} items, {dataset['interactions']} interactions",
        f"- evaluated users: {report['targets']['evaluated_users']} of {report['targets']['eligible_users']} "
        f"eligible (seed {config['seed']}); candidates: positive + up to 20 negatives; ties pessimistic",
        f"- 95% intervals: percentile bootstrap over targets, {config['bootstrap']['resamples']} resamples",
        f"- wall time: {report['wall_time_s']:.0f} s on {report['machine']}",
        "",
    ]
    header = "| model | " + " | ".join(METRIC_NAMES) + " | targets | fit s | score s |"
    rule = "|---" * (len(METRIC_NAMES) + 4) + "|"
    for split in ("test", "validation"):
        rows = [(name, values[split]) for name, values in metrics.items() if values.get(split) is not None]
        if not rows:
            continue
        lines += [f"## {split.capitalize()} split", "", header, rule]
        for name, values in rows:
            model = report["models"][name]
            count = model["targets"][split]
            lines.append(
                f"| {name} | "
                + " | ".join(_cell(values[m]) for m in METRIC_NAMES)
                + f" | {count} | {model['fit_seconds']:.1f} | {model['score_seconds']:.1f} |"
            )
        lines.append("")
    if report["comparisons"]:
        compared = list(next(iter(report["comparisons"].values())))
        lines += [
            "## Paired differences (test split)",
            "",
            "A - B on the same targets, 95% paired bootstrap interval; * = the interval excludes 0.",
            "",
            "| A - B | " + " | ".join(compared) + " |",
            "|---" * (len(compared) + 1) + "|",
        ]
        for pair, values in report["comparisons"].items():
            cells = []
            for name in compared:
                v = values[name]
                low, high = v["ci95"]
                mark = "*" if low > 0 or high < 0 else ""
                cells.append(f"{v['value']:+.3f} [{low:+.3f}, {high:+.3f}]{mark}")
            lines.append(f"| {pair} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Models", ""]
    for name, model in report["models"].items():
        info = {k: v for k, v in model["info"].items() if k != "validation_trace"}
        lines.append(f"- **{name}**: `{json.dumps(info, sort_keys=True)}`")
    for note in dataset["notes"]:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def plot_metrics(path: Path, metrics: Mapping[str, Mapping[str, Any]], title: str) -> None:
    """Recall@K and MRR@K (K = 3, 5, 10) on the test split, one line per model, with 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = (3, 5, 10)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, family in zip(axes, ("recall", "mrr"), strict=True):
        for offset, (name, per_split) in enumerate(metrics.items()):
            values = per_split.get("test")
            if values is None:
                continue
            points = [values[f"{family}@{k}"] for k in ks]
            x = [k + (offset - len(metrics) / 2) * 0.08 for k in ks]
            y = [p.value for p in points]
            err = [[p.value - p.ci95[0] for p in points], [p.ci95[1] - p.value for p in points]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        ax.set_xticks(ks, [f"@{k}" for k in ks])
        ax.set_xlabel("K")
        ax.set_ylabel("Recall@K" if family == "recall" else "MRR@K")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    *,
    config: EvalConfig,
    dataset: Dataset,
    digests: Mapping[str, str],
    eligible_users: int,
    targets: Sequence[Target],
    results: Sequence[ModelResult],
    metrics: Mapping[str, Mapping[str, Any]],
    wall_seconds: float,
    comparisons: Mapping[str, Mapping[str, MetricValue]] | None = None,
) -> dict[str, Any]:
    """Write every report file into ``config.out`` and return the report.json content."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {_cpus()} CPU threads, device {config.device}",
        "config": _jsonable(config),
        "dataset": {
            "name": dataset.name,
            "path": str(config.data),
            "sha256": digests["combined"],
            "files": {k: v for k, v in digests.items() if k != "combined"},
            "users": len(dataset.histories),
            "items": len(dataset.items),
            "interactions": dataset.n_interactions,
            "notes": list(dataset.notes),
        },
        "protocol": _PROTOCOLS[dataset.name],
        "targets": {
            "eligible_users": eligible_users,
            "evaluated_users": len({t.user_id for t in targets}),
            **{split: sum(1 for t in targets if t.split == split) for split in SPLITS},
        },
        "models": {},
        "comparisons": {
            pair: {name: value.as_dict() for name, value in values.items()}
            for pair, values in (comparisons or {}).items()
        },
        "wall_time_s": round(wall_seconds, 2),
    }
    for result in results:
        per_split = metrics[result.name]
        report["models"][result.name] = {
            "metrics": _metrics_json(per_split.get("test")),
            "validation_metrics": _metrics_json(per_split.get("validation")),
            "targets": {split: sum(1 for (_, s) in result.scores if s == split) for split in SPLITS},
            "wall_time_s": round(result.fit_seconds + result.score_seconds, 2),
            "fit_seconds": round(result.fit_seconds, 2),
            "score_seconds": round(result.score_seconds, 2),
            "info": _jsonable(result.info),
        }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(report, metrics), encoding="utf-8")
    plot_metrics(
        out / "metrics.png",
        metrics,
        f"{dataset.name}: {report['targets']['test']} test targets, seed {config.seed} (95% bootstrap CI)",
    )
    _rankings(out / "rankings.jsonl", targets, results)
    _summaries(out / "summaries.jsonl", results)
    return report


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
