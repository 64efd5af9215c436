"""The fine-tuned rows learn only from the split's training histories.

Every sample an adapter trains or validates on derives from interactions strictly before the
user's earliest evaluation target, and nothing at or after it (the validation and test
targets, later ratings) can change a single sample.
"""

from __future__ import annotations

from models.evaluation.apa import training_users
from models.evaluation.data import Dataset
from models.evaluation.ranker import FitData
from models.evaluation.split import build_targets
from models.training.samples import SampleConfig, build_user_groups

from .factories import Row, filler_user, make_dataset

HISTORIES: dict[str, list[Row]] = {
    "u": [(f"h{k}", 1000 * k, 5.0 if k % 2 else 2.0) for k in range(1, 9)]
    + [("v", 10_000, 5.0), ("t", 12_000, 4.0), ("late", 13_000, 3.0)],
    "f": filler_user(100, 30),
}


def groups_of(dataset: Dataset) -> dict[str, list]:  # type: ignore[type-arg]
    targets = build_targets(dataset)
    data = FitData(dataset, FitData.cutoffs_from(targets), [t for t in targets if t.split == "validation"])
    order = sorted(dataset.items)
    events = {}
    out = {}
    for user in training_users(data):
        events[user.user_key] = {e.event_id: e for e in user.events}
        out[user.user_key] = build_user_groups(user, dataset.items, order, SampleConfig())
    return {"groups": out, "events": events, "cutoffs": data.train_cutoffs}  # type: ignore[dict-item]


def test_every_sample_derives_from_before_the_earliest_target() -> None:
    found = groups_of(make_dataset(HISTORIES))
    cutoff = found["cutoffs"]["u"]  # type: ignore[index]
    assert cutoff == 10_000  # the validation target's time
    groups = found["groups"]["user:u"]  # type: ignore[index]
    assert groups, "the user must have training samples"
    events = found["events"]["user:u"]  # type: ignore[index]
    for group in groups:
        for event_id in group.derived_from:
            assert events[event_id].ts < cutoff
        assert not {"v", "t", "late"} & {s.item_id for s in group.samples if s.label == 1}
        assert not {"v", "t", "late"} & set(group.context_item_ids)


def test_changing_anything_at_or_after_the_cutoff_changes_no_sample() -> None:
    """Later ratings and re-interactions (same catalog, same targets) leave every sample as is."""
    base = groups_of(make_dataset(HISTORIES))["groups"]["user:u"]  # type: ignore[index]
    later = dict(HISTORIES)
    later["u"] = [*HISTORIES["u"][:-1], ("late", 13_000, 1.0), ("h1", 14_000, 3.0), ("h2", 15_000, 2.0)]
    changed = groups_of(make_dataset(later))["groups"]["user:u"]  # type: ignore[index]
    assert [(g.context, g.samples, g.derived_from) for g in base] == [
        (g.context, g.samples, g.derived_from) for g in changed
    ]
