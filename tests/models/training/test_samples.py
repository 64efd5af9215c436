"""One user's sample groups: labels, context, negatives, cap, validation, provenance and ids.

Every expectation here is recomputed from the raw events with the public prompt helpers, not
read back from the library, so a change in what the training data means shows up as a failure.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest

from models.prompts import PromptConfig, build_candidate, build_context
from models.training.samples import (
    SampleConfig,
    SampleGroup,
    SummaryVersion,
    TrainingEvent,
    UserData,
    build_user_groups,
    liked_items,
)
from models.types import HistoryEntry, ItemText

from .factories import Row, make_catalog, user_from_rows

CATALOG: dict[str, ItemText] = make_catalog(40)
ORDER: list[str] = sorted(CATALOG)

# Every labelling rule once; "x*" items are not in the catalog.
LABEL_ROWS: list[Row] = [
    ("i00", "view", None, 100),  # e0: context only (and the first catalogued event)
    ("i01", "rating", 5.0, 200),  # e1: positive
    ("i02", "rating", 4.0, 300),  # e2: positive (exactly like_rating)
    ("i03", "rating", 3.0, 400),  # e3: context only
    ("i04", "rating", 2.0, 500),  # e4: explicit negative (exactly dislike_rating)
    ("i05", "rating", 1.0, 600),  # e5: explicit negative
    ("i06", "like", None, 700),  # e6: positive
    ("i07", "dislike", None, 800),  # e7: explicit negative
    ("i08", "click", None, 900),  # e8: context only (this user has ratings)
    ("i09", "view", None, 1000),  # e9: context only
    ("i10", "rating", 4.5, 1100),  # e10: positive
    ("i11", "rating", 2.5, 1200),  # e11: context only
    ("i12", "rating", 3.9, 1300),  # e12: context only
]


def groups_of(
    user: UserData, config: SampleConfig = SampleConfig(max_targets_per_user=50)
) -> list[SampleGroup]:
    return build_user_groups(user, CATALOG, ORDER, config)


def by_target(groups: list[SampleGroup]) -> dict[str, SampleGroup]:
    return {g.target_event_id: g for g in groups}


def expected_context(user: UserData, target: TrainingEvent, config: SampleConfig, summary: str | None) -> str:
    """The context recomputed from the raw events: catalogued, strictly earlier, newest ``max_recent``."""
    earlier = sorted(
        (e for e in user.events if e.item_id in CATALOG and e.ts < target.ts), key=lambda e: (e.ts, e.seq)
    )
    history = [
        HistoryEntry(CATALOG[e.item_id], e.event_type, e.rating, e.ts) for e in earlier[-config.max_recent :]
    ]
    return build_context(history, PromptConfig(config.max_recent, config.max_title_chars), summary=summary)


def negative_items(group: SampleGroup, target_item: str) -> list[str]:
    return [s.item_id for s in group.samples if s.item_id != target_item]


# -- labels -----------------------------------------------------------------------------------


def test_labels_follow_the_rating_like_and_dislike_rules() -> None:
    """Ratings >= 4 and likes are positives, ratings <= 2 and dislikes are negatives, the rest context."""
    user = user_from_rows("u", LABEL_ROWS)
    groups = by_target(groups_of(user))
    events = {e.event_id: e for e in user.events}
    labels = {
        eid: {s.label for s in g.samples if s.item_id == events[eid].item_id} for eid, g in groups.items()
    }
    assert labels == {
        "u:e1": {1},
        "u:e2": {1},
        "u:e4": {0},
        "u:e5": {0},
        "u:e6": {1},
        "u:e7": {0},
        "u:e10": {1},
    }


def test_a_positive_group_is_the_target_plus_sampled_negatives() -> None:
    config = SampleConfig(negatives_per_positive=4, max_targets_per_user=50)
    user = user_from_rows("u", LABEL_ROWS)
    events = {e.event_id: e for e in user.events}
    for group in groups_of(user, config):
        target_item = events[group.target_event_id].item_id
        targets = [s for s in group.samples if s.item_id == target_item]
        others = [s for s in group.samples if s.item_id != target_item]
        if group.target_event_id in {"u:e4", "u:e5", "u:e7"}:
            assert [(s.item_id, s.label) for s in group.samples] == [(target_item, 0)]
            continue
        assert [s.label for s in targets] == [1]
        assert len(others) == 4 and all(s.label == 0 for s in others)
        assert len({s.item_id for s in others}) == 4
        # Candidates are exactly what serving renders for the item.
        prompt = config.prompt
        assert all(s.candidate == build_candidate(CATALOG[s.item_id], prompt) for s in group.samples)


def test_clicks_are_positives_only_for_users_without_any_rating() -> None:
    rows: list[Row] = [
        ("i00", "click", None, 100),  # nothing before it: no group
        ("i01", "view", None, 200),
        ("i02", "click", None, 300),
        ("i03", "click", None, 400),
    ]
    click_only = groups_of(user_from_rows("u", rows))
    assert [g.target_event_id for g in click_only] == ["u:e2", "u:e3"]
    assert all(g.samples[0].label == 1 for g in click_only)
    # One rating anywhere (here a neutral one, the newest event) turns every click into context.
    rated = user_from_rows("u", [*rows, ("i04", "rating", 3.0, 500)])
    assert groups_of(rated) == []
    assert liked_items(user_from_rows("u", rows), SampleConfig()) == ["i00", "i02", "i03"]
    assert liked_items(rated, SampleConfig()) == []


# -- context ----------------------------------------------------------------------------------

CONTEXT_ROWS: list[Row] = [
    ("i00", "rating", 3.0, 100),  # e0
    ("x1", "rating", 5.0, 150),  # e1: uncatalogued positive: no group, never in a context
    ("i01", "rating", 5.0, 200),  # e2
    ("i02", "view", None, 300),  # e3
    ("i03", "rating", 5.0, 400),  # e4: same ts as e5: neither sees the other
    ("i04", "rating", 4.0, 400),  # e5
    ("i05", "like", None, 500),  # e6
    ("x2", "view", None, 550),  # e7: uncatalogued context: never shown
    ("i06", "rating", 1.0, 600),  # e8
    ("i07", "rating", 5.0, 700),  # e9
]


@pytest.mark.parametrize("max_recent", [1, 3, 10])
def test_context_is_serving_context_of_strictly_earlier_catalogued_events(max_recent: int) -> None:
    config = SampleConfig(max_recent=max_recent, max_targets_per_user=50, max_title_chars=12)
    events = user_from_rows("u", CONTEXT_ROWS).events
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    user = UserData("u", tuple(shuffled))  # any order in, the same groups out
    groups = groups_of(user, config)
    assert groups == groups_of(UserData("u", events), config)
    by_id = {e.event_id: e for e in events}
    assert [g.target_event_id for g in groups] == ["u:e2", "u:e4", "u:e5", "u:e6", "u:e8", "u:e9"]
    for group in groups:
        target = by_id[group.target_event_id]
        assert group.context == expected_context(user, target, config, None)
        shown = [by_id[i] for i in group.context_event_ids]
        assert all(e.ts < target.ts and e.item_id in CATALOG for e in shown)
        assert len(shown) <= max_recent
        assert list(group.context_item_ids) == [e.item_id for e in shown]
        assert not {"x1", "x2"} & ({*group.context_item_ids} | {s.item_id for s in group.samples})
    # The same-timestamp pair: neither event is in the other's context.
    same_ts = by_target(groups)
    assert "u:e5" not in same_ts["u:e4"].context_event_ids
    assert "u:e4" not in same_ts["u:e5"].context_event_ids


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([("i00", "rating", 5.0, 100)], id="first-event"),
        pytest.param([("x1", "rating", 3.0, 50), ("i00", "rating", 5.0, 100)], id="only-uncatalogued-before"),
        pytest.param([("i01", "rating", 3.0, 100), ("i00", "rating", 5.0, 100)], id="only-same-ts-before"),
        pytest.param([("i01", "rating", 3.0, 50), ("x1", "rating", 5.0, 100)], id="uncatalogued-target"),
    ],
)
def test_a_target_without_catalogued_history_before_it_yields_no_group(rows: list[Row]) -> None:
    assert groups_of(user_from_rows("u", rows)) == []


# -- sampled negatives ------------------------------------------------------------------------


def many_targets_user(key: str = "u") -> UserData:
    """A view first, then positives on 10 items, a view and a dislike, then a late like on i39."""
    rows: list[Row] = [("i00", "view", None, 100)]
    rows += [(f"i{k:02d}", "rating", 5.0, 100 + 100 * k) for k in range(1, 11)]
    rows += [("i20", "view", None, 2000), ("i21", "dislike", None, 2100), ("i39", "like", None, 9000)]
    return user_from_rows(key, rows)


def test_negatives_are_catalog_items_the_user_never_touched() -> None:
    user = many_targets_user()
    touched = {e.item_id for e in user.events}
    events = {e.event_id: e for e in user.events}
    config = SampleConfig(negatives_per_positive=6, max_targets_per_user=50)
    groups = groups_of(user, config)
    assert len(groups) == 12
    drawn: set[str] = set()
    for group in groups:
        items = negative_items(group, events[group.target_event_id].item_id)
        if group.samples[0].label == 1:
            assert len(items) == 6 == len(set(items))
        drawn |= set(items)
    # Including items touched only later (i39), only viewed (i20) or only disliked (i21).
    assert drawn and drawn <= set(CATALOG) - touched


def test_negatives_are_capped_by_the_untouched_pool() -> None:
    catalog = {k: CATALOG[k] for k in ORDER[:5]}
    rows: list[Row] = [("i00", "view", None, 100), ("i01", "rating", 5.0, 200), ("i02", "like", None, 300)]
    config = SampleConfig(negatives_per_positive=3)
    groups = build_user_groups(user_from_rows("u", rows), catalog, sorted(catalog), config)
    assert [sorted(s.item_id for s in g.samples if s.label == 0) for g in groups] == [["i03", "i04"]] * 2
    zero = build_user_groups(
        user_from_rows("u", rows), catalog, sorted(catalog), replace(config, negatives_per_positive=0)
    )
    assert [len(g.samples) for g in zero] == [1, 1]


def test_negatives_are_seeded_by_seed_user_and_target() -> None:
    """Same seed, same negatives; another seed or another user key, other negatives."""
    user = many_targets_user()
    config = SampleConfig(max_targets_per_user=50)

    def drawn(u: UserData, c: SampleConfig) -> list[tuple[str, ...]]:
        return [tuple(s.item_id for s in g.samples[1:]) for g in build_user_groups(u, CATALOG, ORDER, c)]

    first = drawn(user, config)
    assert drawn(user, config) == first
    assert drawn(user, replace(config, seed=1)) != first
    assert drawn(many_targets_user("other-key"), config) != first
    # Per target: e.g. target 2 and target 3 do not share one draw.
    assert len(set(first)) == len(first)


def test_negatives_follow_the_target_event_not_the_group_position() -> None:
    """Turning an earlier positive into a neutral rating shifts positions but not a later target's draw."""
    user = many_targets_user()
    neutral = UserData("u", tuple(replace(e, rating=3.0) if e.event_id == "u:e1" else e for e in user.events))
    before = by_target(groups_of(user))
    after = by_target(groups_of(neutral))
    assert set(before) - set(after) == {"u:e1"}
    for event_id, group in after.items():
        assert [s.item_id for s in group.samples] == [s.item_id for s in before[event_id].samples]


