/* The citizen's tracking page: live place in line, estimated wait, "go to counter N". */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var t = cfg.strings[cfg.lang];
  var state = cfg.state;
  var myId = null;
  var $ = M.$;

  // Estimates drift: the server sends the range to show ([low, high] minutes, see
  // server/queue/eta.py estimate_range), in the ticket view and with each place in line.
  function range(eta, r) {
    if (eta === null || eta === undefined) return t.no_eta;
    if (eta === 0) return t.soon;
    var n = function (x) { return M.num(x, cfg.lang, 0); };
    if (!r) return n(eta) + " " + t.minutes;  // a server without ranges: the estimate itself
    return n(r[0]) + "–" + n(r[1]) + " " + t.minutes;
  }

  // "Now serving": this service's numbers at a counter now, as the server read them.
  function serving() {
    var list = state.now_serving || [];
    if (!list.length) return t.nobody_serving;
    return list.map(function (s) {
      return s.number + " (" + t.at_counter.replace("{counter}", s.counter) + ")";
    }).join(", ");
  }

  function render() {
    $("number").textContent = state.number;
    $("status").textContent = t[state.status] || state.status;
    var called = state.status === "called";
    $("status").hidden = called;  // the box below says it, with the counter
    $("go").hidden = !called;
    if (called) {
      var at = state.counter_site_name;  // a counter of another site (extra reception point)
      $("go").textContent = at
        ? t.go_now_at.replace("{counter}", state.counter).replace("{site}", at[cfg.lang] || at.vi)
        : t.go_now.replace("{counter}", state.counter);
    }
    $("facts").hidden = state.status !== "waiting";
    $("serving").hidden = state.status !== "waiting";
    $("serving-list").textContent = serving();
    if (state.site_name) $("site").textContent = state.site_name[cfg.lang] || state.site_name.vi;
    $("ahead").textContent = state.ahead === null || state.ahead === undefined ? "—" : state.ahead;
    $("eta").textContent = range(state.eta_minutes, state.eta_range);
    $("rate").hidden = state.status !== "done" || rated;
    $("rate-thanks").hidden = !rated;
  }

  // After Finish: one rating per visit (POST /api/v1/track/{token}/rating), then thanks.
  var rated = false;
  var rateKey = "motcua-rated-" + cfg.track_token;
  try { rated = window.localStorage.getItem(rateKey) === "1"; } catch (e) { /* private mode */ }
  function rate(score, buttons) {
    buttons.forEach(function (b) { b.disabled = true; });
    function thanks() {
      rated = true;
      try { window.localStorage.setItem(rateKey, "1"); } catch (e) { /* private mode */ }
      $("rate-error").textContent = "";
      render();
    }
    M.api("POST", "/api/v1/track/" + encodeURIComponent(cfg.track_token) + "/rating", { score: score })
      .then(thanks, function (err) {
        if (err.code === "already_rated") { thanks(); return; }
        buttons.forEach(function (b) { b.disabled = false; });
        $("rate-error").textContent = err.message || t.rate_failed;
      });
  }
  var rateButtons = Array.prototype.slice.call(document.querySelectorAll("#rate [data-score]"));
  rateButtons.forEach(function (b) {
    b.addEventListener("click", function () { rate(b.getAttribute("data-score"), rateButtons); });
    b.disabled = false;  // rendered disabled: a tap before this script came would be lost
  });

  function alertCalled() {
    if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 800]);
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var o = ctx.createOscillator(); var g = ctx.createGain();
      o.frequency.value = 880; o.connect(g); g.connect(ctx.destination);
      g.gain.setValueAtTime(0.3, ctx.currentTime); o.start(); o.stop(ctx.currentTime + 0.6);
    } catch (e) { /* sound needs a user gesture on some phones: the screen says it anyway */ }
  }

  render();
  if (!window.io || !window.MotcuaRealtime) return;
  var statsSeq = 0, ticketSeq = 0;
  var servingTimer = null, SERVING_EVERY = 5000;
  var rt = MotcuaRealtime.connect("/track", { token: cfg.track_token }, {
    snapshot: function (snap) {
      var was = state.status;
      statsSeq = ticketSeq = snap.seq;
      myId = snap.ticket_id; state = snap.ticket; render();
      if (state.status === "called" && was !== "called") alertCalled();
    },
    event: function (type, data, seq) {
      // Events may arrive overtaken (see realtime.js, sparse): keep the newest of each kind.
      if (type === "queue.stats") {
        if (seq <= statsSeq) return;
        statsSeq = seq;
      } else if (data.ticket_id === myId) {
        if (seq <= ticketSeq) return;
        ticketSeq = seq;
      }
      if (type === "queue.stats" && state.status === "waiting" && data.service === state.service &&
          data.order) {
        var i = data.order.indexOf(myId);
        if (i >= 0) {
          state.ahead = i; state.position = i + 1; state.eta_minutes = data.eta_minutes[i];
          state.eta_range = data.eta_ranges ? data.eta_ranges[i] : null;
          render();
        }
        // A call moved the line: the numbers now served come with a fresh snapshot, asked
        // for at most every SERVING_EVERY ms (a thin link, many phones).
        if (!servingTimer) {
          servingTimer = setTimeout(function () { servingTimer = null; rt.resync(); },
                                    SERVING_EVERY);
        }
      } else if (data.ticket_id === myId && type.indexOf("ticket.") === 0) {
        if (type === "ticket.transferred") { rt.resync(); return; }
        var was = state.status;
        state.status = data.status || (type === "ticket.called" ? "called" : state.status);
        if (data.counter !== undefined && data.counter !== null) {
          state.counter = data.counter;
          state.counter_site_name = data.counter_site_name || null;
        }
        render();
        if ((type === "ticket.called" || type === "ticket.recalled") && (was !== "called" || type === "ticket.recalled")) alertCalled();
      }
    },
    status: function (online) {
      $("live").textContent = online ? t.live : t.offline;
      $("live").classList.toggle("off", !online);
    },
  }, { sparse: true });  // only this ticket's and this service's events reach the page
})();
