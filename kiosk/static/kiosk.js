/* Motcua kiosk: choose a service, say if you are a priority case, get a ticket. */
(function () {
  "use strict";

  var M = window.Motcua;
  var cfg = M.config();
  var token = M.deviceToken("kiosk");  // ?token= is kept: a reboot returns to the same kiosk
  var lang = cfg.lang || "vi";
  var HOME_IDLE_MS = 60000;
  var TICKET_IDLE_MS = 25000;

  var state = {
    site: null,
    services: [],
    priorities: [],
    chosen: null,
    issueKey: null,
    applicant: null,
    idleTimer: null,
    lastTicket: null,
  };

  var $ = M.$;
  var t = M.translator(cfg.strings, function () { return lang; });
  M.setup({ lang: lang, token: token });

  // --- screens ------------------------------------------------------------------------------
  function show(name) {
    ["home", "priority", "busy", "ticket", "error"].forEach(function (s) {
      $("screen-" + s).hidden = s !== name;
    });
    armIdle(name);
  }

  function armIdle(name) {
    clearTimeout(state.idleTimer);
    if (name === "home") return;
    state.idleTimer = setTimeout(goHome, name === "ticket" ? TICKET_IDLE_MS : HOME_IDLE_MS);
  }

  function goHome() {
    state.chosen = null;
    state.slip = null;
    state.issueKey = null;
    state.applicant = null;
    $("scan-note").hidden = true;
    renderServices();
    show("home");
    refreshServices();  // the ticket just issued may have reached a daily cap
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
    return t("eta") + " " + minutes + " " + t("minutes");
  }

  function renderServices() {
    var box = $("services");
    box.textContent = "";
    state.services.forEach(function (s) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "svc";
      b.dataset.code = s.code;
      b.disabled = s.active === false;
      // Not offered now (cap, last-ticket time, hours, holiday): greyed, and a touch says why
      // and what to do instead of issuing.
      var off = s.active !== false && s.available === false && s.reason;
      if (off) { b.classList.add("off"); b.setAttribute("aria-disabled", "true"); }
      if (s.display_colour) b.style.borderLeft = "14px solid " + s.display_colour;
      var name = document.createElement("span");
      name.className = "svc-name";
      name.textContent = s.name[lang] || s.name.vi;
      var other = document.createElement("span");
      other.className = "svc-en";
      other.textContent = lang === "vi" ? s.name.en : s.name.vi;
      var meta = document.createElement("span");
      meta.className = "svc-meta";
      var eta = s.eta_new !== undefined ? s.eta_new : s.eta_minutes;
      meta.textContent = s.active === false ? t("service_closed")
        : off ? t("why_" + s.reason.code) + " · " + t("touch_for_why")
        : t("waiting") + ": " + s.waiting + " " + t("people") + " · " + etaText(eta);
      b.appendChild(name); b.appendChild(other); b.appendChild(meta);
      b.setAttribute("aria-label", name.textContent + ", " + meta.textContent);
      b.addEventListener("click", function () { if (off) showWhy(s.reason); else chooseService(s); });
      box.appendChild(b);
    });
  }

  function showWhy(reason) {
    $("error-text").textContent = reason.message[lang] || reason.message.vi;
    show("error");
  }

  function refreshServices() {
    // Availability changes with the clock (last-ticket time, closing) and with other kiosks'
    // tickets (the cap): read it again now and then, and after a refusal.
    if (!state.site) return;
    M.api("GET", "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/services")
      .then(function (rows) {
        state.services = rows;
        if (!$("screen-home").hidden) renderServices();
      })
      .catch(function () { /* the next round or the socket's snapshot will do */ });
  }

  function renderPriorities() {
    var box = $("priorities");
    box.textContent = "";
    var none = document.createElement("button");
    none.type = "button";
    none.textContent = t("priority_none");
    none.addEventListener("click", function () { issue(null); });
    box.appendChild(none);
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
    state.chosen = s;
    state.issueKey = M.newKey();  // one key per ticket request: a double tap or retry gives one ticket
    if (state.priorities.length) { renderPriorities(); show("priority"); } else { issue(null); }
  }

  var ISSUE_RETRY_MS = 60000;  // how long an issue keeps trying while the server cannot serve

  function issue(priority) {
    if (!state.chosen || !$("screen-busy").hidden || $("screen-phone")) return;
    // The optional phone step (kiosk-phone.js): {phone, phone_consent} or null; walked away: home.
    var step = window.MotcuaKioskPhone ? window.MotcuaKioskPhone.ask(state.site.code, lang) : null;
    if (!step) { send(priority, null); return; }
    step.then(function (contact) { send(priority, contact); }, goHome);
  }

  function send(priority, contact) {
    if (!state.chosen) return;  // the kiosk went home meanwhile
    show("busy");
    var body = { service: state.chosen.code, priority: priority, lang: lang };
    if (state.applicant) body.applicant = state.applicant;
    if (contact) { body.phone = contact.phone; body.phone_consent = contact.phone_consent; }
    // The same Idempotency-Key on every try: however many tries reach the server, one ticket.
    // While the server cannot serve (a database or network blip) the kiosk keeps trying for a
    // minute with a calm message, and only then says what to do.
    M.api("POST", "/api/v1/sites/" + encodeURIComponent(state.site.code) + "/tickets", body,
          { key: state.issueKey, retryForMs: ISSUE_RETRY_MS,
            onRetry: function () { $("busy-text").textContent = t("reconnecting"); } })
      .then(function (ticket) {
        $("busy-text").textContent = t("issuing");
        state.lastTicket = ticket; renderTicket(ticket); show("ticket"); speak(ticket);
      })
      .catch(function (err) {
        $("busy-text").textContent = t("issuing");
        if (err.status === 409) refreshServices();
        $("error-text").textContent = (err.status && err.status < 500 && err.message) || t("error_retry");
        show("error");
      });
  }

  function renderTicket(ticket) {
    $("t-number").textContent = ticket.number;
    $("t-priority").hidden = !ticket.priority;
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
    if (!$("screen-ticket").hidden) { renderTicket(state.lastTicket); armIdle("ticket"); }
  }

  function reprint() {
    var ticket = state.lastTicket;
    if (!ticket || !state.slip) return;
    state.slip.status = "reprinting";
    renderTicket(ticket);
    armIdle("ticket");
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
    // The server's voice (eSpeak NG, works offline); the browser's own voice if that fails.
    fetch("/kiosk/audio/" + lang + "/" + encodeURIComponent(ticket.number) + ".wav",
          { headers: { "Authorization": "Bearer " + token } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
      .then(function (blob) {
        var audio = new Audio(URL.createObjectURL(blob));
        return audio.play();
      })
      .catch(function () { speakInBrowser(ticket); });
  }

  function speakInBrowser(ticket) {
    if (!("speechSynthesis" in window)) return;
    try {
      var spaced = ticket.number.split("").join(" ");
      var u = new SpeechSynthesisUtterance(t("announce").replace("{number}", spaced));
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
    var a = parseCccd(text);
    var note = $("scan-note");
    note.hidden = false;
    if (!a) { note.textContent = t("scan_invalid"); state.applicant = null; return; }
    state.applicant = a;
    note.textContent = t("scanned") + ": " + initials(a.name);
    armIdle("priority");
  }
  window.MotcuaKiosk = { parseCccd: parseCccd, initials: initials };

  // --- start ----------------------------------------------------------------------------------
  $("lang").addEventListener("click", function () { lang = lang === "vi" ? "en" : "vi"; applyLang(); armIdle("priority"); });
  $("back").addEventListener("click", goHome);
  $("error-back").addEventListener("click", goHome);
  $("done").addEventListener("click", goHome);
  $("reprint").addEventListener("click", reprint);
  document.addEventListener("pointerdown", function () {
    if ($("screen-home").hidden) armIdle($("screen-ticket").hidden ? "priority" : "ticket");
  });

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
      goHome();
      setInterval(refreshServices, 60000);
      if (window.io && window.MotcuaRealtime) {
        MotcuaRealtime.connect("/kiosk", { token: token }, {
          snapshot: function (snap) {
            state.site = snap.site; state.services = snap.services; state.priorities = snap.priorities;
            state.deviceId = snap.device_id;
            if (snap.printer) onPrinter(snap.printer);
            applyLang();
          },
          event: function (type, data) {
            if (type === "queue.stats") mergeStats(data);
            if (type === "config.changed" || type === "day.closed") refreshServices();
            if (type === "printer.changed" && data.device_id === state.deviceId) onPrinter(data.status);
            if (type === "print.job" && data.device_id === state.deviceId) onSlip(data);
          },
          status: function (online) { $("conn").hidden = online; },
          // Revoked or unknown kiosk: no tickets from it any more.
          refused: function (why) {
            if (why !== "unauthorized" && why !== "forbidden" && why !== "revoked") return;
            $("error-text").textContent = t("not_registered");
            show("error");
          },
        });
      }
    }).catch(function (err) {
      $("error-text").textContent = err.status === 401 ? t("not_registered") : t("error_retry");
      show("error");
      if (err.status !== 401) setTimeout(start, 5000);
    });
  }
  start();
})();
