"""young_only: inside a tick the collector visits only what the tick allocated; after it,
everything is collectable again."""

from __future__ import annotations

import gc
import weakref

import pytest

from forescale.controller.heap import young_only


class Node:
    """A container that can sit in a reference cycle (only the cyclic collector frees it)."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_collection_in_the_block_visits_only_the_blocks_objects() -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection between the steps below
    try:
        before = gc.get_freeze_count()
        old = cycle()
        with young_only():
            assert gc.get_freeze_count() > before
            young = cycle()
            gc.collect()
            assert young() is None  # the tick's own garbage is collected
            assert old() is not None  # what was there before is not visited
        assert gc.get_freeze_count() == before
        gc.collect()
        assert old() is None  # thawed: collected by the next full collection
    finally:
        if was_enabled:
            gc.enable()


def test_an_error_in_the_block_thaws_too() -> None:
    before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), young_only():
        raise RuntimeError("tick failed")
    assert gc.get_freeze_count() == before
