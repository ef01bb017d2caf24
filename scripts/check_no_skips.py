"""Under CI: fail when a test that needs PostgreSQL, Redis or another installed service was
skipped, or when no such test ran at all (reads pytest's JUnit XML report)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    ran = skipped = 0
    for case in root.iter("testcase"):
        name = case.get("name", "")
        if case.find("skipped") is not None:
            skipped += 1
            print(f"skipped under CI: {case.get('classname')}::{name}")
        elif "postgres" in name or "redis" in name:
            ran += 1
    print(f"PostgreSQL/Redis tests: {ran} ran; tests skipped: {skipped}")
    return 1 if skipped or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/junit.xml"))
