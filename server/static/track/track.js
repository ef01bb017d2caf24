/* The citizen's tracking page: live place in line, estimated wait, "go to counter N". */
(function () {
  "use strict";
  var cfg = window.MOTCUA_TRACK;
  var t = cfg.strings[cfg.lang];
  var state = cfg.state;
  var myId = null;
  function $(id) { return document.getElementById(id); }

  function range(eta) {
    if (eta === null || eta === undefined) return t.no_eta;
    if (eta === 0) return t.soon;
    // Estimates drift: show a range that widens with the wait. The same range as
    // server/queue/eta.py estimate_range (it held 79-94 % of actual waits in simulated days).
    var lo = Math.floor(eta * 0.7);
    var hi = Math.max(Math.ceil(eta * 1.4 + 2), lo + 1);
    return lo + "–" + hi + " " + t.minutes;
  }

  function render() {
    $("number").textContent = state.number;
    $("status").textContent = t[state.status] || state.status;
    var called = state.status === "called";
    $("go").hidden = !called;
    if (called) {
      var at = state.counter_site_name;  // a counter of another site (extra reception point)
      $("go").textContent = at
        ? t.go_now_at.replace("{counter}", state.counter).replace("{site}", at[cfg.lang] || at.vi)
        : t.go_now.replace("{counter}", state.counter);
    }
    $("facts").hidden = state.status !== "waiting";
    $("ahead").textContent = state.ahead === null || state.ahead === undefined ? "—" : state.ahead;
    $("eta").textContent = range(state.eta_minutes);
    $("rate").hidden = state.status !== "done" || rated;
    $("rate-thanks").hidden = !rated;
  }

  // After Finish: one rating per visit (POST /api/v1/track/{token}/rating), then thanks.
  var rated = false;
  var rateKey = "motcua-rated-" + cfg.token;
  try { rated = window.localStorage.getItem(rateKey) === "1"; } catch (e) { /* private mode */ }
  function rate(score, buttons) {
    buttons.forEach(function (b) { b.disabled = true; });
    fetch("/api/v1/track/" + encodeURIComponent(cfg.token) + "/rating?lang=" + cfg.lang, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ score: score }),
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (d) { return { status: r.status, ok: r.ok, data: d }; });
    }, function () { return { status: 0, ok: false, data: null }; }).then(function (res) {
      if (res.ok || (res.data && res.data.error && res.data.error.code === "already_rated")) {
        rated = true;
        try { window.localStorage.setItem(rateKey, "1"); } catch (e) { /* private mode */ }
        $("rate-error").textContent = "";
        render();
        return;
      }
      buttons.forEach(function (b) { b.disabled = false; });
      $("rate-error").textContent = res.data && res.data.error ? res.data.error.message : t.rate_failed;
    });
  }
  var rateButtons = Array.prototype.slice.call(document.querySelectorAll("#rate [data-score]"));
  rateButtons.forEach(function (b) {
    b.addEventListener("click", function () { rate(b.getAttribute("data-score"), rateButtons); });
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
  var rt = MotcuaRealtime.connect("/track", { token: cfg.token }, {
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
        if (i >= 0) { state.ahead = i; state.position = i + 1; state.eta_minutes = data.eta_minutes[i]; render(); }
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
