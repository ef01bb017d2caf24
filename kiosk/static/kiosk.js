/* Motcua kiosk: choose a service, say if you are a priority case, get a ticket. */
(function () {
  "use strict";

  var M = window.Motcua;
  var cfg = M.config();
  var token = M.deviceToken("kiosk");  // ?token= is kept: a reboot returns to the same kiosk
  var START_LANG = cfg.lang || "vi";  // every new citizen starts here (Vietnamese by default)
  var lang = START_LANG;
  var IDLE_MS = 45000;          // no touch for this long: ask "do you need more time?"
  var TICKET_IDLE_MS = 30000;   // the ticket screen asks sooner: the next citizen is waiting
  var WARN_S = 25;              // the question gives this many seconds to answer (at least 20)

  var state = {
    site: null,
    services: [],
    priorities: [],
    chosen: null,
    attempt: null,      // the citizen's attempt (kiosk-attempt.js): one key until a ticket shows
    procedures: {},     // service code -> [{vi, en}] examples from the catalog
    applicant: null,
    idleTimer: null,
    lastTicket: null,
  };

  var $ = M.$;
  var t = M.translator(cfg.strings, function () { return lang; });
  M.setup({ lang: lang, token: token });

  // --- screens ------------------------------------------------------------------------------
  var SCREENS = ["home", "priority", "busy", "ticket", "why", "error", "appt"];

  function current() {
    for (var i = 0; i < SCREENS.length; i++) if (!$("screen-" + SCREENS[i]).hidden) return SCREENS[i];
    return null;
  }

  function show(name) {
    SCREENS.forEach(function (s) { $("screen-" + s).hidden = s !== name; });
    armIdle();
  }

  // --- idle: a question first, then back to the start for the next citizen ----------------
  function fresh() {
    // The start screen as a new citizen finds it: nothing to ask about.
    return current() === "home" && lang === START_LANG && !state.large && !state.applicant;
  }

  function armIdle() {
    clearTimeout(state.idleTimer);
    if (!$("idle").hidden) return;
    // A ticket being taken is not idle: the attempt ends on its own (ticket or error screen).
    if (fresh() || current() === "busy") return;
    state.idleTimer = setTimeout(warnIdle, current() === "ticket" ? TICKET_IDLE_MS : IDLE_MS);
  }

  function warnIdle() {
    var left = WARN_S;
    $("idle-count").textContent = left;
    $("idle").hidden = false;
    $("idle-continue").focus();
    clearInterval(state.warnTimer);
    state.warnTimer = setInterval(function () {
      left -= 1;
      $("idle-count").textContent = Math.max(left, 0);
      if (left <= 0) { closeIdle(); goHome(); }
    }, 1000);
  }

  function closeIdle() {
    clearInterval(state.warnTimer);
    $("idle").hidden = true;
  }

  function goHome() {
    // A new citizen: no choice, no attempt, no ID card, the start language, the usual text.
    closeIdle();
    if (state.attempt) state.attempt.stop();
    state.attempt = null;
    state.chosen = null;
    state.slip = null;
    state.applicant = null;
    state.contact = null;  // the phone number typed for messages
    $("scan-note").hidden = true;
    if (window.MotcuaKioskBooking) MotcuaKioskBooking.reset();
    setLarge(false);
    if (lang !== START_LANG) { lang = START_LANG; applyLang(); }
    renderServices();
    show("home");
    refreshServices();  // the ticket just issued may have reached a daily cap
  }

  function setLarge(on) {
    state.large = on;
    document.documentElement.classList.toggle("large", on);
    $("large").setAttribute("aria-pressed", on ? "true" : "false");
  }

  function applyLang() {
    document.documentElement.lang = lang;
    M.setup({ lang: lang });
    M.each(document.querySelectorAll("[data-t]"), function (el) { el.textContent = t(el.dataset.t); });
    $("lang").textContent = t("switch_lang");
    $("lang").setAttribute("aria-label", t("switch_lang_name"));
    $("conn").textContent = t("offline");
    if (state.site) $("site-name").textContent = state.site.name[lang] || state.site.name.vi;
    renderServices();
    renderPriorities();
    if (state.lastTicket && !$("screen-ticket").hidden) renderTicket(state.lastTicket);
  }

  function etaText(minutes) {
    if (minutes === null || minutes === undefined) return t("no_eta");
    if (minutes === 0) return t("soon");
    return t("eta") + " " + M.num(minutes, lang, 0) + " " + t("minutes");
  }

  // Icons of the usual fields (simple line drawings); any other field gets the document.
  var ICONS = {
    land: "M4 36 L24 27 L44 36 L24 45 Z M24 27 V5 M24 5 L38 10 L24 15",
    civil: "M17 14 a6 6 0 1 0 0.1 0 M31 14 a6 6 0 1 0 0.1 0 M7 42 c0-10 5-16 10-16 s10 6 10 16 M23 42 c0-10 4-16 8-16 s10 6 10 16",
    business: "M6 20 L10 8 H38 L42 20 Z M9 20 V42 H39 V20 M20 42 V30 H28 V42",
    construction: "M8 42 H40 M14 42 V18 H34 V42 M14 26 H34 M14 34 H34 M24 18 V8 L34 8",
    justice: "M24 6 V42 M14 42 H34 M8 14 H40 M8 14 L4 28 H12 Z M40 14 L36 28 H44 Z",
    investment: "M6 42 H42 M10 42 V30 M20 42 V22 M30 42 V26 M40 42 V12 M8 24 L20 14 L30 18 L42 6",
    transport: "M8 30 L12 18 H36 L40 30 V38 H8 Z M14 38 v4 M34 38 v4 M14 30 a2 2 0 1 0 .1 0 M34 30 a2 2 0 1 0 .1 0",
    other: "M12 6 H30 L38 14 V42 H12 Z M30 6 V14 H38 M17 22 H33 M17 29 H33 M17 36 H28",
  };

  function icon(code) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 48 48");
    svg.setAttribute("class", "svc-icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[code] || ICONS.other);
    svg.appendChild(path);
    return svg;
  }

  function span(cls, text, l) {
    var e = document.createElement("span");
    e.className = cls;
    e.textContent = text;
    if (l) e.setAttribute("lang", l);
    return e;
  }

  function renderServices() {
    var box = $("services");
    box.textContent = "";
    state.services.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "svc";
      b.dataset.code = s.code;
      // Not offered now (paused, cap, last-ticket time, hours, holiday): shown apart, readable,
      // and a touch explains what to do instead of issuing.
      var paused = s.active === false;
      var off = paused || (s.available === false && s.reason);
      if (off) { b.classList.add("off"); b.setAttribute("aria-disabled", "true"); }
      if (s.display_colour && !off) b.style.borderLeftColor = s.display_colour;
      var text = document.createElement("span");
      text.className = "svc-text";
      text.appendChild(span("svc-name", s.name[lang] || s.name.vi));
      var otherLang = lang === "vi" ? "en" : "vi";
      text.appendChild(span("svc-en", s.name[otherLang] || "", otherLang));
      if (off) {
        text.appendChild(span("svc-why", paused ? t("why_service_paused")
                                                : t("why_" + s.reason.code)));
      } else {
        var eta = s.eta_new !== undefined ? s.eta_new : s.eta_minutes;
        text.appendChild(span("svc-meta", t("waiting") + ": " + s.waiting + " " + t("people") +
                                           " · " + etaText(eta)));
        var examples = (state.procedures[s.code] || []).slice(0, 2);
        if (examples.length) {
          var ul = document.createElement("ul");
          ul.className = "svc-examples";
          examples.forEach(function (p) {
            var li = document.createElement("li");
            li.textContent = p[lang] || p.vi;
            ul.appendChild(li);
          });
          text.appendChild(ul);
        }
      }
      b.appendChild(icon(s.code));
      b.appendChild(text);
      b.addEventListener("click", function () {
        if (paused) showWhy(t("why_service_paused_long"));
        else if (off) showWhy(s.reason.message[lang] || s.reason.message.vi);
        else chooseService(s);
      });
      box.appendChild(b);
    });
  }

  function showWhy(text) {
    $("why-text").textContent = text;
    show("why");
  }

  function refreshServices() {
    // Availability changes with the clock (last-ticket time, closing) and with other kiosks'
    // tickets (the cap): read it again now and then, and after a refusal.
    if (!state.site) return;
    if (window.MotcuaKioskPhone) window.MotcuaKioskPhone.prefetch(state.site.code);
    M.api("GET", "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/services")
      .then(function (rows) {
        state.services = rows;
        if (!$("screen-home").hidden) renderServices();
      })
      .catch(function () { /* the next round or the socket's snapshot will do */ });
  }

  function loadProcedures() {
    // Two procedures of each field from the province's catalog: what one comes to do.
    if (!state.site) return;
    M.api("GET", "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/procedures")
      .then(function (rows) {
        var by = {};
        (rows || []).forEach(function (p) {
          (by[p.service] = by[p.service] || []).push(p.name || {});
        });
        state.procedures = by;
        if (!$("screen-home").hidden) renderServices();
      })
      .catch(function () { /* tiles without examples still work */ });
  }

  function renderPriorities() {
    var box = $("priorities");
    box.textContent = "";
    state.priorities.forEach(function (p) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = p.name[lang] || p.name.vi;
      b.dataset.code = p.code;
      b.addEventListener("click", function () { issue(p.code); });
      box.appendChild(b);
    });
  }

  function chooseService(s) {
    if (state.chosen && state.chosen.code !== s.code) dropAttempt();
    state.chosen = s;
    if (state.priorities.length) { renderPriorities(); show("priority"); } else { issue(null); }
  }

  function dropAttempt() {
    if (state.attempt) state.attempt.stop();
    state.attempt = null;
  }

  // --- the link as the requests see it (the realtime channel has its own view) --------------
  var link = { socket: true, requests: true };
  function showLink() { $("conn").hidden = link.socket && link.requests; }

  function setBusy(slow) {
    $("busy-text").textContent = slow ? t("connecting") : t("issuing");
    $("busy-text").dataset.t = slow ? "connecting" : "issuing";
    $("busy-note").hidden = !slow;
    $("busy-actions").hidden = !slow;
  }

  function issue(priority) {
    if (!state.chosen || current() === "busy" || $("screen-phone")) return;
    // The optional phone step (kiosk-phone.js): {phone, phone_consent} or null; walked away: home.
    var step = window.MotcuaKioskPhone ? window.MotcuaKioskPhone.ask(state.site.code, lang) : null;
    if (!step) { send(priority, null); return; }
    step.then(function (contact) { send(priority, contact); }, goHome);
  }

  function send(priority, contact) {
    if (!state.chosen) return;  // the kiosk went home meanwhile
    state.contact = contact;
    var choice = { service: state.chosen.code, priority: priority };
    // The same choice again (a re-tap after a lost answer) is the same attempt, the same key.
    if (!state.attempt || !state.attempt.sameChoice(choice)) {
      dropAttempt();
      state.attempt = MotcuaKioskAttempt.create(choice);
    }
    var attempt = state.attempt;
    var body = { service: choice.service, priority: priority, lang: lang };
    if (state.applicant) body.applicant = state.applicant;
    if (contact) { body.phone = contact.phone; body.phone_consent = contact.phone_consent; }
    setBusy(false);
    show("busy");
    var path = "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/tickets";
    attempt.run(function (key, timeoutMs) {
      return M.api("POST", path, body, { key: key, timeoutMs: timeoutMs });
    }, {
      onSlow: function () { if (current() === "busy") setBusy(true); },
      onLinkDown: function () { link.requests = false; showLink(); },
      onLinkUp: function () { link.requests = true; showLink(); },
    }).then(function (ticket) {
      link.requests = true; showLink();
      if (state.attempt !== attempt) return;
      state.attempt = null;  // shown: the next choice is a new attempt
      state.lastTicket = ticket; state.slip = null;
      renderTicket(ticket); show("ticket"); speak(ticket);
    }, function (err) {
      if (state.attempt !== attempt) return;
      if (err.status === 409) refreshServices();
      // A refusal ends the attempt; no answer keeps it (same key) for "try again".
      var refused = err.status && err.status < 500;
      if (refused) state.attempt = null;
      $("error-text").textContent = (refused && err.message) || t("error_retry");
      $("error-retry").hidden = !!refused;
      show("error");
    });
  }

  function retryAttempt() {
    // "Try again" after the kiosk gave up waiting: the same attempt, the same key.
    if (!state.attempt || !state.chosen) { goHome(); return; }
    send(state.attempt.priority, state.contact);
  }

  function busyBack() {
    // Back to the question, the attempt kept: the same choice again reuses its key.
    if (state.attempt) state.attempt.stop();
    link.requests = true; showLink();
    if (state.chosen && state.priorities.length) show("priority"); else goHome();
  }

  function renderTicket(ticket) {
    $("t-number").textContent = ticket.number;
    $("t-priority").hidden = !ticket.priority;
    // A booked citizen's ticket: marked, with its placement; a late one says why it is a walk-in.
    $("t-appt-mark").hidden = !ticket.appointment;
    var apptNote = window.MotcuaKioskBooking ? MotcuaKioskBooking.note(ticket) : "";
    $("t-appt").textContent = apptNote;
    $("t-appt").hidden = !apptNote;
    $("t-service").textContent = ticket.service_name[lang] || ticket.service_name.vi;
    $("t-ahead").textContent = ticket.ahead === null ? "—" : ticket.ahead;
    $("t-eta").textContent = etaText(ticket.eta_minutes);
    $("t-qr").src = "/kiosk/qr/" + encodeURIComponent(ticket.token) + ".svg";
    $("t-qr").alt = "QR " + ticket.track_url;
    var printLine = $("t-print");
    var failed = state.printerProblem || (ticket.print && ticket.print.status === "failed") ||
      (ticket.print && ticket.print.status === "queued" &&
       ["offline", "paper_out", "error"].indexOf(ticket.print.printer) >= 0);
    // The slip's own outcome, when the server said it is in doubt (print.job): it may not
    // have printed (unknown) or could not be sent (failed); either way a reprint is offered.
    var slip = state.slip && state.slip.ticket_id === ticket.id ? state.slip : null;
    var text = slip ? (slip.status === "reprinting" ? t("reprinting")
                       : slip.status === "reprint_failed" ? t("reprint_failed")
                       : slip.status === "unknown" ? t("print_unknown") : t("print_failed"))
      : failed ? t("print_failed") : t("take_ticket");
    printLine.textContent = text;
    printLine.classList.toggle("problem", !!(slip || failed));
    $("reprint").hidden = !(slip && (slip.status === "unknown" || slip.status === "failed" ||
                                      slip.status === "reprint_failed"));
  }

  function onSlip(data) {
    // A slip of this kiosk ended in doubt: say so calmly while its ticket is on screen.
    if (!state.lastTicket || data.ticket_id !== state.lastTicket.id) return;
    state.slip = { ticket_id: data.ticket_id, status: data.status };
    if (!$("screen-ticket").hidden) { renderTicket(state.lastTicket); armIdle(); }
  }

  function reprint() {
    var ticket = state.lastTicket;
    if (!ticket || !state.slip) return;
    state.slip.status = "reprinting";
    renderTicket(ticket);
    armIdle();
    M.api("POST", "/api/v1/tickets/" + encodeURIComponent(ticket.id) + "/reprint", {})
      .then(function () { /* the printer's answer comes as print.job if in doubt again */ })
      .catch(function () {
        if (state.slip) state.slip.status = "reprint_failed";
        renderTicket(ticket);
      });
  }

  function onPrinter(status) {
    // The printer cannot print now: say so while the ticket is on screen (the QR is there).
    state.printerProblem = ["offline", "paper_out", "error"].indexOf(status) >= 0;
    if (state.lastTicket && !$("screen-ticket").hidden) renderTicket(state.lastTicket);
  }

  function speak(ticket) {
    // The whole phrase (number, service, people ahead) in the server's voice (eSpeak NG,
    // works offline), worded by the server like the displays' calls; in the browser's voice
    // only if the server's cannot be had. "Listen again" plays it once more.
    if (state.audio) { try { state.audio.pause(); } catch (e) { /* already stopped */ } }
    var q = [];
    if (ticket.service) q.push("service=" + encodeURIComponent(ticket.service));
    if (ticket.service && ticket.ahead !== null && ticket.ahead !== undefined) {
      q.push("ahead=" + encodeURIComponent(ticket.ahead));
    }
    fetch("/kiosk/audio/" + lang + "/" + encodeURIComponent(ticket.number) + ".wav" +
          (q.length ? "?" + q.join("&") : ""),
          { headers: { "Authorization": "Bearer " + token } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
      .then(function (blob) {
        var audio = state.audio = new Audio(URL.createObjectURL(blob));
        return audio.play();
      })
      .catch(function () {
        sayInBrowser(t("announce").replace("{number}", ticket.number.split("").join(" ")) +
                     ". " + details(ticket));
      });
  }

  function details(ticket) {
    var text = ticket.service_name[lang] || ticket.service_name.vi;
    if (ticket.ahead !== null && ticket.ahead !== undefined) {
      text += ". " + M.fmt(t("listen_ahead"), { ahead: ticket.ahead });
    }
    return text;
  }

  function sayInBrowser(text) {
    if (!("speechSynthesis" in window)) return;
    try {
      var u = new SpeechSynthesisUtterance(text);
      u.lang = lang === "vi" ? "vi-VN" : "en-US";
      u.rate = 0.9;
      speechSynthesis.cancel();
      speechSynthesis.speak(u);
    } catch (e) { /* speech is a courtesy; the number is on screen and on paper */ }
  }

  // --- citizen ID card (CCCD) QR from a USB scanner that types like a keyboard -------------
  var scanBuf = "";
  var scanLast = 0;
  document.addEventListener("keydown", function (ev) {
    var now = Date.now();
    if (now - scanLast > 150) scanBuf = "";  // scanners type fast; people do not
    scanLast = now;
    if (ev.key === "Enter") {
      if (scanBuf.length > 20) onScan(scanBuf);
      scanBuf = "";
      return;
    }
    if (ev.key.length === 1) scanBuf += ev.key;
  });

  function parseCccd(text) {
    var f = text.trim().split("|");
    if (f.length !== 6 && f.length !== 7) return null;
    if (!/^\d{12}$/.test(f[0])) return null;
    var dob = f[3];
    if (!/^\d{8}$/.test(dob)) return null;
    return { id_number: f[0], name: f[2].trim(), dob: dob.slice(4) + "-" + dob.slice(2, 4) + "-" + dob.slice(0, 2),
             sex: f[4], address: f[5] };
  }

  function initials(name) {
    return name.split(/\s+/).filter(Boolean).map(function (w) { return w[0].toUpperCase() + "."; }).join(" ");
  }

  function onScan(text) {
    // The booking's QR (its link), or an ID card on the appointment screen: a check-in.
    if (window.MotcuaKioskBooking && MotcuaKioskBooking.scan(text)) return;
    var a = parseCccd(text);
    var note = $("scan-note");
    note.hidden = false;
    if (!a) { note.textContent = t("scan_invalid"); state.applicant = null; return; }
    state.applicant = a;
    note.textContent = t("scanned") + ": " + initials(a.name);
    armIdle();
  }
  window.MotcuaKiosk = { parseCccd: parseCccd, initials: initials };

  function showTicket(ticket) {
    // A ticket from a check-in (kiosk-booking.js): shown, printed and spoken like any other.
    state.lastTicket = ticket; state.slip = null;
    renderTicket(ticket); show("ticket"); speak(ticket);
  }
  if (window.MotcuaKioskBooking) {
    MotcuaKioskBooking.init({
      show: show, current: current, showTicket: showTicket, showWhy: showWhy, home: goHome,
      site: function () { return state.site; }, lang: function () { return lang; },
      t: function (key) { return t(key); }, parseCccd: parseCccd,
    });
    $("appt").addEventListener("click", function () { MotcuaKioskBooking.open(); });
  }

  // --- start ----------------------------------------------------------------------------------
  $("lang").addEventListener("click", function () { lang = lang === "vi" ? "en" : "vi"; applyLang(); armIdle(); });
  $("large").addEventListener("click", function () { setLarge(!state.large); armIdle(); });
  $("back").addEventListener("click", goHome);
  $("prio-none").addEventListener("click", function () { issue(null); });
  $("retry-now").addEventListener("click", function () { if (state.attempt) state.attempt.retryNow(); });
  $("busy-back").addEventListener("click", busyBack);
  $("error-retry").addEventListener("click", retryAttempt);
  $("error-back").addEventListener("click", function () {
    // With an attempt whose answer is unknown, back to its question (same key on a re-tap).
    if (state.attempt && state.chosen && state.priorities.length) show("priority"); else goHome();
  });
  $("why-back").addEventListener("click", goHome);
  $("done").addEventListener("click", goHome);
  $("reprint").addEventListener("click", reprint);
  $("listen").addEventListener("click", function () { if (state.lastTicket) speak(state.lastTicket); });
  $("idle-continue").addEventListener("click", function () { closeIdle(); armIdle(); });
  // Any touch means someone is there: it answers the idle question as "continue" too.
  document.addEventListener("pointerdown", function () { closeIdle(); armIdle(); });

  if (!token) {
    $("error-text").textContent = t("not_registered");
    show("error");
    return;
  }

  function mergeStats(data) {
    state.services.forEach(function (s) {
      if (s.code === data.service) {
        if (data.waiting !== undefined) s.waiting = data.waiting;
        if (data.eta_new !== undefined) s.eta_new = data.eta_new;
        if (data.open_counters !== undefined) s.open_counters = data.open_counters;
      }
    });
    if (!$("screen-home").hidden) renderServices();
  }

  function start() {
    M.api("GET", "/api/v1/sites").then(function (sites) {
      if (!sites.length) throw new Error("no site");
      state.site = sites[0];
      return Promise.all([
        M.api("GET", "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/services"),
        M.api("GET", "/api/v1/priorities"),
      ]);
    }).then(function (res) {
      state.services = res[0];
      state.priorities = res[1];
      applyLang();
      // The start screen, keeping a language the citizen chose while the kiosk was loading.
      if (current() !== "home") goHome(); else armIdle();
      setInterval(refreshServices, 60000);
      loadProcedures();
      if (window.io && window.MotcuaRealtime) {
        MotcuaRealtime.connect("/kiosk", { token: token }, {
          snapshot: function (snap) {
            state.site = snap.site; state.services = snap.services; state.priorities = snap.priorities;
            if (window.MotcuaKioskPhone) window.MotcuaKioskPhone.prefetch(state.site.code);
            state.deviceId = snap.device_id;
            if (snap.printer) onPrinter(snap.printer);
            applyLang();
          },
          event: function (type, data) {
            if (type === "queue.stats") mergeStats(data);
            if (type === "config.changed" || type === "day.closed") { refreshServices(); loadProcedures(); }
            if (type === "printer.changed" && data.device_id === state.deviceId) onPrinter(data.status);
            if (type === "print.job" && data.device_id === state.deviceId) onSlip(data);
          },
          status: function (online) { link.socket = online; showLink(); },
          // Revoked or unknown kiosk: no tickets from it any more.
          refused: function (why) {
            if (why !== "unauthorized" && why !== "forbidden" && why !== "revoked") return;
            $("error-text").textContent = t("not_registered");
            $("error-retry").hidden = true;
            show("error");
          },
        });
      }
    }).catch(function (err) {
      $("error-text").textContent = err.status === 401 ? t("not_registered") : t("connecting");
      $("error-retry").hidden = true;  // the kiosk itself tries again in 5 s
      show("error");
      if (err.status !== 401) setTimeout(start, 5000);
    });
  }
  start();
})();
