"""MovieLens parsing on a tiny ml-latest-small-like fixture (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.replay import first_per_user, load_movielens, select_users

MOVIES = """movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
11,"American President, The (1995)",Comedy|Drama|Romance
42,Unknown Film (2018) ,(no genres listed)
7,Babylon 5,Sci-Fi
"""

# userId,movieId,rating,timestamp (seconds); deliberately not in time order.
RATINGS = """userId,movieId,rating,timestamp
2,11,4.5,1000000300
1,1,4.0,1000000100
10,7,0.5,1000000200
1,11,3.0,1000000050
2,1,5.0,1000000100
10,1,2.5,1000000400
10,42,4.0,1000000500
"""


@pytest.fixture
def ml_dir(tmp_path: Path) -> Path:
    (tmp_path / "movies.csv").write_text(MOVIES, encoding="utf-8")
    (tmp_path / "ratings.csv").write_text(RATINGS, encoding="utf-8")
    return tmp_path


def test_items_parse_titles_genres_and_year(ml_dir: Path) -> None:
    """Genres split on '|'; quoted titles with commas survive; the year becomes an attribute."""
    items = {i.item_id: i for i in load_movielens(ml_dir).items}
    assert list(items) == ["1", "11", "42", "7"]
    assert items["1"].title == "Toy Story (1995)"
    assert items["1"].categories == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert items["1"].attributes == {"source": "movielens", "year": 1995}
    assert items["11"].title == "American President, The (1995)"
    assert items["11"].categories == ["Comedy", "Drama", "Romance"]


def test_no_genres_listed_is_dropped_and_titles_are_stripped(ml_dir: Path) -> None:
    """'(no genres listed)' is not a category; a trailing space does not hide the year."""
    item = {i.item_id: i for i in load_movielens(ml_dir).items}["42"]
    assert item.categories == []
    assert item.title == "Unknown Film (2018)"
    assert item.attributes["year"] == 2018


def test_title_without_year_has_no_year_attribute(ml_dir: Path) -> None:
    """No '(YYYY)' at the end, no year."""
    item = {i.item_id: i for i in load_movielens(ml_dir).items}["7"]
    assert item.attributes == {"source": "movielens"}


def test_clicks_are_rating_events_with_ms_timestamps_and_stable_ids(ml_dir: Path) -> None:
    """Each rating is a 'rating' click; ts in ms; id ml-<user>-<movie>-<seconds>."""
    clicks = load_movielens(ml_dir).clicks
    assert len(clicks) == 7
    first = clicks[0]
    assert (first.user_id, first.item_id, first.event_type, first.rating) == ("1", "11", "rating", 3.0)
    assert first.ts == 1_000_000_050_000
    assert first.event_id == "ml-1-11-1000000050"
    assert first.schema_version == 1


def test_clicks_are_sorted_by_time_then_user(ml_dir: Path) -> None:
    """Replays are in event-time order; equal timestamps are ordered by user id, then item."""
    clicks = load_movielens(ml_dir).clicks
    assert [(c.ts, c.user_id, c.item_id) for c in clicks] == sorted(
        (c.ts or 0, c.user_id, c.item_id) for c in clicks
    )
    assert [c.event_id for c in clicks] == [
        "ml-1-11-1000000050",
        "ml-1-1-1000000100",
        "ml-2-1-1000000100",
        "ml-10-7-1000000200",
        "ml-2-11-1000000300",
        "ml-10-1-1000000400",
        "ml-10-42-1000000500",
    ]


def test_loading_twice_gives_identical_event_ids(ml_dir: Path) -> None:
    """Event ids are derived from the data, so a re-replay is idempotent downstream."""
    assert load_movielens(ml_dir).clicks == load_movielens(ml_dir).clicks


def test_users_filter_restricts_ratings_not_items(ml_dir: Path) -> None:
    """users= keeps only those users' ratings; the catalog is complete either way."""
    data = load_movielens(ml_dir, users=["10", "2"])
    assert {c.user_id for c in data.clicks} == {"2", "10"}
    assert len(data.clicks) == 5
    assert len(data.items) == 4
    assert load_movielens(ml_dir, users=[]).clicks == []


def test_missing_files_raise_file_not_found(tmp_path: Path) -> None:
    """A directory without movies.csv/ratings.csv is reported clearly."""
    (tmp_path / "movies.csv").write_text(MOVIES, encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="ratings.csv"):
        load_movielens(tmp_path)


def test_select_users_lowest_numeric_ids_with_enough_ratings(ml_dir: Path) -> None:
    """Numeric order (2 before 10), only users with >= min_ratings, at most count."""
    assert select_users(ml_dir, count=10, min_ratings=2) == ["1", "2", "10"]
    assert select_users(ml_dir, count=2, min_ratings=2) == ["1", "2"]
    assert select_users(ml_dir, count=10, min_ratings=3) == ["10"]
    assert select_users(ml_dir, count=10, min_ratings=4) == []


def test_first_per_user_keeps_global_time_order(ml_dir: Path) -> None:
    """Each user's first ``limit`` clicks, in the original (time) order."""
    clicks = load_movielens(ml_dir).clicks
    kept = first_per_user(clicks, 1)
    assert [c.event_id for c in kept] == ["ml-1-11-1000000050", "ml-2-1-1000000100", "ml-10-7-1000000200"]
    two = first_per_user(clicks, 2)
    assert [c.user_id for c in two] == ["1", "1", "2", "10", "2", "10"]
    assert first_per_user(clicks, 0) == []


def test_offline_evaluation_sees_the_items_and_ratings_the_worker_stores(ml_dir: Path) -> None:
    """models.evaluation parses the same files on its own (models may not import streams); the
    LLM prompts offline match serving only if both parsers agree on titles, genres and ratings."""
    from models.evaluation.movielens import load_movielens as load_for_eval

    streamed = load_movielens(ml_dir)
    offline = load_for_eval(ml_dir)
    for item in streamed.items:
        text = offline.items[item.item_id]
        assert (text.title, list(text.categories)) == (item.title, list(item.categories))
    for click in streamed.clicks:
        [match] = [i for i in offline.histories[click.user_id] if i.item_id == click.item_id]
        assert (match.ts, match.event_type, match.rating) == (click.ts, click.event_type, click.rating)
