/*
 * The counter station: the current ticket and its moves, the parked list, live waiting counts,
 * dossier intake and today's dossiers at this counter.
 *
 * Everything changes through REST API v1 (Motcua.api: session cookie + X-CSRF-Token); the truth comes from
 * the /counter namespace (snapshot + seq, see /static/js/realtime.js): after each move, and on
 * every event about this counter, the station asks for a fresh snapshot.
 * The buttons mirror server/queue/states.py: a move is offered only when it is legal, and
 * follow the status the API returns: where the site's "call starts service" setting is on,
 * call-next answers the ticket already serving (one key calls, one finishes, no Start); where
 * it is off the ticket is called and Start is offered.
 *
 * Thin links: every request is watched; one with no answer after HANG_MS marks the link down
 * in the header (the socket alone can take many seconds to notice a silent cut) and disables
 * the moves until the server answers again (a light /healthz probe). The intake form and the
 * dossier notes keep a draft in the browser (drafts.js) until the server confirms; a dossier
 * submit that got no answer is sent again, with the same Idempotency-Key, once the link is back.
 */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var t = cfg.t;
  var lang = cfg.lang;
  var me = cfg.counter;
  var api = M.api;
  var fmt = M.fmt;
  var $ = M.$;
  var snap = null;          // the last /counter snapshot (with local changes applied)
  var busy = false;         // a request is in flight: no double submits
  var online = false;
  var rt = null;
  var siteServices = [];    // every service of the site (transfer targets)
  var procedures = {};      // service code -> [procedure]
  var formTicket = null;    // the ticket the intake form was prepared for
  var intakeKey = null;     // Idempotency-Key of the dossier being received
  var lastDossier = null;
  var resultTicket = null;  // the ticket whose dossier receipt is on screen
  var Drafts = window.MotcuaDrafts;
  var tz = me.timezone;
  var HANG_MS = 3000;       // a request unanswered this long: the link is shown down
  var PENDING_MS = 4000;    // a dossier submit unanswered this long: say it is kept and retried
  var PROBE_MS = 2000;
  var linkDown = false;     // a request hung or got no answer, and nothing has answered since
  var probing = null;
  var intakePending = false;    // submitted, not confirmed: resend with the same key
  var intakeInFlight = false;
  var intakeResend = false;     // this page sent it and got no answer: resend when the link is up

  function errorText(err) { return (err && err.message) || t.network_error; }

  // --- the link as it is -------------------------------------------------------------------

  function linkUp() { return online && !linkDown; }

  function renderConn() {
    var conn = $("conn");
    conn.textContent = !online ? t.reconnecting : linkDown ? t.link_down : t.online;
    conn.classList.toggle("off", !linkUp());
    $("reconnecting").hidden = online;
  }

  function markDown() {
    if (!linkDown) {
      linkDown = true;
      renderConn();
      if (snap) { renderCounter(); renderCurrent(); renderParked(); }
    }
    if (!probing) probing = setInterval(probe, PROBE_MS);
  }

  function markUp() {
    if (probing) { clearInterval(probing); probing = null; }
    if (!linkDown) return;
    linkDown = false;
    renderConn();
    if (snap) { renderCounter(); renderCurrent(); renderParked(); }
    if (rt) rt.resync();
    resendIntake();
  }

  var probeBusy = false;
  function probe() {
    if (probeBusy) return;
    probeBusy = true;
    api("GET", "/healthz", undefined, { timeoutMs: PROBE_MS }).then(function () {
      probeBusy = false; markUp();
    }, function (err) {
      probeBusy = false;
      if (err.status) markUp();  // an answer, even an error, came back over the link
    });
  }

  /** A request watched for the link: unanswered after HANG_MS, or no answer at all, marks
   *  the link down; any answer from the server marks it up. A request retried by api()
   *  (opts.retryForMs) is watched per attempt: a server answering 503 is reachable. */
  function send(method, path, body, opts) {
    opts = opts || {};
    var timer = setTimeout(markDown, HANG_MS);
    var onRetry = opts.onRetry;
    if (opts.retryForMs) {
      opts.onRetry = function (err, attempt) {
        clearTimeout(timer);
        if (err && err.status) markUp(); else markDown();
        timer = setTimeout(markDown, HANG_MS);
        if (onRetry) onRetry(err, attempt);
      };
    }
    var promise = api(method, path, body, opts);
    promise.then(function () { clearTimeout(timer); markUp(); }, function (err) {
      clearTimeout(timer);
      if (err && err.status === 0) markDown(); else markUp();
    });
    return promise;
  }

  // A counter action the server could not do now (503: it did nothing, say the database is
  // away for a moment) is tried again for up to a minute with a calm message; only 503, since
  // after no answer at all the action may have been done (a second call-next would call twice).
  function apiRetry(method, path, body) {
    return send(method, path, body, {
      retryForMs: 60000,
      retryOn: function (err) { return err.status === 503; },
      onRetry: function () { showMessage(t.retrying); },
      onRecover: function () { showMessage(""); },
    });
  }

  function showError(msg) { $("error").textContent = msg || ""; if (msg) $("message").textContent = ""; }
  function showMessage(msg) { $("message").textContent = msg || ""; if (msg) $("error").textContent = ""; }

  // --- rendering -------------------------------------------------------------------------

  function current() { return snap && snap.current; }

  /** Call next needs an open counter with nobody at it; every other move is legal from the
   *  statuses the server's state machine allows (cfg.moves, from server/queue/states.py). */
  function legal(action) {
    if (!snap || !linkUp()) return false;   // offline: the screen may be stale, no moves
    var c = current();
    if (action === "call_next") return snap.counter.status === "open" && !c;
    return !!c && (cfg.moves[action] || []).indexOf(c.status) >= 0;
  }

  // Where the call starts the service, Start is not a step of its own: finish follows the call.
  if (me.call_starts_service) $("btn-start").hidden = true;

  function minutesBetween(a, b) {
    if (!a || !b) return null;
    return Math.max(0, Math.round((new Date(b) - new Date(a)) / 60000));
  }

  function renderCounter() {
    var c = snap.counter;
    var badge = $("counter-status");
    badge.textContent = t["status_" + c.status] || c.status;
    badge.className = "badge " + c.status;
    var reason = $("pause-reason");
    reason.hidden = !(c.status === "paused" && c.status_reason);
    reason.textContent = c.status_reason ? fmt(t.paused_because, { reason: c.status_reason }) : "";
    $("btn-open").disabled = busy || !linkUp() || c.status === "open";
    $("btn-pause").disabled = busy || !linkUp() || c.status !== "open";
    $("btn-close").disabled = busy || !linkUp() || c.status === "closed" || !!current();
  }

  function renderCurrent() {
    var c = current();
    $("cur-number").textContent = c ? c.number : "—";
    $("cur-service").textContent = c ? c.service_name[lang] : t.no_current;
    $("cur-priority").hidden = !(c && c.priority);
    // A booked citizen's ticket (checked in at the kiosk or here): marked, with the booked time.
    $("cur-appt").hidden = !(c && c.appointment);
    var slot = c && c.appointment && (c.slot_start || c.placed_at);
    $("cur-appt").textContent = !slot ? t.appt_badge
      : t.appt_badge + " · " + fmt(t.appt_slot, { time: M.localTime(slot, { timeZone: tz }) });
    $("cur-status").textContent = c ? (t["status_" + c.status] || c.status) : "";
    var waited = c ? minutesBetween(c.issued_at, c.called_at || snap.server_time) : null;
    $("cur-waited").textContent = waited === null ? "" : fmt(t.waited, { minutes: waited });
    var a = c && c.applicant;
    $("cur-applicant").hidden = !a;
    if (a) {
      $("cur-applicant-text").textContent = [a.name, a.id_number, a.dob, a.address]
        .filter(Boolean).join(" · ");
    }
    document.querySelectorAll("[data-action]").forEach(function (b) {
      b.disabled = busy || !legal(b.getAttribute("data-action"));
    });
    // Start only for a ticket that is called and not yet served (a site where calling does
    // not start the service); once serving, Finish is the next key.
    $("btn-start").hidden = !!me.call_starts_service || !(c && c.status === "called");
  }

  function renderParked() {
    var ul = $("parked");
    ul.textContent = "";
    if (!snap.parked.length) {
      var li = document.createElement("li"); li.className = "muted"; li.textContent = t.no_parked;
      ul.appendChild(li); return;
    }
    snap.parked.forEach(function (p) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.id = "parked-" + p.id;
      label.textContent = p.number + " · " + p.service_name[lang];
      var b = document.createElement("button");
      b.type = "button"; b.className = "secondary"; b.textContent = t.resume;
      b.setAttribute("aria-describedby", label.id);
      b.disabled = busy || !linkUp() || snap.counter.status !== "open" || !!current();
      b.addEventListener("click", function () {
        act(apiRetry("POST", "/api/v1/tickets/" + p.id + "/resume", { counter_id: me.id }), function (ticket) {
          showMessage(fmt(t.called_msg, { number: ticket.number }));
        });
      });
      li.appendChild(label); li.appendChild(document.createTextNode(" ")); li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function renderWaiting() {
    var ul = $("waiting");
    ul.textContent = "";
    snap.services.forEach(function (s) {
      var li = document.createElement("li");
      li.setAttribute("data-service", s.code);
      var n = document.createElement("strong"); n.className = "count"; n.textContent = s.waiting;
      li.appendChild(n);
      li.appendChild(document.createTextNode(" " + s.name[lang] +
        (s.waiting_priority ? " (" + fmt(t.waiting_priority, { n: s.waiting_priority }) + ")" : "") +
        (s.waiting_appointment ? " (" + fmt(t.waiting_appt, { n: s.waiting_appointment }) + ")" : "")));
      ul.appendChild(li);
    });
  }

  // --- a booked citizen checked in by the clerk (code or ID number) ------------------------
  $("checkin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = $("checkin-value").value.replace(/\s/g, "").toUpperCase();
    var body = /^\d{12}$/.test(v) ? { id_number: v } : /^[A-Z0-9]{6}$/.test(v) ? { code: v } : null;
    var out = $("checkin-result");
    if (!body) { out.textContent = t.checkin_invalid; $("checkin-value").focus(); return; }
    body.lang = lang;
    $("checkin-submit").disabled = true;
    out.textContent = "";
    send("POST", "/api/v1/sites/" + encodeURIComponent(me.site) + "/check-ins", body,
         { key: M.newKey() })
      .then(function (r) {
        var tk = (r && r.ticket) || r;
        out.textContent = fmt(tk.late ? t.checkin_late : t.checkin_done, { number: tk.number });
        $("checkin-value").value = "";
        if (rt) rt.resync();
      }, function (err) { out.textContent = errorText(err); })
      .then(function () { $("checkin-submit").disabled = false; });
  });

  function render() {
    if (!snap) return;
    renderCounter();
    renderCurrent();
    renderParked();
    renderWaiting();
    prepareIntake();
  }

  // --- moves -----------------------------------------------------------------------------

  function setBusy(on) {
    busy = on;
    if (snap) { renderCounter(); renderCurrent(); renderParked(); }
  }

  /** Run one request with the buttons disabled; on success apply it and resync. Resolves with
   *  the error when it failed (already shown), null when it worked. */
  function act(promise, onOk) {
    setBusy(true);
    return promise.then(function (data) {
      setBusy(false);
      showError("");
      if (onOk) onOk(data);
      if (rt) rt.resync();
      return null;
    }, function (err) {
      setBusy(false);
      showError(errorText(err));
      if (rt) rt.resync();
      return err;
    });
  }

  function applyTicket(view) {
    if (!view) return;
    snap.current = (view.status === "called" || view.status === "serving") ? view : null;
    render();
  }

  var PATHS = { recall: "recall", start: "start", no_show: "no-show", finish: "finish", park: "park" };

  function doAction(action) {
    if (busy || !legal(action)) return;
    var c = current();
    if (action === "call_next") {
      act(apiRetry("POST", "/api/v1/counters/" + me.id + "/call-next", {}), function (data) {
        if (!data) { showMessage(t.nobody_waiting); return; }  // 204: nobody waiting
        applyTicket(data.ticket);
        showMessage(fmt(t.called_msg, { number: data.ticket.number }));
      });
    } else if (action === "transfer") {
      openTransfer();
    } else if (PATHS[action]) {
      act(apiRetry("POST", "/api/v1/tickets/" + c.id + "/" + PATHS[action], {}), function (ticket) {
        applyTicket(ticket);
        showMessage("");
      });
    }
  }

  document.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () { doAction(b.getAttribute("data-action")); });
  });

  $("btn-open").addEventListener("click", function () {
    act(apiRetry("POST", "/api/v1/counters/" + me.id + "/open", {}), function (counter) { snap.counter = counter; render(); });
  });
  $("btn-close").addEventListener("click", function () {
    act(apiRetry("POST", "/api/v1/counters/" + me.id + "/close", {}), function (counter) { snap.counter = counter; render(); });
  });

  // pause dialog
  var pauseDialog = $("pause-dialog");
  $("btn-pause").addEventListener("click", function () {
    $("pause-error").textContent = "";
    pauseDialog.showModal();
  });
  $("pause-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var picked = pauseDialog.querySelector('input[name="reason"]:checked');
    var other = $("pause-other").value.trim();
    var reason = picked && picked.value ? picked.value : other;
    if (picked && picked.value && other) reason = picked.value + ": " + other;
    if (!reason) { $("pause-error").textContent = t.reason_required; $("pause-other").focus(); return; }
    $("pause-confirm").disabled = true;
    act(apiRetry("POST", "/api/v1/counters/" + me.id + "/pause", { reason: reason.slice(0, 200) }), function (counter) {
      snap.counter = counter; render();
    }).then(function (err) {
      $("pause-confirm").disabled = false;
      if (!err) pauseDialog.close(); else $("pause-error").textContent = errorText(err);
    });
  });
  $("pause-other").addEventListener("input", function () {
    if ($("pause-other").value.trim()) {
      var other = pauseDialog.querySelector('input[name="reason"][value=""]');
      if (other) other.checked = true;
    }
  });

  // transfer dialog
  var transferDialog = $("transfer-dialog");
  function openTransfer() {
    var c = current();
    if (!c) return;
    $("transfer-h").textContent = fmt(t.transfer_title, { number: c.number });
    $("transfer-error").textContent = "";
    var sel = $("transfer-service");
    sel.textContent = "";
    siteServices.filter(function (s) { return s.code !== c.service && s.active; }).forEach(function (s) {
      var o = document.createElement("option"); o.value = s.code; o.textContent = s.name[lang];
      sel.appendChild(o);
    });
    transferDialog.showModal();
  }
  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var c = current();
    if (!c) { transferDialog.close(); return; }
    var pos = transferDialog.querySelector('input[name="position"]:checked').value;
    $("transfer-confirm").disabled = true;
    act(apiRetry("POST", "/api/v1/tickets/" + c.id + "/transfer", { service: $("transfer-service").value, position: pos }),
      function () { snap.current = null; render(); }
    ).then(function (err) {
      $("transfer-confirm").disabled = false;
      if (!err) transferDialog.close(); else $("transfer-error").textContent = errorText(err);
    });
  });
  document.querySelectorAll("dialog [data-close]").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });

  // keyboard shortcuts (shown on the buttons); Esc closes dialogs (native <dialog>)
  var KEYS = { F2: "call_next", F3: "recall", F4: "start", F6: "no_show", F7: "park", F8: "finish", F9: "transfer" };
  document.addEventListener("keydown", function (ev) {
    var action = KEYS[ev.key];
    if (!action) return;
    ev.preventDefault();
    if (document.querySelector("dialog[open]")) return;
    var b = $("btn-" + action);
    if (b && !b.disabled) b.click();
  });

  // --- dossier intake --------------------------------------------------------------------

  var ID_RE = /^\d{12}$/;
  var PHONE_RE = /^\+?[0-9 .-]{6,20}$/;

  function loadProcedures(service) {
    if (procedures[service]) return Promise.resolve(procedures[service]);
    return send("GET", "/api/v1/sites/" + encodeURIComponent(me.site) + "/procedures?service=" +
               encodeURIComponent(service)).then(function (rows) {
      procedures[service] = (rows || []).filter(function (p) { return p.active !== false; });
      return procedures[service];
    }, function (err) { $("intake-error").textContent = errorText(err); return []; });
  }

  function procedureByCode(code) {
    var c = current();
    var list = (c && procedures[c.service]) || [];
    for (var i = 0; i < list.length; i++) if (list[i].code === code) return list[i];
    return null;
  }

  function intakeDraftKey(ticketId) { return Drafts.key(me.id, "intake", ticketId); }

  /** What the intake form holds now: every field, the documents as ticked. */
  function intakeFields() {
    var docs = {};
    $("f-doc-list").querySelectorAll("input[type=checkbox]").forEach(function (cb) { docs[cb.value] = cb.checked; });
    var delivery = document.querySelector('input[name="delivery"]:checked');
    return {
      procedure: $("f-procedure").value, name: $("f-name").value, id_number: $("f-id").value,
      phone: $("f-phone").value, sets: $("f-sets").value, address: $("f-address").value,
      documents: docs, extra: $("f-extra").value, delivery: delivery ? delivery.value : "counter",
    };
  }

  function saveIntakeDraft() {
    if (formTicket === null) return;
    Drafts.save(intakeDraftKey(formTicket), { key: intakeKey, pending: intakePending, fields: intakeFields() }, tz);
  }

  function restoreIntake(f) {
    $("f-name").value = f.name || "";
    $("f-id").value = f.id_number || "";
    $("f-phone").value = f.phone || "";
    $("f-sets").value = f.sets || "1";
    $("f-address").value = f.address || "";
    $("f-extra").value = f.extra || "";
    var radio = document.querySelector('input[name="delivery"][value="' + (f.delivery === "post" ? "post" : "counter") + '"]');
    if (radio) radio.checked = true;
  }

  function restoreDocuments(f) {
    var docs = (f && f.documents) || {};
    $("f-doc-list").querySelectorAll("input[type=checkbox]").forEach(function (cb) {
      if (Object.prototype.hasOwnProperty.call(docs, cb.value)) cb.checked = !!docs[cb.value];
    });
  }

  function showPending(text) {
    $("intake-pending").textContent = text || "";
    $("intake-pending").hidden = !text;
  }

  function prepareIntake() {
    var c = current();
    var form = $("intake-form");
    if (c && resultTicket !== null && resultTicket !== c.id) {
      $("intake-result").hidden = true;    // the next citizen: the last receipt is done with
      resultTicket = null;
    }
    var showForm = !!c && resultTicket === null;
    form.hidden = !showForm;
    $("intake-need").hidden = !!c;
    if (!showForm || formTicket === c.id) return;
    formTicket = c.id;
    var draft = Drafts.load(intakeDraftKey(c.id), tz);
    // The draft's key is the one a lost submit may have used: a resend must reuse it.
    intakeKey = (draft && draft.key) || M.newKey();
    intakePending = !!(draft && draft.pending);
    intakeResend = false;
    form.reset();
    $("intake-error").textContent = ""; $("f-id-error").textContent = "";
    $("f-doc-list").textContent = ""; $("f-procedure-info").textContent = "";
    showPending(intakePending ? t.draft_unsent : "");
    var a = c.applicant || {};
    $("f-name").value = a.name || "";
    $("f-id").value = a.id_number || "";
    $("f-address").value = a.address || "";
    if (draft && draft.fields) {
      restoreIntake(draft.fields);
      if (!intakePending) $("message").textContent = t.draft_restored;
    }
    var sel = $("f-procedure");
    while (sel.options.length > 1) sel.remove(1);
    loadProcedures(c.service).then(function (list) {
      if (formTicket !== c.id) return;
      list.forEach(function (p) {
        var o = document.createElement("option"); o.value = p.code;
        o.textContent = p.name[lang] + " (" + fmt(t.processing_days, { days: p.processing_days }) + ")";
        sel.appendChild(o);
      });
      var f = draft && draft.fields;
      if (f && f.procedure && procedureByCode(f.procedure)) {
        sel.value = f.procedure;
        showDocuments();
        restoreDocuments(f);
      }
    });
  }

  $("intake-form").addEventListener("input", saveIntakeDraft);
  $("intake-form").addEventListener("change", saveIntakeDraft);

  $("f-procedure").addEventListener("change", showDocuments);
  function showDocuments() {
    var p = procedureByCode($("f-procedure").value);
    var box = $("f-doc-list");
    box.textContent = "";
    $("f-procedure-info").textContent = p ? fmt(t.processing_days, { days: p.processing_days }) +
      (p.fee_note ? " · " + t.fee + ": " + p.fee_note[lang] : "") : "";
    if (!p) return;
    p.documents.forEach(function (d, i) {
      var label = document.createElement("label"); label.className = "choice";
      var cb = document.createElement("input"); cb.type = "checkbox"; cb.checked = true;
      cb.value = d.vi; cb.id = "doc-" + i;
      label.appendChild(cb); label.appendChild(document.createTextNode(" " + (d[lang] || d.vi)));
      box.appendChild(label);
    });
  }

  function checkId() {
    var v = $("f-id").value.trim();
    var bad = v !== "" && !ID_RE.test(v);
    $("f-id-error").textContent = bad ? t.id_invalid : "";
    $("f-id").setAttribute("aria-invalid", bad ? "true" : "false");
    return !bad && v !== "";
  }
  $("f-id").addEventListener("blur", checkId);

  $("intake-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    submitIntake();
  });

  /** Send the dossier on the form. Its Idempotency-Key stays with the draft until the server
   *  confirms, so a resend after a lost answer (here, after a reload or a browser restart)
   *  makes the same dossier, never a second one. */
  function submitIntake() {
    var c = current();
    if (!c || intakeInFlight || formTicket !== c.id) return;
    var err = $("intake-error");
    err.textContent = "";
    var procedure = $("f-procedure").value;
    var name = $("f-name").value.trim();
    var idNumber = $("f-id").value.trim();
    var phone = $("f-phone").value.trim();
    if (!procedure) { err.textContent = t.procedure_required; $("f-procedure").focus(); return; }
    if (!name) { err.textContent = t.name_required; $("f-name").focus(); return; }
    if (!checkId()) { err.textContent = t.id_invalid; $("f-id-error").textContent = t.id_invalid; $("f-id").focus(); return; }
    if (phone && !PHONE_RE.test(phone)) { err.textContent = t.phone_invalid; $("f-phone").focus(); return; }
    var docs = [];
    $("f-doc-list").querySelectorAll("input[type=checkbox]").forEach(function (cb) { if (cb.checked) docs.push(cb.value); });
    $("f-extra").value.split("\n").forEach(function (line) { if (line.trim()) docs.push(line.trim()); });
    var sets = parseInt($("f-sets").value, 10) || 1;
    var delivery = document.querySelector('input[name="delivery"]:checked').value;
    var payload = {
      procedure: procedure,
      applicant: { name: name, id_number: idNumber, phone: phone || null, address: $("f-address").value.trim() || null },
      documents: docs, sets: sets, delivery: delivery,
    };
    var ticketId = c.id;
    var draftKey = intakeDraftKey(ticketId);
    intakePending = true;
    intakeInFlight = true;
    intakeResend = false;
    saveIntakeDraft();
    $("btn-receive").disabled = true;
    setBusy(true);              // no moves while the dossier is on its way: it needs the ticket here
    var slow = setTimeout(function () { showPending(t.intake_pending); }, PENDING_MS);
    send("POST", "/api/v1/tickets/" + ticketId + "/dossiers", payload, { key: intakeKey, timeoutMs: 20000 }).then(function (data) {
      clearTimeout(slow);
      intakeInFlight = false;
      intakePending = false;
      setBusy(false);
      Drafts.remove(draftKey);
      showPending("");
      $("btn-receive").disabled = false;
      if (formTicket !== ticketId) return;
      showResult(data);
      resultTicket = ticketId;
      formTicket = null;          // a second dossier for the same citizen starts afresh
      prepareIntake();
      loadDossiers();
    }, function (e) {
      clearTimeout(slow);
      intakeInFlight = false;
      setBusy(false);
      $("btn-receive").disabled = false;
      if (e.status === 0) {     // no answer: it may have been done; kept, sent again when up
        showPending(t.intake_pending);
        intakeResend = true;
        if (linkUp()) resendIntake();
        return;
      }
      intakePending = false;    // the server said no: nothing was made; the draft stays
      saveIntakeDraft();
      showPending("");
      err.textContent = errorText(e);
    });
  }

  /** The link is back: a dossier submit that got no answer is sent again, same key, once. */
  function resendIntake() {
    var c = current();
    // After a reload the clerk checks the restored form and submits it (same key) themselves.
    if (!intakeResend || intakeInFlight || !c || formTicket !== c.id) return;
    submitIntake();
  }

  function localTime(iso) { return M.localTime(iso, { timeZone: me.timezone, lang: lang, year: true }); }

  function printedOf(data) {
    if (data.print && typeof data.print === "object" && "printed" in data.print) return !!data.print.printed;
    return !!data.printed;
  }

  function showResult(data) {
    lastDossier = data;
    $("intake-result").hidden = false;
    $("r-code").textContent = data.code;
    $("r-due").textContent = data.due_local || localTime(data.due_at);
    var printed = printedOf(data);
    $("r-printed").textContent = printed ? t.printed : t.not_printed;
    $("btn-print-browser").hidden = printed;
    $("r-link").href = data.track_url;
    $("r-link").textContent = t.tracking_link + ": " + data.track_url;
    $("r-qr").src = "/counter/qr/d/" + encodeURIComponent(data.token) + ".svg";
  }

  $("btn-new-dossier").addEventListener("click", function () {
    $("intake-result").hidden = true;
    resultTicket = null;
    formTicket = null;
    prepareIntake();
  });

  $("btn-print-browser").addEventListener("click", function () {
    if (!lastDossier) return;
    var b = $("btn-print-browser");
    b.disabled = true;
    send("GET", "/api/v1/dossiers/" + encodeURIComponent(lastDossier.code) + "/receipt").then(function (data) {
      b.disabled = false;
      var r = data.receipt || data;
      var rlang = r.lang === "en" ? "en" : "vi";
      document.querySelectorAll("#receipt .rl").forEach(function (el) { el.textContent = el.getAttribute("data-" + rlang); });
      $("receipt").setAttribute("lang", rlang);
      $("rc-site").textContent = r.site_name;
      $("rc-code").textContent = r.code;
      $("rc-applicant").textContent = r.applicant_name + (r.applicant_id_masked ? " (" + r.applicant_id_masked + ")" : "");
      $("rc-procedure").textContent = r.procedure_name;
      $("rc-sets").textContent = r.sets;
      var ol = $("rc-documents"); ol.textContent = "";
      (r.documents || []).forEach(function (d) { var li = document.createElement("li"); li.textContent = d; ol.appendChild(li); });
      $("rc-received").textContent = r.received_at_local;
      $("rc-due").textContent = r.due_at_local;
      $("rc-collect").textContent = r.collect_at;
      $("rc-url").textContent = r.track_url;
      var img = $("rc-qr");
      img.onload = function () { window.print(); };
      img.src = "/counter/qr/d/" + encodeURIComponent(lastDossier.token) + ".svg";
      if (img.complete && img.naturalWidth) window.print();
    }, function (err) {
      b.disabled = false;
      $("intake-error").textContent = errorText(err);
    });
  });

  // --- today's dossiers at this counter ----------------------------------------------------

  var NEXT_STEPS = {
    received: ["transferred", "processing", "supplement_requested", "refused", "withdrawn"],
    transferred: ["processing", "supplement_requested", "refused", "withdrawn"],
    processing: ["result_ready", "supplement_requested", "refused", "withdrawn"],
    supplement_requested: ["resubmitted", "refused", "withdrawn"],
    result_ready: ["returned"],
  };

  function localDay(iso) { return M.localDay(iso, me.timezone); }

  var loadingDossiers = null;
  function loadDossiers() {
    if (loadingDossiers) return loadingDossiers;
    loadingDossiers = send("GET", "/api/v1/sites/" + encodeURIComponent(me.site) + "/dossiers?state=open").then(function (list) {
      loadingDossiers = null;
      var today = localDay(snap ? snap.server_time : null);
      var rows = (list || []).filter(function (d) {
        return d.counter_id === me.id && localDay(d.received_at) === today;
      });
      renderDossiers(rows);
    }, function (err) {
      loadingDossiers = null;
      $("dossier-error").textContent = err.status === 404 ? "" : errorText(err);
    });
    return loadingDossiers;
  }

  function renderDossiers(rows) {
    var tb = $("dossiers");
    tb.textContent = "";
    if (!rows.length) {
      var tr = document.createElement("tr"); var td = document.createElement("td");
      td.colSpan = 5; td.className = "muted"; td.textContent = t.no_dossiers;
      tr.appendChild(td); tb.appendChild(tr); return;
    }
    rows.forEach(function (d) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-code", d.code);
      [d.code, d.procedure.name[lang], (d.status_name && d.status_name[lang]) || d.status,
       d.due_local || localTime(d.due_at)].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      var td = document.createElement("td");
      var steps = NEXT_STEPS[d.status] || [];
      if (steps.length) {
        var sel = document.createElement("select");
        sel.setAttribute("aria-label", t.move_to + " " + d.code);
        steps.forEach(function (s) {
          var o = document.createElement("option"); o.value = s; o.textContent = t["step_" + s] || s; sel.appendChild(o);
        });
        var note = document.createElement("input");
        note.placeholder = t.note; note.maxLength = 400; note.setAttribute("aria-label", t.note + " " + d.code);
        var noteKey = Drafts.key(me.id, "note", d.code);
        var noteDraft = Drafts.load(noteKey, tz);
        if (noteDraft && noteDraft.fields) {
          note.value = noteDraft.fields.note || "";
          if (steps.indexOf(noteDraft.fields.step) >= 0) sel.value = noteDraft.fields.step;
        }
        var saveNote = function () {
          if (note.value) Drafts.save(noteKey, { fields: { note: note.value, step: sel.value } }, tz);
          else Drafts.remove(noteKey);
        };
        note.addEventListener("input", saveNote);
        sel.addEventListener("change", saveNote);
        var b = document.createElement("button"); b.type = "button"; b.className = "secondary"; b.textContent = t.apply;
        b.setAttribute("aria-label", t.apply + " " + d.code);
        b.addEventListener("click", function () {
          b.disabled = true;
          send("POST", "/api/v1/dossiers/" + encodeURIComponent(d.code) + "/status",
              { status: sel.value, note: note.value.trim() || null }).then(function () {
            b.disabled = false;
            Drafts.remove(noteKey);
            $("dossier-error").textContent = "";
            loadDossiers();
          }, function (err) {
            b.disabled = false;
            $("dossier-error").textContent = errorText(err);
          });
        });
        td.appendChild(sel); td.appendChild(note); td.appendChild(b);
      }
      tr.appendChild(td);
      tb.appendChild(tr);
    });
  }

  // --- live ------------------------------------------------------------------------------

  function setOnline(on) {
    online = on;
    renderConn();
    if (snap) { renderCounter(); renderCurrent(); renderParked(); }
    if (on) markUp();   // the socket got through: so does the link
  }

  function mine(data) {
    if (!data || !snap) return false;
    if (data.counter_id === me.id) return true;
    var c = current();
    if (c && (data.ticket_id === c.id)) return true;
    return snap.parked.some(function (p) { return p.id === data.ticket_id; });
  }

  function onEvent(type, data) {
    if (type === "queue.stats") {
      snap.services.forEach(function (s) {
        if (s.code === data.service) {
          if (data.waiting !== undefined) s.waiting = data.waiting;
          if (data.waiting_priority !== undefined) s.waiting_priority = data.waiting_priority;
        }
      });
      renderWaiting();
    } else if (type === "dossier.changed") {
      if (data.counter_id === me.id) loadDossiers();
    } else if ((type.indexOf("ticket.") === 0 || type === "counter.changed") && mine(data)) {
      rt.resync();
    }
  }

  Drafts.purge(tz);              // drafts of an earlier business day are personal data: gone
  Drafts.rememberWorkstation(me.id);
  setOnline(false);
  send("GET", "/api/v1/sites/" + encodeURIComponent(me.site) + "/services").then(function (rows) {
    siteServices = rows;
  }, function () { /* no transfer targets until the page is reloaded, as before */ });
  loadDossiers();
  if (!window.io || !window.MotcuaRealtime) { showError(t.network_error); return; }
  rt = MotcuaRealtime.connect("/counter", { counter_id: me.id }, {
    snapshot: function (state) { snap = state; render(); },
    event: onEvent,
    status: setOnline,
    refused: function (code) {
      showError(code === "forbidden" ? t.forbidden_counter : code === "unauthorized" ? t.session_expired : t.network_error);
    },
  });
})();
