"""Hypothesis strategies the fuzz tests share: any JSON value, bounded in size."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)


def json_any(max_leaves: int) -> st.SearchStrategy[Any]:
    """Lists and objects of scalars, nested, at most ``max_leaves`` scalars in all."""
    return st.recursive(
        json_scalar,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
        max_leaves=max_leaves,
    )
