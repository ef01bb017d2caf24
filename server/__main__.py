"""The ``motcua`` command (and ``python -m server``).

It imports the command line inside ``main`` so that an incomplete installation is answered with
one line naming the missing package and the fix, instead of a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from server.cli import main as cli_main  # loads every library the server uses
    except ModuleNotFoundError as exc:
        sys.stderr.write(
            f"Motcua cannot start: the Python package {exc.name!r} is not installed; reinstall "
            "from the lock: .venv/bin/pip install --require-hashes -r requirements/runtime.txt\n"
        )
        raise SystemExit(1) from None
    cli_main()


if __name__ == "__main__":
    main()
