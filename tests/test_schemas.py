"""The committed JSON Schema files equal what the models generate now."""

from __future__ import annotations

import pytest

from polymask.schemas import SCHEMAS, render
from tests.conftest import REPO


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_file_in_sync(name):
    path = REPO / "schemas" / name
    assert path.exists(), f"{path} missing: run `polymask schema --write schemas`"
    assert path.read_text(encoding="utf-8") == render(name), (
        f"{path} drifted from its model: run `polymask schema --write schemas`"
    )
