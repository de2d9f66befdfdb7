"""The ``slow`` marker: ``python -m pytest -m "not slow"`` is the developer's quick loop.

Slow are the tests that train a network, start other processes (several workers, the
command line, papermill, a wheel build), and every notebook that nbval executes. CI runs
them all (the README's test command selects no marker).
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: trains a network, starts processes or runs a notebook "
        "(deselect with -m 'not slow')")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if NOTEBOOKS in Path(str(item.path)).resolve().parents:  # nbval's cells
            item.add_marker(pytest.mark.slow)
