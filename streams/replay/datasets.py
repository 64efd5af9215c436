"""Where the shared datasets live: an environment variable, then ``../shared/data``.

One place answers "where is MovieLens?" for the replay, the demo and ``streamrec eval``, so
they never disagree about which copy they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_MIND", "DEFAULT_MOVIELENS", "find_dataset"]

# The checkout's sibling ``shared/data`` (repo/../shared/data), wherever the process runs from.
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_MOVIELENS = _SHARED / "ml-latest-small"
DEFAULT_MIND = _SHARED / "mind-small-train-sample"
_DATASETS = {
    "movielens": ("STREAMREC_MOVIELENS", "ml-latest-small", "ratings.csv"),
    "mind": ("STREAMREC_MIND", "mind-small-train-sample", "behaviors.tsv"),
}


def find_dataset(name: str, env: Mapping[str, str]) -> Path | None:
    """Where dataset ``name`` lives: $STREAMREC_MOVIELENS / $STREAMREC_MIND, then
    ../shared/data/<dir> from the working directory, then next to this checkout; None if absent."""
    variable, directory, marker = _DATASETS[name]
    candidates = [Path(env[variable])] if env.get(variable) else []
    candidates += [Path("../shared/data") / directory, _SHARED / directory]
    return next((c for c in candidates if (c / marker).is_file()), None)