# -- cap and validation -----------------------------------------------------------------------


def test_the_cap_is_a_seeded_choice_among_the_targets() -> None:
    user = many_targets_user()
    all_targets = [g.target_event_id for g in groups_of(user, SampleConfig(max_targets_per_user=50))]
    assert len(all_targets) == 12
    selections = set()
    for seed in range(8):
        config = SampleConfig(max_targets_per_user=4, seed=seed)
        chosen = [g.target_event_id for g in groups_of(user, config)]
        assert chosen == [g.target_event_id for g in groups_of(user, config)]  # reproducible
        assert len(chosen) == 4 and set(chosen) <= set(all_targets)
        assert chosen == sorted(chosen, key=all_targets.index)  # still in time order
        selections.add(tuple(chosen))
    # Not simply the newest or oldest four: the seed moves the choice.
    assert len(selections) > 2


def test_the_newest_selected_target_is_the_validation_group() -> None:
    user = many_targets_user()
    for config in (SampleConfig(max_targets_per_user=50), SampleConfig(max_targets_per_user=3, seed=5)):
        groups = groups_of(user, config)
        events = {e.event_id: e for e in user.events}
        assert [g.split for g in groups] == ["train"] * (len(groups) - 1) + ["validation"]
        newest = max(groups, key=lambda g: (events[g.target_event_id].ts, events[g.target_event_id].seq))
        assert newest.split == "validation"
    unvalidated = groups_of(user, SampleConfig(max_targets_per_user=50, validation=False))
    assert {g.split for g in unvalidated} == {"train"}


