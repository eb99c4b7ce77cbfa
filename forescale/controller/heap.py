"""``young_only()``: while a tick decides, the cyclic garbage collector visits only what the
tick allocates.

The controller's heap holds ~10^6 container objects at 1000 models (parsed specs, the
tick's observations and forecasts, the last tick's states and decisions). A collection of
the oldest generation walks all of them: ~120 ms on this project's benchmark machine,
longer than the rest of the tick. When one falls inside ``plan_tick`` (the tick allocates
~10^5 objects, enough to trigger it on some ticks and not others, depending on where the
allocation counts stand) the tick takes twice as long. ``bench/core_scale.py`` showed it:
a change that allocated a few thousand objects fewer moved two such collections into its
timed ticks, +120 ms each.

``gc.freeze()`` moves every object alive before the tick into the permanent generation,
which no collection visits; ``gc.unfreeze()`` after it puts them back into the oldest
generation. A collection inside the tick then walks the tick's own objects only; the
next full one, outside the tick (while the controller awaits its observations), walks the
rest. Nothing is left uncollected and the collector stays on. Both calls splice lists
(O(1)).

Not for a process that itself relies on ``gc.freeze()`` (a pre-fork server):
``unfreeze`` would thaw its objects too. The controller does not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def young_only() -> Iterator[None]:
    """Collections within the block visit only the objects allocated in it (module doc)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
