"""The dependency locks (requirements/*.txt, made by scripts/lock.sh) agree with pyproject.toml.

pyproject.toml keeps the compatible ranges for people who install the package into their own
environment; the locks pin what the README's commands and the Dockerfile install. A range
changed without relocking, a requirement added to one and not the other, or a dev lock whose
runtime pins drifted from the runtime lock fails here, with the fix in the message.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RELOCK = "run scripts/lock.sh and commit requirements/*.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(name: str) -> dict[str, tuple[Version, str | None]]:
    pins: dict[str, tuple[Version, str | None]] = {}
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    for line in text.splitlines():
        m = PIN.match(line)
        if m:
            pins[canonicalize_name(m.group(1))] = (Version(m.group(2)), m.group(3))
    assert pins, f"requirements/{name} holds no pins: {RELOCK}"
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _extra_requirements(req: Requirement) -> list[Requirement]:
    """What `pkg[extra]` adds, read from the installed distribution's metadata."""
    out = []
    for extra in req.extras:
        for raw in metadata.requires(req.name) or []:
            dep = Requirement(raw)
            if dep.marker and dep.marker.evaluate({"extra": extra}) and not dep.marker.evaluate(
                {"extra": ""}
            ):
                dep.marker = None  # the extra's condition, met on this platform
                out.append(dep)
    return out


def _check(reqs: list[str], pins: dict[str, tuple[Version, str | None]], lock: str) -> list[str]:
    problems = []
    todo = [Requirement(r) for r in reqs]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker and not req.marker.evaluate() and name not in pins:
            continue  # a platform-only dependency that this platform does not take
        if name not in pins:
            problems.append(f"{req} is required but not pinned in {lock}")
            continue
        version, marker = pins[name]
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{lock} pins {name}=={version}, outside {req}")
        if req.marker and marker is None:
            problems.append(f"{lock} pins {name} for every platform; pyproject says {req.marker}")
        todo.extend(_extra_requirements(req))
    return problems


def test_runtime_lock_satisfies_pyproject():
    problems = _check(_project()["dependencies"], _pins("runtime.txt"), "requirements/runtime.txt")
    assert not problems, "\n".join(problems) + f"\n{RELOCK}"


def test_dev_lock_satisfies_pyproject():
    project = _project()
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    problems = _check(reqs, _pins("dev.txt"), "requirements/dev.txt")
    assert not problems, "\n".join(problems) + f"\n{RELOCK}"


def test_dev_lock_runs_exactly_the_runtime_pins():
    runtime, dev = _pins("runtime.txt"), _pins("dev.txt")
    drift = [
        f"{name}: runtime {runtime[name][0]}, dev {dev.get(name, ('missing',))[0]}"
        for name in runtime
        if name not in dev or dev[name][0] != runtime[name][0]
    ]
    assert not drift, "\n".join(drift) + f"\n{RELOCK}"


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt"])
def test_lock_is_closed_under_installed_dependencies(lock):
    """Every dependency of a pinned package is pinned too (read from the installed metadata
    where the installed version is the pinned one), so `pip install --require-hashes` has
    everything it needs and nothing comes from outside the lock."""
    pins = _pins(lock)
    problems = []
    for name, (version, _marker) in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(dist.version) != version:
            continue
        for raw in dist.requires or []:
            dep = Requirement(raw)
            if dep.marker and not dep.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(dep.name) not in pins:
                problems.append(f"{name}=={version} needs {dep}, not pinned in {lock}")
    assert not problems, "\n".join(problems) + f"\n{RELOCK}"


def test_every_pin_has_hashes():
    for lock in ("runtime.txt", "dev.txt"):
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", text)
        for entry in entries:
            if PIN.match(entry.splitlines()[0]):
                assert "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]} has no hash"

