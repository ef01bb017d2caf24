"""The advice for a site now: reads the last 30-60 minutes of tickets and the counters, then
asks the pure ``server.advice`` for needs and suggestions. Used by the API and the simulator.

The advice's words (a service's verdict, the summary, each suggestion) are the catalogs'
"advice" entries, put together here from the figures the pure rules give: every screen shows
these and never words a verdict of its own."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.core import auth
from server.core.auth import Principal
from server.core.catalogs import LANGS, catalogs
from server.core.lookups import get_site
from server.features.queues import attended_counters, service_minutes
from server.models import Counter, CounterService, Service, Site, Ticket
from server.rules import advice
from server.rules import eta as eta_mod
from server.rules.calendar import business_day
from server.rules.states import Status

WINDOW = dt.timedelta(minutes=60)
MIN_WINDOW = dt.timedelta(minutes=30)


def loads_and_counters(
    session: Session, site: Site, now: dt.datetime, window: dt.timedelta = WINDOW
) -> tuple[list[advice.ServiceLoad], list[advice.CounterState]]:
    """Arrival rate and mean service time per service over the window, waiting counts now,
    the site's counters with their profiles (this site's services only).

    The window is the last ``window`` minutes, shortened to the time since the first ticket of
    the day (but at least 30 minutes) so the first hour of the day is not diluted."""
    day = business_day(now, site.timezone)
    services = list(
        session.scalars(
            select(Service)
            .where(Service.site_id == site.id, Service.active.is_(True))
            .order_by(Service.sort_order, Service.id)
        )
    )
    ids = [s.id for s in services]
    first = session.scalar(
        select(func.min(Ticket.issued_at)).where(
            Ticket.site_id == site.id, Ticket.business_day == day
        )
    )
    span = window
    if first is not None and now - first < window:
        span = max(now - first, MIN_WINDOW)
    start = now - span
    span_min = span.total_seconds() / 60.0

    arrivals: dict[int, int] = defaultdict(int)
    for sid, n in session.execute(
        select(Ticket.service_id, func.count())
        .where(
            Ticket.service_id.in_(ids),
            Ticket.business_day == day,
            Ticket.issued_at >= start,
            Ticket.issued_at <= now,
            Ticket.channel != "transfer",
        )
        .group_by(Ticket.service_id)
    ):
        arrivals[sid] = int(n)
    waiting: dict[int, int] = defaultdict(int)
    for sid, n in session.execute(
        select(Ticket.service_id, func.count())
        .where(
            Ticket.service_id.in_(ids),
            Ticket.business_day == day,
            Ticket.status == Status.WAITING,
        )
        .group_by(Ticket.service_id)
    ):
        waiting[sid] = int(n)
    times = service_minutes(session, ids, day, start)

    loads = [
        advice.ServiceLoad(
            code=s.code,
            name_vi=s.name_vi,
            name_en=s.name_en,
            sla_min=float(s.sla_target_minutes),
            rate_per_min=arrivals[s.id] / span_min,
            service_min=eta_mod.mean_service_minutes(
                times.get(s.id, []), s.default_service_minutes
            ),
            waiting=waiting[s.id],
            window_min=span_min,
        )
        for s in services
    ]
    codes = {s.id: s.code for s in services}
    profiles: dict[int, dict[str, float]] = defaultdict(dict)
    for cid, sid, weight in session.execute(
        select(CounterService.counter_id, CounterService.service_id, CounterService.weight)
        .join(Counter, Counter.id == CounterService.counter_id)
        .where(Counter.site_id == site.id)
    ):
        if sid in codes:
            profiles[cid][codes[sid]] = float(weight)
    # lines for other sites' services (a counter serving a nearby site's queue): kept by moves
    foreign: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
    for cid, site_code, code, weight in session.execute(
        select(CounterService.counter_id, Site.code, Service.code, CounterService.weight)
        .join(Counter, Counter.id == CounterService.counter_id)
        .join(Service, Service.id == CounterService.service_id)
        .join(Site, Site.id == Service.site_id)
        .where(Counter.site_id == site.id, Service.site_id != site.id)
        .order_by(CounterService.counter_id, Site.code, Service.code)
    ):
        foreign[cid].append((site_code, code, float(weight)))
    rows = list(session.scalars(
        select(Counter).where(Counter.site_id == site.id).order_by(Counter.number)
    ))
    # An open counter with nobody at it gives no capacity, as in the wait estimate.
    attended = attended_counters(session, [c.id for c in rows], now, day)
    counters = [
        advice.CounterState(
            c.id, c.number,
            "unattended" if c.status == "open" and c.id not in attended else c.status,
            profiles.get(c.id, {}), tuple(foreign.get(c.id, ()))
        )
        for c in rows
    ]
    return loads, counters


def compute(
    session: Session, site: Site, now: dt.datetime, level: float = advice.DEFAULT_LEVEL
) -> advice.Advice:
    loads, counters = loads_and_counters(session, site, now)
    return advice.advise(loads, counters, level)


def site_advice(
    session: Session, p: Principal, site_code: str, now: dt.datetime
) -> dict[str, Any]:
    """``GET /sites/{site}/advice``: supervisors and admins of the site."""
    site = get_site(session, site_code)
    auth.require(auth.can_rebalance(session, p, site.id))
    loads, counters = loads_and_counters(session, site, now)
    result = worded(advice.advise(loads, counters))
    span = loads[0].window_min if loads else WINDOW.total_seconds() / 60
    return {
        "site": site.code,
        "at": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "window_minutes": round(span),
        **result,
    }


# --- the advice in words ----------------------------------------------------------------------


def _say(key: str, lang: str, **params: Any) -> str:
    return catalogs.say("advice", key, lang, **params)


def verdict(s: advice.ServiceAdvice, lang: str) -> str:
    """A service's state in words, with the figures behind it."""
    figures = {
        "name": s.name_vi if lang == "vi" else s.name_en,
        "within": advice.percent(s.service_level, lang),
        "target": advice.number(s.sla_min, lang),
        "needed": s.needed,
        "capacity": advice.number(s.capacity, lang),
        "p90": "–" if s.p90_min is None else advice.number(s.p90_min, lang),
    }
    return _say(f"verdict_{s.state}", lang, **figures)


