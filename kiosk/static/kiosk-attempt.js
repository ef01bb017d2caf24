/*
 * One citizen's attempt to take a ticket, whatever the link does.
 *
 * The Idempotency-Key belongs to the attempt (one service and one priority choice), not to one
 * request: every try and every re-tap of the same choice carries it, so however many requests
 * reach the server, one ticket is issued (and printed once). The kiosk forgets the attempt only
 * when its ticket is shown or the kiosk goes back to its start screen.
 *
 * Each try has its own timeout; a try that gets no answer (timeout, reset, refused) or a
 * 502/503/504 is tried again after a growing pause (0.5, 1, 2, 4, 5, 5… s; a 503's Retry-After
 * is honoured up to 5 s). The page is told at once when an answer is slow (SLOW_MS), so it can
 * say "connecting" within 2 s, and when the link looks down (HANG_MS without any answer), so its
 * offline note shows even before the realtime channel notices.
 *
 *   var a = MotcuaKioskAttempt.create({service: "land", priority: null});
 *   a.sameChoice({service: "land", priority: null})  -> true
 *   a.run(sendFn, {onSlow, onLinkDown, onLinkUp, giveUpMs}) -> Promise (ticket | error)
 *   a.retryNow()   try again at once (a citizen's re-tap) instead of waiting out the pause
 *   a.stop()       no more tries (the citizen left the screen); the key stays with the attempt
 *
 * sendFn(key, timeoutMs) -> Promise: one request (Motcua.api with opts.key and opts.timeoutMs).
 */
(function (global) {
  "use strict";

  var TRY_TIMEOUT_MS = 8000;   // one try: long enough for a slow link, short enough to retry
  var SLOW_MS = 1500;          // no answer yet: say "connecting" (well within 2 s of the tap)
  var HANG_MS = 3500;          // still no answer: the link is probably down, say so
  var GIVE_UP_MS = 120000;     // then an error screen with "try again" (same key)
  var PAUSES = [500, 1000, 2000, 4000, 5000];

  function retryable(err) {
    return !err || err.status === 0 || err.status === 502 || err.status === 503 ||
      err.status === 504;
  }

  function newKey() {
    return global.Motcua && global.Motcua.newKey ? global.Motcua.newKey()
      : "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function create(choice) {
    var attempt = {
      key: newKey(),
      service: choice.service,
      priority: choice.priority === undefined ? null : choice.priority,
      running: false,
    };
    var timer = null;        // the pause before the next try
    var wake = null;         // retryNow(): end the pause now
    var generation = 0;      // stop() makes the answers of earlier runs moot

    attempt.sameChoice = function (c) {
      return c.service === attempt.service &&
        (c.priority === undefined ? null : c.priority) === attempt.priority;
    };

    attempt.stop = function () {
      generation += 1;
      attempt.running = false;
      clearTimeout(timer);
      wake = null;
    };

    attempt.retryNow = function () {
      if (wake) { var w = wake; wake = null; clearTimeout(timer); w(); }
    };

    attempt.run = function (send, hooks) {
      hooks = hooks || {};
      attempt.stop();
      var mine = generation;
      var until = Date.now() + (hooks.giveUpMs || GIVE_UP_MS);
      var tries = 0;
      var slowTimer = null;
      var hangTimer = null;
      var slowSaid = false;
      var downSaid = false;
      attempt.running = true;

      function current() { return mine === generation; }

      function armWatch() {
        clearTimeout(slowTimer); clearTimeout(hangTimer);
        if (!slowSaid) {
          slowTimer = setTimeout(function () {
            if (current() && !slowSaid) { slowSaid = true; if (hooks.onSlow) hooks.onSlow(); }
          }, SLOW_MS);
        }
        if (!downSaid) {
          hangTimer = setTimeout(function () {
            if (current() && !downSaid) { downSaid = true; if (hooks.onLinkDown) hooks.onLinkDown(); }
          }, HANG_MS);
        }
      }

      function linkAnswered() {
        clearTimeout(hangTimer);
        if (downSaid) { downSaid = false; if (hooks.onLinkUp) hooks.onLinkUp(); }
      }

      return new Promise(function (resolve, reject) {
        function finish(ok, value) {
          clearTimeout(slowTimer); clearTimeout(hangTimer);
          if (!current()) return;
          attempt.running = false;
          if (ok) resolve(value); else reject(value);
        }
        (function again() {
          if (!current()) return;
          tries += 1;
          armWatch();
          send(attempt.key, TRY_TIMEOUT_MS).then(function (ticket) {
            if (!current()) return;
            linkAnswered();
            finish(true, ticket);
          }, function (err) {
            if (!current()) return;
            if (err && err.status) linkAnswered();  // the server answered: the link is up
            if (!retryable(err)) { finish(false, err); return; }
            // Not answered, or the server could not serve: same key, after a pause.
            if (!slowSaid) { slowSaid = true; if (hooks.onSlow) hooks.onSlow(); }
            if (!err.status && !downSaid) { downSaid = true; if (hooks.onLinkDown) hooks.onLinkDown(); }
            if (Date.now() >= until) { finish(false, err); return; }
            var after = parseFloat(err.retryAfter);
            var pause = after > 0 ? Math.min(after, 5) * 1000
              : PAUSES[Math.min(tries - 1, PAUSES.length - 1)];
            wake = again;
            timer = setTimeout(function () { wake = null; again(); }, pause);
          });
        })();
      });
    };

    return attempt;
  }

  global.MotcuaKioskAttempt = { create: create, TRY_TIMEOUT_MS: TRY_TIMEOUT_MS,
                                SLOW_MS: SLOW_MS, HANG_MS: HANG_MS };
})(window);
