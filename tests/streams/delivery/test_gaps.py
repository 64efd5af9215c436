"""The gap guard's decisions: apply, seek back, or accept a gap that cannot be read."""

from __future__ import annotations

from dataclasses import dataclass

from streams.delivery import GapGuard


@dataclass(frozen=True)
class Msg:
    partition: int
    offset: int


def test_contiguous_and_redelivered_batches_pass_untouched() -> None:
    guard = GapGuard()
    batch = [Msg(0, 10), Msg(0, 11), Msg(1, 3), Msg(1, 4)]
    admitted = guard.admit("clicks", batch, {0: 10, 1: 5})  # p1 starts below: a redelivery
    assert admitted.messages == batch
    assert admitted.rewinds == {}


def test_a_partition_ahead_of_the_stored_offset_is_held_and_sought_back() -> None:
    guard = GapGuard()
    admitted = guard.admit("clicks", [Msg(0, 10), Msg(1, 50), Msg(1, 51)], {0: 10, 1: 20})
    assert admitted.messages == [Msg(0, 10)]
    assert admitted.rewinds == {1: 20}


def test_a_partition_without_a_stored_offset_starts_at_zero() -> None:
    """After a re-creation the stored offsets are gone: the group's position must not win."""
    guard = GapGuard()
    admitted = guard.admit("clicks", [Msg(2, 300)], {})
    assert admitted.messages == []
    assert admitted.rewinds == {2: 0}


def test_the_same_gap_after_seeking_is_accepted_not_sought_forever() -> None:
    """Retention deleted 20..49: seeking to 20 delivers 50 again; the second time it is applied."""
    guard = GapGuard()
    assert guard.admit("clicks", [Msg(1, 50)], {1: 20}).rewinds == {1: 20}
    again = guard.admit("clicks", [Msg(1, 50), Msg(1, 51)], {1: 20})
    assert again.rewinds == {}
    assert again.messages == [Msg(1, 50), Msg(1, 51)]


def test_queued_records_from_before_the_seek_are_held_again() -> None:
    """Records fetched before the seek arrive later with a different gap: still not applied."""
    guard = GapGuard()
    guard.admit("clicks", [Msg(1, 50)], {1: 20})
    queued = guard.admit("clicks", [Msg(1, 60)], {1: 20})
    assert queued.messages == []
    assert queued.rewinds == {1: 20}
    # ... and once the sought records arrive, everything flows.
    assert guard.admit("clicks", [Msg(1, 20), Msg(1, 21)], {1: 20}).messages == [Msg(1, 20), Msg(1, 21)]


def test_topics_are_guarded_separately() -> None:
    guard = GapGuard()
    guard.admit("clicks", [Msg(0, 9)], {0: 5})
    assert guard.admit("items", [Msg(0, 9)], {0: 5}).rewinds == {0: 5}
