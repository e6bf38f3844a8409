"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def new_client(app):
    """Another browser: `new_client()` gives a client with an empty cookie jar."""
    return lambda: app.test_client()