def summary(a: advice.Advice, lang: str) -> str:
    """One line over the verdicts: which services miss the level, and whether a move or an
    opening is suggested. Never "enough counters" while one service misses it."""
    lacking = a.lacking()
    if not lacking:
        return _say("summary_ok", lang, level=advice.percent(a.level, lang))
    names = ", ".join((s.name_vi if lang == "vi" else s.name_en) for s in lacking)
    key = "summary_short_many" if len(lacking) > 1 else "summary_short_one"
    head = _say(key, lang, count=len(lacking), names=names)
    if a.suggestions:
        return head
    return f"{head} {_say('summary_no_move', lang)}"


def change(before: float | None, after: float | None, lang: str) -> str:
    """'38 → about 12 min', 'overloaded → about 12 min', 'overloaded → still overloaded'."""
    if before is None:
        b = _say("change_overloaded", lang)
    elif after is None:
        b = _say("change_minutes", lang, minutes=round(before))
    else:
        b = f"{round(before)}"
    if after is None:
        a = _say("change_still_overloaded", lang)
    else:
        a = _say("change_about", lang, minutes=round(after))
    return f"{b} → {a}"


def suggestion_text(x: advice.Suggestion, lang: str) -> str:
    """A move ("Counter 5 also serves Land first (Business kept, second): Land P90 wait
    38 → about 12 min") or an opening, in words."""
    moved = change(x.before_p90, x.after_p90, lang)
    service = x.to_name[lang]
    if x.kind == "open":
        return _say("open", lang, counter=x.counter_number, service=service, change=moved)
    moved = _say("move_change", lang, service=service, change=moved)
    if x.kept_names or x.keeps_other_sites:
        kept = (", ".join(n[lang] for n in x.kept_names) if x.kept_names
                else _say("kept_other_sites", lang))
        return _say("move_also", lang, counter=x.counter_number, service=service, kept=kept,
                    change=moved)
    return _say("move_only", lang, counter=x.counter_number, service=service, change=moved)


def worded(a: advice.Advice) -> dict[str, Any]:
    """The advice as the API returns it: the rules' figures with each verdict, suggestion and
    the summary in both languages."""
    out = a.as_dict()
    out["services"] = [
        {**d, "verdict": {lang: verdict(s, lang) for lang in LANGS}}
        for d, s in zip(out["services"], a.services, strict=True)
    ]
    suggestions = []
    for d, x in zip(out["suggestions"], a.suggestions, strict=True):
        action = d.pop("action")
        suggestions.append(
            {**d, "text": {lang: suggestion_text(x, lang) for lang in LANGS}, "action": action})
    out["suggestions"] = suggestions
    out["summary"] = {lang: summary(a, lang) for lang in LANGS}
    return out
