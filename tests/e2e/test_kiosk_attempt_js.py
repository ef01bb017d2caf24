"""The kiosk's attempt (kiosk/static/kiosk-attempt.js) on its own, in Chromium: one key for every
try of one citizen's choice, retries only where the server did not refuse, "slow" and "link
down" said early, a re-tap that tries at once, and a stop that ends the tries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "kiosk/static/kiosk-attempt.js").read_text()

pytestmark = pytest.mark.slow

# A scripted send(): answers[i] is what try i gets ("lost": no answer, a number: that HTTP status,
# "ok": a ticket); every try's key and time are recorded.
RUN = """async ([answers, retryNowAfterMs]) => {
  const log = {keys: [], times: [], hooks: []};
  const t0 = Date.now();
  const a = MotcuaKioskAttempt.create({service: "land", priority: null});
  const send = (key, timeoutMs) => {
    log.keys.push(key); log.times.push(Date.now() - t0);
    const answer = answers[Math.min(log.keys.length - 1, answers.length - 1)];
    if (answer === "ok") return Promise.resolve({number: "A001"});
    const err = new Error("x");
    err.status = answer === "lost" ? 0 : answer;
    return Promise.reject(err);
  };
  if (retryNowAfterMs) setTimeout(() => a.retryNow(), retryNowAfterMs);
  const hooks = {
    onSlow: () => log.hooks.push("slow"),
    onLinkDown: () => log.hooks.push("down"),
    onLinkUp: () => log.hooks.push("up"),
  };
  try {
    log.ticket = await a.run(send, hooks);
  } catch (e) {
    log.error = e.status;
  }
  log.same = a.sameChoice({service: "land", priority: null});
  log.other = a.sameChoice({service: "land", priority: "elderly"});
  return log;
}"""


@pytest.fixture
def attempt_page(page: Any) -> Any:
    page.set_content("<!doctype html><html lang=vi><title>t</title><body></body></html>")
    page.add_script_tag(content=SCRIPT)
    return page


def test_lost_answers_are_tried_again_with_the_same_key(attempt_page: Any) -> None:
    log = attempt_page.evaluate(RUN, [["lost", 503, "lost", "ok"], 0])
    assert log["ticket"] == {"number": "A001"}
    assert len(log["keys"]) == 4 and len(set(log["keys"])) == 1
    # The pauses grow: 0.5 s, 1 s, 2 s between the tries.
    gaps = [b - a for a, b in zip(log["times"], log["times"][1:], strict=False)]
    assert gaps[0] >= 450 and gaps[1] >= 950 and gaps[2] >= 1950, gaps
    assert log["hooks"][:2] == ["slow", "down"] and "up" in log["hooks"]
    assert log["same"] is True and log["other"] is False


def test_a_refusal_is_not_tried_again(attempt_page: Any) -> None:
    log = attempt_page.evaluate(RUN, [[409], 0])
    assert log["error"] == 409
    assert len(log["keys"]) == 1


def test_a_re_tap_tries_at_once(attempt_page: Any) -> None:
    # Without the re-tap the fourth try would come after 0.5 + 1 + 2 s.
    log = attempt_page.evaluate(RUN, [["lost", "lost", "lost", "ok"], 1700])
    assert log["ticket"] == {"number": "A001"}
    assert log["times"][3] < 3000, log["times"]
    assert len(set(log["keys"])) == 1


def test_stop_ends_the_tries_and_keeps_the_key(attempt_page: Any) -> None:
    result = attempt_page.evaluate("""async () => {
      const a = MotcuaKioskAttempt.create({service: "civil", priority: null});
      const keys = [];
      let settled = false;
      a.run((key) => { keys.push(key); const e = new Error("x"); e.status = 0;
                       return Promise.reject(e); }, {})
        .then(() => { settled = true; }, () => { settled = true; });
      await new Promise((r) => setTimeout(r, 700));
      a.stop();
      const n = keys.length;
      await new Promise((r) => setTimeout(r, 2500));
      return {before: n, after: keys.length, settled, key: a.key, first: keys[0]};
    }""")
    assert result["before"] == result["after"] >= 1
    assert result["settled"] is False  # a stopped attempt answers nobody
    assert result["key"] == result["first"]
