"""The admin API fixture of tests/api, reused here."""

from tests.api.conftest import api

__all__ = ["api"]
