/*
 * The citizen-facing tablet at a counter: idle until a ticket is finished at this counter
 * (live on the /counter namespace), then three large buttons; one tap posts the rating
 * (POST /api/v1/counters/{id}/rating), says thank you and goes back to idle.
 * Signed in as the counter's clerk it listens on /counter; opened as a kiosk device
 * (?token=...) it listens on /kiosk, where finished tickets carry the counter's number.
 */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var t = cfg.t;
  var me = cfg.counter;
  var IDLE_AFTER_THANKS_MS = 5000;
  var ASK_FOR_MS = 120000;
  var timer = null;
  var sending = false;
  var token = cfg.token;
  if (token && window.history && history.replaceState) {
    history.replaceState(null, "", location.pathname + "?lang=" + cfg.lang);  // hide the token
  }
  if (token) {
    // The language link must keep the device's token, which left the address bar.
    M.each(document.querySelectorAll("a.lang"), function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        location.href = location.pathname + "?lang=" + (cfg.lang === "vi" ? "en" : "vi") +
          "&token=" + encodeURIComponent(token);
      });
    });
  }
  var $ = M.$;

  function show(which) {
    ["idle", "ask", "thanks"].forEach(function (w) { $("rate-" + w).hidden = w !== which; });
    clearTimeout(timer);
    if (which === "thanks") timer = setTimeout(function () { show("idle"); }, IDLE_AFTER_THANKS_MS);
    if (which === "ask") timer = setTimeout(function () { show("idle"); }, ASK_FOR_MS);
  }

  function ask(number) {
    $("rate-question").textContent = t.rate_question.replace("{number}", number);
    $("rate-error").textContent = "";
    sending = false;
    document.querySelectorAll("[data-score]").forEach(function (b) { b.disabled = false; });
    show("ask");
  }

  document.querySelectorAll("[data-score]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (sending) return;
      sending = true;
      document.querySelectorAll("[data-score]").forEach(function (x) { x.disabled = true; });
      // The device's token (config.token) when opened as a kiosk device, else the session.
      M.api("POST", "/api/v1/counters/" + me.id + "/rating", { score: b.getAttribute("data-score") })
        .then(function () { show("thanks"); }, function (err) {
          if (err.status === 409) { show("thanks"); return; }  // already rated
          sending = false;
          document.querySelectorAll("[data-score]").forEach(function (x) { x.disabled = false; });
          $("rate-error").textContent = err.message || "…";
        });
    });
  });

  show("idle");
  if (!window.io || !window.MotcuaRealtime) return;
  var here = token
    ? function (data) { return data.counter === me.number; }      // public event data
    : function (data) { return data.counter_id === me.id; };
  MotcuaRealtime.connect(token ? "/kiosk" : "/counter", token ? { token: token } : { counter_id: me.id }, {
    snapshot: function () {},
    event: function (type, data) {
      if (type === "ticket.done" && data.status === "done" && here(data)) ask(data.number);
    },
    status: function (online) {
      $("rate-conn").textContent = online ? "" : t.reconnecting;
      document.body.setAttribute("data-online", online ? "1" : "0");
    },
  });
})();
