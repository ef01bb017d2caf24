"""Appointments in simulated days: are booked citizens called on time, and what do bookings
cost the walk-ins? (``motcua simulate --booked-share``)

    .venv/bin/python tests/bench/bench_appointments.py                 # both days, seeds 1-5
    .venv/bin/python tests/bench/bench_appointments.py --share 0.2 --seeds 1-3

Days: the Hạc Thành day (230 tickets, 12 counters: the demo's) and the busy day (300 tickets,
8 counters), as in ``bench_sim.py``. Each seed runs the day twice, with the same citizens: a
share of them booking ahead, and nobody booking. Prints a markdown table per day and seed: the
bookings, the booked citizens called within 10 min of their slot (the target is 90 %), how late
after the slot the P90 booked citizen was called, and the walk-ins' P90 wait beside the same
citizens' and everyone's P90 wait on the day without bookings. Sequential, one process: a
pair of days takes 10-20 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.features import simulate

DAYS = {"hacthanh": ("Hạc Thành", 230, 12), "busy": ("busy day", 300, 8)}
TARGET = 0.90


def seeds(spec: str) -> list[int]:
    if "-" in spec:
        a, b = spec.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in spec.split(",")]


def fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f} %" if pct else f"{x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--share", type=float, default=0.3)
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--days", default="hacthanh,busy")
    ap.add_argument("--policy", default="routing")
    ap.add_argument("--counters", type=int, default=None,
                    help="open counters on every day (default: the day's own)")
    ap.add_argument("--online-share", type=float, default=None,
                    help="every service's online share (default: the site's, else 0.5)")
    args = ap.parse_args()
    online = "the site's" if args.online_share is None else f"{args.online_share:.0%}"
    print(f"Booked share {args.share:.0%}, online share {online}, policy {args.policy}; "
          f"punctual: called at most 10 min after the slot's start. Waits in minutes.\n")
    print("| day | seed | bookings (no-show, cancelled) | appointments (late: walk-in) | "
          "called ≤ 10 min of slot (of those present by the slot) | P90 called after slot | "
          "walk-ins P90 with bookings | same citizens P90 without | everyone P90 without | "
          "walk-ins AWT with / without | booked ETA MAE (in range) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for day in args.days.split(","):
        name, per_day, counters = DAYS[day]
        if args.counters:
            name, counters = f"{name}, {args.counters} counters", args.counters
        punct, walk, same = [], [], []
        for seed in seeds(args.seeds):
            r = simulate.run(per_day=per_day, counters=counters, policy=args.policy,
                             seed_=seed, booked_share=args.share,
                             online_share=args.online_share)
            a = r.appointments
            assert a is not None
            punct.append(a["punctuality"])
            walk.append(a["walkin_p90_min"])
            same.append(a["without_same_p90_min"])
            print(f"| {name} | {seed} | {a['bookings']} ({a['no_shows']}, {a['cancelled']}) | "
                  f"{a['appointments']} ({a['late_walk_ins']}) | {fmt(a['punctuality'], True)} "
                  f"({fmt(a['punctuality_present_by_slot'], True)}) | "
                  f"{fmt(a['called_after_slot_p90_min'])} | {fmt(a['walkin_p90_min'])} | "
                  f"{fmt(a['without_same_p90_min'])} | {fmt(a['without_all_p90_min'])} | "
                  f"{fmt(a['walkin_awt_min'])} / {fmt(a['without_same_awt_min'])} | "
                  f"{fmt(a['appointments_eta_mae_min'])} "
                  f"({fmt(a['appointments_eta_in_range'], True)}) |",
                  flush=True)
        summary.append((name, punct, walk, same))
    print()
    for name, punct, walk, same in summary:
        ok = [p for p in punct if p is not None]
        mean_p = statistics.fmean(ok) if ok else float("nan")
        worst = min(ok) if ok else float("nan")
        verdict = "meets" if ok and worst >= TARGET else "misses"
        print(f"{name}: called within 10 min of the slot {100 * mean_p:.1f} % on average "
              f"(worst seed {100 * worst:.1f} %): {verdict} the {TARGET:.0%} target; walk-ins' "
              f"P90 {statistics.fmean(walk):.1f} min with bookings vs "
              f"{statistics.fmean(same):.1f} min for the same citizens without")


if __name__ == "__main__":
    main()
