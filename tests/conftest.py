"""Shared fixtures. Conformance data lives outside the repository (its licence is not ours)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = REPO.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip("conformance data not found at ../shared/conformance (clone has no shared/)")
    return CONFORMANCE
