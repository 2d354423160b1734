"""The report tests' headless Chromium: one browser for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import Chromium, chromium_or_skip


@pytest.fixture(scope="session", name="chromium")
def chromium_fixture() -> Iterator[Chromium]:
    """A headless Chromium (the test is skipped, saying why, where there is none)."""
    with Chromium(chromium_or_skip()) as chromium:
        yield chromium
