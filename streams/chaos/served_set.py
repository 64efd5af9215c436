"""The oracle of scenario 5: is the adapter set that ``CURRENT`` names complete, right now?

``serving.adapters`` promises that a reader sees either the old set or the complete new one,
never a half-written set (temporary directory, fsync, rename, then ``CURRENT``). The checker
tests the promise from outside, as Triton's recommender would read it, many times a second while
the trainer is killed around it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from serving.adapters import file_sha256, read_current, read_manifest

__all__ = ["SCORER_FILES", "ServedSetChecker", "temporary_sets"]

# Files of a set that the Triton recommender and the deletion path read besides the shards.
SCORER_FILES = ("validation.npz", "items.npz", "members.parquet")


class ServedSetChecker:
    """Polls the served set from a thread: every shard file in ``CURRENT``'s manifest exists
    with its sha256, and every other file it names (and that the scorer reads) exists. Counts
    polls, the versions seen and every violation with its reason."""

    def __init__(self, root: Path, interval_s: float) -> None:
        self.root = root
        self.interval_s = interval_s
        self.polls = 0
        self.versions: list[str] = []
        self.violations: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="served-set-checker", daemon=True)

    def poll(self) -> None:
        self.polls += 1
        try:
            version = read_current(self.root)
            if version is None:
                self.violations.append(f"poll {self.polls}: CURRENT names no complete set")
                return
            if not self.versions or self.versions[-1] != version:
                self.versions.append(version)
            manifest = read_manifest(self.root, version)
            for shard in manifest["shards"]:
                path = self.root / version / shard["file"]
                if not path.is_file():
                    self.violations.append(f"poll {self.polls}: {version}/{shard['file']} missing")
                elif file_sha256(path) != shard["sha256"]:
                    self.violations.append(f"poll {self.polls}: {version}/{shard['file']} sha256 differs")
            # The other files the manifest names (catalog, data cut) and the ones the scorer reads.
            named = [
                entry["file"] for entry in manifest.values() if isinstance(entry, dict) and "file" in entry
            ]
            for name in [*named, *SCORER_FILES]:
                if not (self.root / version / name).is_file():
                    self.violations.append(f"poll {self.polls}: {version}/{name} missing")
        except (OSError, ValueError, KeyError) as exc:
            self.violations.append(f"poll {self.polls}: {exc!r}")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def start(self) -> ServedSetChecker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)


def temporary_sets(root: Path) -> list[str]:
    """Half-written sets in ``root``: what a writer killed mid-publish leaves behind."""
    try:
        return sorted(p.name for p in root.iterdir() if p.name.startswith(".tmp-v"))
    except OSError:
        return []