def test_a_user_with_a_single_target_has_no_validation_group() -> None:
    rows: list[Row] = [("i00", "view", None, 100), ("i01", "rating", 5.0, 200)]
    assert [g.split for g in groups_of(user_from_rows("u", rows))] == ["train"]
    capped = groups_of(many_targets_user(), SampleConfig(max_targets_per_user=1))
    assert [g.split for g in capped] == ["train"]


# -- summaries and provenance -----------------------------------------------------------------

SUMMARY_ROWS: list[Row] = [
    ("i00", "rating", 3.0, 100),  # e0
    ("i01", "rating", 5.0, 200),  # e1: no summary ends strictly before 200
    ("i02", "rating", 5.0, 300),  # e2: summary 1
    ("i03", "rating", 5.0, 400),  # e3: summary 1 (summary 2 ends exactly at 400)
    ("i04", "rating", 5.0, 500),  # e4: summary 2
    ("i05", "rating", 1.0, 600),  # e5: summary 2
]
SUMMARIES = (
    SummaryVersion(2, "Likes items\nwith words.", ("u:e0", "u:e1", "u:e2", "u:e3"), 400),
    SummaryVersion(1, "Likes item 1.", ("u:e0", "u:e1"), 200),
)


def test_the_newest_summary_ending_before_the_target_is_in_the_context() -> None:
    config = SampleConfig(max_recent=2, max_targets_per_user=50)
    user = user_from_rows("u", SUMMARY_ROWS, SUMMARIES)
    events = {e.event_id: e for e in user.events}
    expected_version = {"u:e1": None, "u:e2": 1, "u:e3": 1, "u:e4": 2, "u:e5": 2}
    summaries = {s.version: s for s in SUMMARIES}
    groups = groups_of(user, config)
    assert {g.target_event_id: g.summary_version for g in groups} == expected_version
    for group in groups:
        version = expected_version[group.target_event_id]
        summary = summaries[version] if version is not None else None
        target = events[group.target_event_id]
        assert group.context == expected_context(user, target, config, summary.text if summary else None)
        assert ("User preference summary:" in group.context) == (summary is not None)
        assert group.summary_event_ids == (summary.covered_event_ids if summary else ())


