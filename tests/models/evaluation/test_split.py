"""The leave-last-positive split, candidate sampling and the MovieLens loader."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from models.evaluation.data import Dataset, Target, file_digests
from models.evaluation.movielens import load_movielens
from models.evaluation.split import SplitConfig, build_targets, sample_users
from models.types import ItemText

from .factories import filler_user, make_dataset, make_target, rating, with_users

# user "1": likes "2" (4.0), "4" (4.5) and "7" (5.0); "6" and "8" share the test target's
# timestamp; "9" (2.0) comes after the last like.
USER_1 = [
    ("1", 1000, 3.0),
    ("2", 2000, 4.0),
    ("3", 3000, 2.5),
    ("4", 4000, 4.5),
    ("5", 5000, 3.0),
    ("6", 6000, 3.5),
    ("7", 6000, 5.0),
    ("8", 6000, 1.0),
    ("9", 7000, 2.0),
]
HISTORIES = {
    "1": USER_1,
    "2": [("10", 1000, 4.0), ("11", 2000, 5.0), ("12", 3000, 4.0)],
    "3": [("1", 1000, 5.0), ("2", 2000, 3.0)],  # a single like: skipped
    "4": [("13", 1000, 5.0), ("14", 2000, 4.0)],  # validation target without history: skipped
    "5": filler_user(20, 26),  # items "20".."45", never liked: skipped, feeds the negative pool
}


@pytest.fixture
def dataset() -> Dataset:
    return make_dataset(HISTORIES)


def by_key(targets: list[Target]) -> dict[tuple[str, str], Target]:
    return {t.key: t for t in targets}


def test_targets_are_the_last_two_liked_interactions(dataset: Dataset) -> None:
    targets = by_key(build_targets(dataset))
    assert sorted(targets) == [("1", "test"), ("1", "validation"), ("2", "test"), ("2", "validation")]
    assert targets["1", "test"].positive == "7"
    assert targets["1", "test"].cutoff_ts == 6000
    assert targets["1", "validation"].positive == "4"
    assert targets["1", "validation"].cutoff_ts == 4000
    assert targets["2", "test"].positive == "12"
    assert targets["2", "validation"].positive == "11"


def test_targets_come_in_user_order_validation_first(dataset: Dataset) -> None:
    targets = build_targets(dataset)
    assert [t.key for t in targets] == [
        ("1", "validation"),
        ("1", "test"),
        ("2", "validation"),
        ("2", "test"),
    ]


def test_a_low_rating_after_the_last_like_is_neither_target_nor_history(dataset: Dataset) -> None:
    for target in build_targets(dataset):
        assert target.positive != "9"
        assert "9" not in {i.item_id for i in target.history}


def test_history_is_everything_strictly_before_the_target(dataset: Dataset) -> None:
    targets = by_key(build_targets(dataset))
    test, validation = targets["1", "test"], targets["1", "validation"]
    # "6" and "8" share the test target's timestamp: not known to be earlier, so not history.
    assert [i.item_id for i in test.history] == ["1", "2", "3", "4", "5"]
    assert [i.item_id for i in validation.history] == ["1", "2", "3"]
    assert [i.item_id for i in targets["2", "test"].history] == ["10", "11"]
    for target in targets.values():
        assert all(i.ts < target.cutoff_ts for i in target.history)
        assert target.positive not in {i.item_id for i in target.history}
    # The history keeps the interactions themselves (ratings included), in time order.
    assert test.history[3] == rating("4", 4000, 4.5)


def test_candidates_are_21_distinct_items_with_the_positive_once(dataset: Dataset) -> None:
    for target in build_targets(dataset):
        assert len(target.candidates) == 21
        assert len(set(target.candidates)) == 21
        assert target.candidates.count(target.positive) == 1
        assert target.candidates[target.positive_index] == target.positive


def test_negatives_were_never_interacted_with_by_the_user(dataset: Dataset) -> None:
    universe = set(dataset.interacted_items())
    for target in build_targets(dataset):
        seen = {i.item_id for i in dataset.histories[target.user_id]}
        negatives = set(target.candidates) - {target.positive}
        # Not even the items the user touches at or after the target ("6", "8", "9" for user 1).
        assert not negatives & seen
        assert negatives <= universe


def test_candidate_order_does_not_always_put_the_positive_first(dataset: Dataset) -> None:
    positions = {
        t.positive_index for seed in range(5) for t in build_targets(dataset, SplitConfig(seed=seed))
    }
    assert len(positions) > 1


def test_n_negatives_sets_the_candidate_count(dataset: Dataset) -> None:
    for target in build_targets(dataset, SplitConfig(n_negatives=5)):
        assert len(target.candidates) == 6


def test_users_whose_pool_is_too_small_are_skipped(dataset: Dataset) -> None:
    # User 1 never touched 31 of the 40 interacted items; 32 negatives cannot be drawn.
    users = {t.user_id for t in build_targets(dataset, SplitConfig(n_negatives=32))}
    assert "1" not in users and "2" in users


def test_candidates_are_reproducible_for_a_seed(dataset: Dataset) -> None:
    first = build_targets(dataset, SplitConfig(seed=3))
    second = build_targets(make_dataset(HISTORIES), SplitConfig(seed=3))
    assert first == second
    other = build_targets(dataset, SplitConfig(seed=4))
    assert [t.candidates for t in other] != [t.candidates for t in first]
    # Only the sample changes with the seed, never the protocol.
    assert [(t.key, t.positive, t.history) for t in other] == [(t.key, t.positive, t.history) for t in first]


def test_candidates_do_not_depend_on_the_other_users(dataset: Dataset) -> None:
    """Seeding is per (seed, user, split): other users coming and going change nothing.

    The added user only touches items already in the dataset and the removed user's items are
    all interacted by someone else, so the negative-sampling universe stays the same.
    """
    base = by_key(build_targets(dataset, SplitConfig(seed=1)))
    added = with_users(dataset, {"0": [("20", 500, 5.0), ("1", 600, 4.0), ("30", 700, 5.0)]})
    removed = make_dataset({u: rows for u, rows in HISTORIES.items() if u != "3"})
    assert added.interacted_items() == removed.interacted_items() == dataset.interacted_items()
    grown = by_key(build_targets(added, SplitConfig(seed=1)))
    shrunk = by_key(build_targets(removed, SplitConfig(seed=1)))
    assert ("0", "test") in grown  # the new user really takes part
    for key in [("1", "validation"), ("1", "test"), ("2", "validation"), ("2", "test")]:
        assert grown[key] == base[key]
        assert shrunk[key] == base[key]


def test_negatives_are_drawn_per_user_and_split() -> None:
    """Two users with the same history, hence the same pool, still get their own negatives."""
    same: list[tuple[str, int, float]] = [("a", 100, 3.0), ("b", 200, 5.0), ("c", 300, 4.0)]
    dataset = make_dataset({"x": same, "y": same, "f": filler_user(100, 40)})
    targets = by_key(build_targets(dataset))

    def negatives(key: tuple[str, str]) -> set[str]:
        return set(targets[key].candidates) - {targets[key].positive}

    assert negatives(("x", "test")) != negatives(("y", "test"))
    assert negatives(("x", "validation")) != negatives(("x", "test"))


def test_users_with_fewer_than_two_likes_are_skipped(dataset: Dataset) -> None:
    users = {t.user_id for t in build_targets(dataset)}
    assert "3" not in users  # one like
    assert "5" not in users  # none
    assert "4" not in users  # two likes, but the earlier one has nothing before it


def test_min_rating_defines_a_like(dataset: Dataset) -> None:
    targets = by_key(build_targets(dataset, SplitConfig(min_rating=4.5)))
    # For user 1 only "4" (4.5) and "7" (5.0) count now; user 2 has a single 5.0.
    assert targets["1", "validation"].positive == "4"
    assert ("2", "test") not in targets
    lenient = by_key(build_targets(dataset, SplitConfig(min_rating=3.5)))
    assert lenient["1", "test"].positive == "7"
    assert lenient["1", "validation"].positive == "6"  # 3.5 at the test target's timestamp
    # The validation target shares the test target's timestamp, so it is not in its history.
    assert "6" not in {i.item_id for i in lenient["1", "test"].history}


def test_sample_users_is_a_deterministic_subset() -> None:
    users = [str(k) for k in range(50)]
    picked = sample_users(users, 10, seed=0)
    assert picked == sample_users(users, 10, seed=0)
    assert len(picked) == 10 == len(set(picked))
    assert set(picked) <= set(users)
    assert picked == [u for u in users if u in set(picked)]  # input order kept
    assert any(sample_users(users, 10, seed=s) != picked for s in (1, 2, 3))


@pytest.mark.parametrize("n", [None, 5, 6])
def test_sample_users_returns_everyone_when_n_is_none_or_too_large(n: int | None) -> None:
    users = ["a", "b", "c", "d", "e"]
    assert sample_users(users, n, seed=0) == users


def test_sample_users_rejects_zero() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_users(["a", "b"], 0, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_negatives": 0}, "n_negatives"),
        ({"n_negatives": -1}, "n_negatives"),
        ({"n_negatives": True}, "n_negatives"),
        ({"n_negatives": 2.0}, "n_negatives"),
        ({"seed": -1}, "seed"),
        ({"min_rating": float("nan")}, "min_rating"),
    ],
)
def test_split_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SplitConfig(**kwargs)  # type: ignore[arg-type]


def test_target_rejects_a_missing_or_repeated_positive() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        make_target("u", "p", ["a", "b"], [("h", 1, 5.0)], cutoff_ts=10)
    with pytest.raises(ValueError, match="exactly once"):
        make_target("u", "p", ["p", "a", "p"], [("h", 1, 5.0)], cutoff_ts=10)


def test_target_rejects_duplicate_candidates() -> None:
    with pytest.raises(ValueError, match="distinct"):
        make_target("u", "p", ["p", "a", "a"], [("h", 1, 5.0)], cutoff_ts=10)


@pytest.mark.parametrize("late_ts", [10, 11])
def test_target_rejects_history_at_or_after_the_cutoff(late_ts: int) -> None:
    with pytest.raises(ValueError, match="cutoff_ts"):
        make_target("u", "p", ["p", "a"], [("h", 1, 5.0), ("late", late_ts, 5.0)], cutoff_ts=10)
    assert make_target("u", "p", ["p", "a"], [("h", 9, 5.0)], cutoff_ts=10).positive_index == 0


def test_target_rejects_an_unknown_split() -> None:
    with pytest.raises(ValueError, match="split"):
        make_target("u", "p", ["p"], [], cutoff_ts=10, split="train")


def test_dataset_rejects_histories_out_of_time_order() -> None:
    with pytest.raises(ValueError, match="time order"):
        make_dataset({"u": [("a", 2, 5.0), ("b", 1, 5.0)]})


# -- MovieLens --------------------------------------------------------------------------------

MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    '2,"American President, The (1995)",Comedy|Drama|Romance\n'
    "3,Nothing Listed (2001),(no genres listed)\n"
    "10,GoldenEye (1995),Action\n"
    "20,Heat (1995),Action|Crime|Thriller\n"
)
RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "2,1,4.0,964982703\n"
    "10,3,1.5,100\n"
    "1,10,5.0,964982224\n"
    "1,3,4.5,964981247\n"
    "1,1,3.0,964982224\n"
    "2,10,0.5,964982000\n"
    "1,2,4.0,964982224\n"
    "10,20,2.0,200\n"
)


def write_movielens(path: Path, ratings: str = RATINGS) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "movies.csv").write_text(MOVIES, encoding="utf-8")
    (path / "ratings.csv").write_text(ratings, encoding="utf-8")
    return path


def test_load_movielens_items(tmp_path: Path) -> None:
    dataset = load_movielens(write_movielens(tmp_path))
    assert dataset.name == "movielens"
    assert dataset.items["1"] == ItemText("1", "Toy Story (1995)", ("Adventure", "Animation", "Children"))
    assert dataset.items["2"].title == "American President, The (1995)"
    assert dataset.items["3"].categories == ()
    assert dataset.items["10"].categories == ("Action",)
    assert dataset.sources == (tmp_path / "movies.csv", tmp_path / "ratings.csv")


def test_load_movielens_histories(tmp_path: Path) -> None:
    dataset = load_movielens(write_movielens(tmp_path))
    assert list(dataset.histories) == ["1", "2", "10"]  # numeric user order
    # Time order in milliseconds; the three equal timestamps keep their ratings.csv order.
    assert dataset.histories["1"] == (
        rating("3", 964981247000, 4.5),
        rating("10", 964982224000, 5.0),
        rating("1", 964982224000, 3.0),
        rating("2", 964982224000, 4.0),
    )
    assert dataset.histories["2"] == (rating("10", 964982000000, 0.5), rating("1", 964982703000, 4.0))
    assert dataset.histories["10"] == (rating("3", 100000, 1.5), rating("20", 200000, 2.0))
    assert dataset.n_interactions == 8
    assert all(i.event_type == "rating" for h in dataset.histories.values() for i in h)


def test_load_movielens_feeds_the_split(tmp_path: Path) -> None:
    dataset = load_movielens(write_movielens(tmp_path))
    targets = by_key(build_targets(dataset, SplitConfig(n_negatives=1)))
    # User 1 likes "3", "10" and "2"; "10" and "2" share a second, so the test target "2"
    # sees only "3" and the validation target "10" sees only "3" as well.
    assert targets["1", "test"].positive == "2"
    assert targets["1", "validation"].positive == "10"
    assert [i.item_id for i in targets["1", "test"].history] == ["3"]
    assert sorted(targets["1", "test"].candidates) == ["2", "20"]  # "20" is the only unseen item


def test_load_movielens_needs_both_files(tmp_path: Path) -> None:
    write_movielens(tmp_path)
    (tmp_path / "ratings.csv").unlink()
    with pytest.raises(FileNotFoundError, match="ml-latest-small"):
        load_movielens(tmp_path)


def test_file_digests(tmp_path: Path) -> None:
    path = write_movielens(tmp_path / "a")
    files = [path / "ratings.csv", path / "movies.csv"]
    digests = file_digests(files)
    assert set(digests) == {"movies.csv", "ratings.csv", "combined"}
    for f in files:
        assert digests[f.name] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert len(digests["combined"]) == 64
    assert digests["combined"] not in (digests["movies.csv"], digests["ratings.csv"])

    # The same bytes elsewhere, listed in another order: the same digests.
    copy = tmp_path / "b"
    shutil.copytree(path, copy)
    assert file_digests([copy / "movies.csv", copy / "ratings.csv"]) == digests

    # One byte changed: that file's digest and the combined one change, the other stays.
    (copy / "ratings.csv").write_text(RATINGS.replace("4.0,964982703", "4.5,964982703"), encoding="utf-8")
    changed = file_digests([copy / "movies.csv", copy / "ratings.csv"])
    assert changed["movies.csv"] == digests["movies.csv"]
    assert changed["ratings.csv"] != digests["ratings.csv"]
    assert changed["combined"] != digests["combined"]
