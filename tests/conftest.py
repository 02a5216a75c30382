"""Shared fixtures. Conformance data lives outside the repository (its licence is not ours).

With ``POLYMASK_REQUIRE_EXTENSIONS=1`` (CI sets it) a C extension that cannot be imported stops
the run with a failure: the tests that need it would otherwise be skipped, and a build that
lost its compiler would pass as green. The report header names the file each extension was
loaded from, so a run can show which build it tested (``make sanitize`` checks it).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = REPO.parent / "shared" / "conformance"
EXTENSIONS = ("polymask.raster._scanfill", "polymask.io._pngrows")


def _extension_files() -> dict[str, str | ImportError]:
    """Each C extension's file, or the error that kept it from importing."""
    found: dict[str, str | ImportError] = {}
    for name in EXTENSIONS:
        try:
            found[name] = importlib.import_module(name).__file__
        except ImportError as exc:
            found[name] = exc
    return found


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"{name}: {where}" for name, where in _extension_files().items()]


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("POLYMASK_REQUIRE_EXTENSIONS") != "1":
        return
    missing = [f"{n} ({e})" for n, e in _extension_files().items() if isinstance(e, ImportError)]
    if missing:
        pytest.exit(
            "POLYMASK_REQUIRE_EXTENSIONS=1, but these C extensions cannot be imported: "
            + "; ".join(missing)
            + ". Build them (a C compiler and `pip install -e .`) or unset the variable.",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )


@pytest.fixture(scope="session")
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip("conformance data not found at ../shared/conformance (clone has no shared/)")
    return CONFORMANCE
