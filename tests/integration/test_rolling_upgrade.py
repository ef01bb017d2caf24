"""The rolling-upgrade drill, short: the previous release's code (from git) serves on a private
PostgreSQL while this checkout's ``init-db`` upgrades the database, then both serve, then the
old node leaves; no request fails (tests/bench/drill_rolling_upgrade.py; a minute there)."""

from __future__ import annotations

import pytest

from tests.bench.drill_rolling_upgrade import drill

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_rolling_upgrade_under_load_without_errors() -> None:
    result = drill(seconds=15)
    assert result["errors"] == 0, result["error_samples"]
    assert result["old_head"] != result["new_head"]
    for node in ("old", "new"):
        ops = result["by_node"][node]
        assert ops["issue"].get("201", 0) > 0, result["by_node"]
        assert ops["finish"].get("200", 0) > 0, result["by_node"]
    assert result["new_readyz"].startswith("200 ready")
    # The old node kept serving on the newer schema (expand then contract).
    assert result["old_readyz_after_upgrade"].startswith("200")
