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
    // Estimates drift: show a range that widens with the wait.
    var hi = Math.ceil(eta * 1.3 + 2);
    return eta + "–" + hi + " " + t.minutes;
  }

  function render() {
    $("number").textContent = state.number;
    $("status").textContent = t[state.status] || state.status;
    var called = state.status === "called";
    $("go").hidden = !called;
    if (called) $("go").textContent = t.go_now.replace("{counter}", state.counter);
    $("facts").hidden = state.status !== "waiting";
    $("ahead").textContent = state.ahead === null || state.ahead === undefined ? "—" : state.ahead;
    $("eta").textContent = range(state.eta_minutes);
  }

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
  var rt = MotcuaRealtime.connect("/track", { token: cfg.token }, {
    snapshot: function (snap) {
      var was = state.status;
      myId = snap.ticket_id; state = snap.ticket; render();
      if (state.status === "called" && was !== "called") alertCalled();
    },
    event: function (type, data) {
      if (type === "queue.stats" && state.status === "waiting" && data.service === state.service &&
          data.order) {
        var i = data.order.indexOf(myId);
        if (i >= 0) { state.ahead = i; state.position = i + 1; state.eta_minutes = data.eta_minutes[i]; render(); }
      } else if (data.ticket_id === myId && type.indexOf("ticket.") === 0) {
        if (type === "ticket.transferred") { rt.resync(); return; }
        var was = state.status;
        state.status = data.status || (type === "ticket.called" ? "called" : state.status);
        if (data.counter !== undefined && data.counter !== null) state.counter = data.counter;
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
