"""Staffing policies and the wait estimate, over several simulated days (``motcua simulate``).

    .venv/bin/python tests/bench/bench_sim.py        # Hạc Thành: 230 tickets, 12 counters
    .venv/bin/python tests/bench/bench_sim.py --per-day 300 --counters 8 --seeds 1-5

Prints, per policy (fixed / routing / routing + advice), the mean over the seeds of the average
wait, the P90 wait and the service level, then the estimator's accuracy (the ETA given at issue
against the actual wait) beside the naive formula, per seed and on average. Sequential, one
process: a run takes a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.features import simulate


def seeds(spec: str) -> list[int]:
    if "-" in spec:
        a, b = spec.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in spec.split(",")]


def mean(xs: list[float | None]) -> float:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--site", default="HACTHANH")
    ap.add_argument("--per-day", type=int, default=230)
    ap.add_argument("--counters", type=int, default=12)
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--policies", default="fixed,routing,advice")
    args = ap.parse_args()
    runs: dict[str, list[simulate.SimResult]] = {}
    for policy in args.policies.split(","):
        for seed in seeds(args.seeds):
            r = simulate.run(args.site, args.per_day, None, args.counters, policy, seed)
            runs.setdefault(policy, []).append(r)
            print(f"  {policy:<8} seed {seed}: awt {r.summary['awt_min']} min, "
                  f"P90 {r.summary['p90_wait_min']} min, SL {r.summary['service_level']} "
                  f"({r.runtime_s:.1f} s)", file=sys.stderr, flush=True)

    n = len(seeds(args.seeds))
    print(f"\n{args.site}: {args.per_day} tickets/day, {args.counters} counters, "
          f"seeds {args.seeds} (mean of {n} days)\n")
    print("| policy | awt (min) | P90 wait (min) | service level |")
    print("|---|---|---|---|")
    names = {"fixed": "fixed counters", "routing": "routing", "advice": "routing + advice"}
    for policy, rs in runs.items():
        print(f"| {names.get(policy, policy)} | {mean([r.summary['awt_min'] for r in rs]):.2f} | "
              f"{mean([r.summary['p90_wait_min'] for r in rs]):.2f} | "
              f"{100 * mean([r.summary['service_level'] for r in rs]):.1f} % |")
    # the worst service's P90 (a mean over days hides which line suffers)
    print("\nWorst service P90 per policy (mean over days):")
    for policy, rs in runs.items():
        worst = [max((row["p90_min"] or 0.0) for row in r.by_service.values()) for r in rs]
        print(f"  {names.get(policy, policy)}: {mean(worst):.1f} min")

    print("\nWait estimate at issue vs actual wait (policy routing unless absent):")
    base = runs.get("routing") or next(iter(runs.values()))
    print("| seed | tickets | MAE | P90 abs err | naive MAE | naive P90 | MAE vs naive |"
          " naive(ahead) MAE | in range |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in base:
        e = r.eta
        gain = 1 - e["mae_min"] / e["naive_mae_min"] if e["naive_mae_min"] else float("nan")
        print(f"| {r.seed} | {e['n']} | {e['mae_min']} | {e['p90_abs_err_min']} | "
              f"{e['naive_mae_min']} | {e['naive_p90_abs_err_min']} | {-100 * gain:+.0f} % | "
              f"{e['naive_ahead_mae_min']} | {100 * (e['range_coverage'] or 0):.0f} % |")
    m = mean([r.eta["mae_min"] for r in base])
    nm = mean([r.eta["naive_mae_min"] for r in base])
    print(f"| mean | | {m:.2f} | {mean([r.eta['p90_abs_err_min'] for r in base]):.2f} | "
          f"{nm:.2f} | {mean([r.eta['naive_p90_abs_err_min'] for r in base]):.2f} | "
          f"{-100 * (1 - m / nm):+.0f} % | {mean([r.eta['naive_ahead_mae_min'] for r in base]):.2f}"
          f" | {100 * mean([r.eta['range_coverage'] for r in base]):.0f} % |")


if __name__ == "__main__":
    main()
