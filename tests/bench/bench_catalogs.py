"""What reading the wording from the gettext catalogs costs, against the old dict lookup.

    .venv/bin/python -m tests.bench.bench_catalogs [--n 20000]

Prints, measured in this one run: a cold load of both catalogs (parse the .po files), a page's
``texts(area)`` once loaded (the check that the files did not change, then a cached dict),
an error message, and the baseline: a module-level dict of the same texts (what the pages
read before the catalogs, ``STRINGS[lang]``). The machine is shared: read the ratios, not the
absolute figures."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from server.core.catalogs import Catalogs
from server.core.errors import AppError


def per_call(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    t0 = time.perf_counter()
    cats = Catalogs()
    cats.texts("kiosk")
    cold = time.perf_counter() - t0
    strings = {lang: dict(texts) for lang, texts in Catalogs().texts("kiosk").items()}
    base = per_call(lambda: strings["vi"], n)
    warm = per_call(lambda: cats.texts("kiosk")["vi"], n)
    err = per_call(lambda: AppError("not_found", what="ticket").message("vi"), n // 4)
    print(f"cold load of both catalogs: {cold * 1000:.1f} ms (once per process and per edit)")
    print(f"plain dict STRINGS['vi']:   {base * 1e6:.3f} µs")
    print(f"texts('kiosk')['vi']:       {warm * 1e6:.2f} µs ({warm / base:.0f}x the dict)")
    print(f"AppError(...).message('vi'): {err * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