def test_derived_from_holds_target_context_and_summary_events() -> None:
    config = SampleConfig(max_recent=2, max_targets_per_user=50)
    user = user_from_rows("u", SUMMARY_ROWS, SUMMARIES)
    events = {e.event_id: e for e in user.events}
    group = by_target(groups_of(user, config))["u:e5"]
    # Context shows e3, e4 (max_recent 2); summary 2 covers e0..e3; the target is e5.
    assert group.context_event_ids == ("u:e3", "u:e4")
    assert group.derived_from == {"u:e0", "u:e1", "u:e2", "u:e3", "u:e4", "u:e5"}
    for g in groups_of(user, config):
        assert g.target_event_id in g.derived_from
        assert set(g.context_event_ids) <= g.derived_from
        assert set(g.summary_event_ids) <= g.derived_from
        assert all(events[e].ts <= events[g.target_event_id].ts for e in g.derived_from)


# -- sample ids -------------------------------------------------------------------------------


def test_sample_ids_are_stable_unique_sha256_strings() -> None:
    rows = [*LABEL_ROWS, ("i01", "rating", 5.0, 5000), ("i01", "like", None, 6000)]  # i01 is a target 3x
    user = user_from_rows("u", rows)
    groups = groups_of(user)
    ids = [s.sample_id for g in groups for s in g.samples]
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)
    assert len(ids) == len(set(ids))
    rebuilt = groups_of(UserData("u", tuple(reversed(user.events))))
    assert [s.sample_id for g in rebuilt for s in g.samples] == ids
    # The user key is part of the identity: another user's samples never collide.
    other = groups_of(UserData("v", user.events))
    assert not set(ids) & {s.sample_id for g in other for s in g.samples}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("negatives_per_positive", -1),
        ("max_targets_per_user", 0),
        ("max_recent", 0),
        ("max_title_chars", 0),
        ("max_recent", True),
        ("seed", -1),
        ("dislike_rating", 4.0),
    ],
)
def test_sample_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SampleConfig(**{field: value})  # type: ignore[arg-type]
