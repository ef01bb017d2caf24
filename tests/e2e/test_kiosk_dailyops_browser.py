"""The kiosk in Chromium when a service reached its daily cap: the tile greys out
and a touch says why and what to do, instead of issuing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from server.cli import main
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def capped_site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo, with civil status capped at one ticket a day through a configuration file."""
    env = {"MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'motcua.sqlite3'}"}
    out = cli(env, "demo")
    file = tmp_path / "site.json"
    cli(env, "config", "export", "--site", "HACTHANH", str(file))
    doc = json.loads(file.read_text(encoding="utf-8"))
    civil = next(s for s in doc["services"] if s["code"] == "civil")
    civil["daily_cap"] = 1
    # Leave the devices as they are (their file printers are relative to another folder).
    def without_devices(node: dict[str, Any]) -> None:
        node.pop("devices", None)
        for child in node.get("children", []):
            without_devices(child)

    without_devices(doc)
    file.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert "1 updated" in cli(env, "config", "import", str(file))
    server = ServerProcess(tmp_path, {**env, "MOTCUA_PUBLIC_BASE_URL": "http://motcua.test"})
    server.start()
    kiosk = re.search(r"kiosk-1\s+kiosk\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    yield {"server": server, "kiosk": kiosk}
    server.stop()


def test_a_capped_service_greys_out_and_says_what_to_do(capped_site: dict, page: Any) -> None:
    page.goto(f"{capped_site['server'].url}/kiosk?token={capped_site['kiosk']}")
    civil = page.get_by_role("button", name=re.compile("Hộ tịch"))
    expect(civil).to_be_visible()
    expect(civil).not_to_have_class(re.compile(r"\boff\b"))
    civil.click()
    page.get_by_role("button", name="Không, lấy số thường").click()
    expect(page.locator("#t-number")).to_have_text("B001")
    page.get_by_role("button", name="Xong").click()

    # The cap is reached: the tile says so and a touch explains, no second ticket.
    expect(civil).to_have_class(re.compile(r"\boff\b"))
    expect(civil).to_contain_text("Đã hết số hôm nay")
    expect(civil).to_have_attribute("aria-disabled", "true")
    civil.click(force=True)  # aria-disabled: Playwright would wait; a finger does not
    why = page.locator("#why-text")
    expect(why).to_be_visible()
    expect(why).to_contain_text("đã cấp hết 1 số của hôm nay")
    expect(why).to_contain_text("Mời quay lại")
    expect(page.locator("#screen-priority")).to_be_hidden()

    # Other services still issue.
    page.get_by_role("button", name="Quay lại").click()
    land = page.get_by_role("button", name=re.compile("^Đất đai"))
    expect(land).not_to_have_class(re.compile(r"\boff\b"))
