"""deploy/display-kiosk.sh: Chromium in kiosk mode with sound allowed, the URL from the argument
or the environment, a crashed profile cleaned, bad input refused (a stand-in browser records
what it was started with)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "display-kiosk.sh"
URL = "http://192.0.2.10:5000/display?token=dev_abc&voices=vi,en&volume=0.8"
FAKE = """#!/bin/sh
printf '%s\\n' "$@" > "$ARGS_FILE"
"""


def run(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    fake = tmp_path / "chromium"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    recorded = tmp_path / "args.txt"
    full = {**os.environ, "MOTCUA_CHROMIUM": str(fake), "ARGS_FILE": str(recorded),
            "MOTCUA_DISPLAY_PROFILE": str(tmp_path / "profile"), "MOTCUA_DISPLAY_RESTART": "0",
            "DISPLAY": "", **env}
    if "MOTCUA_DISPLAY_URL" not in env:
        full.pop("MOTCUA_DISPLAY_URL", None)
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=full, capture_output=True,
                          text=True, timeout=30)
    return proc, recorded


def test_starts_chromium_in_kiosk_mode_with_autoplay(tmp_path: Path) -> None:
    proc, recorded = run(tmp_path, URL)
    assert proc.returncode == 0, proc.stderr
    argv = recorded.read_text().splitlines()
    for flag in ("--kiosk", "--autoplay-policy=no-user-gesture-required", "--noerrdialogs",
                 "--disable-session-crashed-bubble", f"--user-data-dir={tmp_path / 'profile'}"):
        assert flag in argv, flag
    assert argv[-1] == URL


def test_url_from_the_environment_and_extra_flags(tmp_path: Path) -> None:
    proc, recorded = run(tmp_path, MOTCUA_DISPLAY_URL=URL,
                         MOTCUA_DISPLAY_EXTRA="--force-device-scale-factor=2 --lang=vi")
    assert proc.returncode == 0, proc.stderr
    argv = recorded.read_text().splitlines()
    assert argv[-1] == URL
    assert "--force-device-scale-factor=2" in argv and "--lang=vi" in argv


def test_a_crashed_profile_does_not_offer_to_restore(tmp_path: Path) -> None:
    prefs = tmp_path / "profile" / "Default" / "Preferences"
    prefs.parent.mkdir(parents=True)
    prefs.write_text(json.dumps({"profile": {"exited_cleanly": False, "exit_type": "Crashed"}},
                                separators=(",", ":")))
    proc, _ = run(tmp_path, URL)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(prefs.read_text())["profile"] == {"exited_cleanly": True,
                                                        "exit_type": "Normal"}


def test_refuses_a_missing_or_foreign_url(tmp_path: Path) -> None:
    proc, recorded = run(tmp_path)
    assert proc.returncode == 2 and "usage" in proc.stderr
    proc, recorded = run(tmp_path, "file:///etc/passwd")
    assert proc.returncode == 2 and not recorded.exists()
