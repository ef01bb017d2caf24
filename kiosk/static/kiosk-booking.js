/* Motcua kiosk: "Tôi đã đặt lịch / I have an appointment". A citizen who booked a time
 * (the /book page) checks in here: the kiosk's scanner reads the booking's QR (it types the
 * booking link, /b/<token>, then Enter, like it types an ID card's QR), or the citizen scans the
 * ID card on this screen, or types the 6-character code on large keys. The answer of
 * POST /api/v1/sites/{site}/check-ins is a ticket (shown like any ticket, with its placement),
 * a walk-in ticket when late (the reason said plainly), or "come back from HH:MM" when early.
 *
 * kiosk.js calls MotcuaKioskBooking.init(hooks) with {show(name), current(), showTicket(ticket),
 * showWhy(text), site(), lang(), t(key), parseCccd(text)}; then open() (the tile), scan(text)
 * (every scanned line; true when it was the booking's), note(ticket) (the ticket screen's line)
 * and reset() (a new citizen). One Idempotency-Key per check-in attempt (kiosk-attempt.js). */
(function () {
  "use strict";

  var M = window.Motcua;
  // The characters a booking code is made of (server/rules/appointments.py CODE_ALPHABET, in
  // the page's config block): no 0/O, 1/I.
  var ALPHABET = M.config().code_alphabet || "";
  var LENGTH = 6;
  var LINK = /\/b\/([A-Za-z0-9_-]{8,64})\/?(?:[?#].*)?$/;
  var h = null;        // kiosk.js hooks
  var code = "";
  var attempt = null;  // {what, key-holder}

  function $(id) { return document.getElementById(id); }

  function render() {
    var out = $("appt-code");
    out.textContent = "";
    for (var i = 0; i < LENGTH; i++) {
      out.appendChild(M.el("span", "appt-cell" + (i < code.length ? " filled" : ""),
                           code.charAt(i) || "\u00a0"));
    }
    $("appt-submit").disabled = code.length !== LENGTH || !!attempt;
  }

  function say(text) {
    $("appt-error").textContent = text || "";
    $("appt-error").hidden = !text;
  }

  function keys() {
    var box = $("appt-keys");
    if (box.childNodes.length) return;
    var order = "23456789" + ALPHABET.replace(/[2-9]/g, "");
    order.split("").forEach(function (c) {
      var b = M.el("button", { type: "button", "class": "appt-key", "data-key": c, text: c });
      b.addEventListener("click", function () {
        if (code.length < LENGTH) code += c;
        say(""); render();
      });
      box.appendChild(b);
    });
    [["appt_del", "del"], ["appt_clear", "clear"]].forEach(function (k) {
      var b = M.el("button", { type: "button", "class": "appt-key appt-small", "data-key": k[1],
                               "data-t": k[0], text: h.t(k[0]) });
      b.addEventListener("click", function () {
        code = k[1] === "del" ? code.slice(0, -1) : "";
        say(""); render();
      });
      box.appendChild(b);
    });
  }

  function open() {
    reset();
    keys();
    render();
    h.show("appt");
  }

  function reset() {
    if (attempt && attempt.run) attempt.run.stop();
    attempt = null;
    code = "";
    if (h && $("appt-code")) { say(""); render(); }
  }

  function checkIn(what) {
    // what: {code} | {token} | {id_number}
    if (attempt) return;
    var site = h.site();
    if (!site) return;
    if (h.current() !== "appt") { keys(); h.show("appt"); }
    var run = MotcuaKioskAttempt.create({ service: "check-in:" + JSON.stringify(what), priority: null });
    attempt = { run: run };
    render();
    say(h.t("appt_checking"));
    var body = { lang: h.lang() };
    for (var k in what) if (Object.prototype.hasOwnProperty.call(what, k)) body[k] = what[k];
    var path = "/api/v1/sites/" + encodeURIComponent(site.code) + "/check-ins";
    run.run(function (key, timeoutMs) {
      return M.api("POST", path, body, { key: key, timeoutMs: timeoutMs });
    }, {
      onSlow: function () { say(h.t("connecting")); },
    }).then(function (answer) {
      if (!attempt || attempt.run !== run) return;
      attempt = null; code = "";
      var ticket = answer && answer.ticket ? answer.ticket : answer;
      h.showTicket(ticket);
    }, function (err) {
      if (!attempt || attempt.run !== run) return;
      attempt = null;
      render();
      var e = err.data && err.data.error;
      if (err.code === "too_early") {
        var at = e && (e.come_back_at || (e.details && e.details.come_back_at));
        var site2 = h.site();
        var text = at ? M.fmt(h.t("appt_early"), {
          time: M.localTime(at, { timeZone: site2 && site2.timezone }) }) : err.message;
        h.showWhy(text || h.t("error_retry"));
        return;
      }
      say(err.status && err.status < 500 ? (err.message || h.t("error_retry")) : h.t("error_retry"));
    });
  }

  $("appt-submit").addEventListener("click", function () {
    if (code.length !== LENGTH) { say(h.t("appt_code_short")); return; }
    checkIn({ code: code });
  });

  /** A line from the scanner: the booking's link (anywhere on the kiosk) or, on this screen,
   *  an ID card. True when this module took it. */
  function scan(text) {
    var m = LINK.exec(String(text).trim());
    if (m) { checkIn({ token: m[1] }); return true; }
    if (h.current() === "appt") {
      var card = h.parseCccd(text);
      if (card) { checkIn({ id_number: card.id_number }); return true; }
    }
    return false;
  }

  /** The ticket screen's line about the booking: where it was placed, or why it is a walk-in. */
  function note(ticket) {
    var site = h.site();
    var tz = site && site.timezone;
    if (ticket.late) return h.t("appt_late");
    if (!ticket.appointment) return "";
    var parts = [];
    var slot = ticket.slot_start || ticket.placed_at;
    if (slot) parts.push(M.fmt(h.t("appt_placed"), { slot: M.localTime(slot, { timeZone: tz }) }));
    if (ticket.eta_minutes !== null && ticket.eta_minutes !== undefined) {
      var at = new Date(Date.now() + ticket.eta_minutes * 60000).toISOString();
      parts.push(M.fmt(h.t("appt_called_about"), { time: M.localTime(at, { timeZone: tz }) }));
    }
    return parts.join(" ");
  }

  function init(hooks) {
    h = hooks;
    $("appt-back").addEventListener("click", function () { reset(); hooks.home(); });
  }

  window.MotcuaKioskBooking = { init: init, open: open, scan: scan, note: note, reset: reset,
                                ALPHABET: ALPHABET };
})();
