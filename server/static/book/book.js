/* The booking page /book: centre → field (and procedure, with its documents) → day → time →
 * ID number and mobile number → one-time code → confirmed (code, QR, calendar file).
 * Talks to the booking API (ARCHITECTURE.md, "The booking API"); the centres and fields come
 * in the page's config block, the procedures of a field from /book/<site>/<service>/procedures.json.
 * The proof of work (pow.js) runs while the citizen types the contact details. */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var lang = cfg.lang || "vi";
  var t = cfg.strings[lang];
  var $ = M.$;
  var DAYS = 7;  // today and the next 6 days (the API refuses days past the site's horizon)
  var STEPS = ["centre", "service", "day", "slot", "who", "code", "done"];
  var st = { site: null, service: null, procedure: null, procs: [], day: null, slot: null,
             booking: null, phone: null, pow: null, key: null };

  function name(obj) { return M.pick(obj, lang); }
  function api(method, path, body, opts) { return M.api(method, "/api/v1" + path, body, opts); }
  function sitePath() { return "/sites/" + encodeURIComponent(st.site.code); }
  function tz() { return st.site ? st.site.timezone : undefined; }

  function show(step, focus) {
    STEPS.forEach(function (s) { $("step-" + s).hidden = s !== step; });
    var n = STEPS.indexOf(step) + 1;
    $("progress").textContent = step === "done" ? "" : M.fmt(t.step, { n: Math.min(n, 6) });
    if (focus !== false) {
      var h = $("step-" + step).querySelector("h2");
      if (h) { h.setAttribute("tabindex", "-1"); h.focus(); }
    }
  }

  function busy(text) { $("progress").textContent = text; }

  function error(err) {
    var box = $("error");
    if (!err) { box.hidden = true; box.textContent = ""; return; }
    var msg = typeof err === "string" ? err
      : err.status === 0 ? t.error_network : (err.message || t.error_generic);
    box.textContent = msg;
    box.hidden = false;
  }

  function choice(label, sub, onClick, disabled) {
    var b = M.el("button", { type: "button", "class": "choice" });
    b.appendChild(document.createTextNode(label));
    if (sub) b.appendChild(M.el("span", "sub", sub));
    if (disabled) { b.disabled = true; b.setAttribute("aria-disabled", "true"); }
    b.addEventListener("click", function () { error(null); onClick(); });
    return b;
  }

  // --- 1. centre -----------------------------------------------------------------------------
  function chooseSite(code) {
    st.site = cfg.sites.filter(function (s) { return s.code === code; })[0] || null;
    if (!st.site) return;
    $("picked-centre").textContent = name(st.site.name);
    var box = $("services");
    box.textContent = "";
    st.site.services.forEach(function (svc) {
      box.appendChild(choice(name(svc.name), null, function () { chooseService(svc); }));
    });
    $("procedure-box").hidden = true;
    show("service");
  }
  M.each(document.querySelectorAll("#centres [data-site]"), function (b) {
    b.addEventListener("click", function () { error(null); chooseSite(b.getAttribute("data-site")); });
  });

  // --- 2. field and procedure ------------------------------------------------------------------
  function chooseService(svc) {
    st.service = svc; st.procedure = null;
    M.each($("services").querySelectorAll(".choice"), function (b) {
      b.setAttribute("aria-pressed", b.textContent === name(svc.name) ? "true" : "false");
    });
    var sel = $("procedure");
    sel.textContent = "";
    sel.appendChild(M.el("option", { value: "", text: t.procedure_none }));
    $("documents-box").hidden = true;
    $("procedure-box").hidden = false;
    M.api("GET", "/book/" + encodeURIComponent(st.site.code) + "/" +
          encodeURIComponent(svc.code) + "/procedures.json")
      .then(function (rows) {
        st.procs = rows || [];
        st.procs.forEach(function (p) {
          sel.appendChild(M.el("option", { value: p.code, text: name(p.name) }));
        });
      }, function () { st.procs = []; });
  }
  $("procedure").addEventListener("change", function () {
    var code = $("procedure").value;
    st.procedure = st.procs.filter(function (p) { return p.code === code; })[0] || null;
    renderDocs($("documents"), $("documents-box"), st.procedure);
  });
  function renderDocs(list, box, proc) {
    list.textContent = "";
    if (!proc) { box.hidden = true; return; }
    (proc.documents || []).forEach(function (d) { list.appendChild(M.el("li", null, name(d))); });
    if (!(proc.documents || []).length) list.appendChild(M.el("li", null, t.no_documents));
    box.hidden = false;
  }
  $("to-day").addEventListener("click", function () { error(null); loadDays(); });

  // --- 3. day ----------------------------------------------------------------------------------
  function addDays(day, n) {
    var p = day.split("-");
    return new Date(Date.UTC(+p[0], +p[1] - 1, +p[2] + n)).toISOString().slice(0, 10);
  }
  function dayLabel(day, i) {
    if (i === 0) return t.today;
    if (i === 1) return t.tomorrow;
    var p = day.split("-");
    try {
      return new Intl.DateTimeFormat(lang === "vi" ? "vi-VN" : "en-GB",
        { weekday: "long", timeZone: "UTC" }).format(new Date(Date.UTC(+p[0], +p[1] - 1, +p[2])));
    } catch (e) { return ""; }
  }
  function slotsOf(day) {
    return api("GET", sitePath() + "/slots?service=" + encodeURIComponent(st.service.code) +
               "&day=" + day).then(function (r) {
      var now = Date.now();
      return (r && r.slots || []).filter(function (s) { return new Date(s.end).getTime() > now; });
    });
  }
  function loadDays() {
    $("picked-service").textContent = name(st.site.name) + " · " + name(st.service.name);
    var box = $("days");
    box.textContent = "";
    $("no-days").hidden = true;
    show("day");
    busy(t.loading);
    var today = M.localDay(null, tz());
    var days = [];
    for (var i = 0; i < DAYS; i++) days.push(addDays(today, i));
    // A closed day (weekend, holiday) has no slots, or is refused: it is not offered.
    Promise.all(days.map(function (d) {
      return slotsOf(d).then(function (s) { return s; }, function (err) {
        return err.status === 0 || err.status >= 500 ? err : [];
      });
    })).then(function (all) {
      show("day", false);
      var offered = 0, failed = null;
      all.forEach(function (slots, i) {
        if (!(slots instanceof Array)) { failed = slots; return; }
        if (!slots.length) return;
        var free = slots.reduce(function (n, s) { return n + s.free; }, 0);
        offered += 1;
        box.appendChild(choice(dayLabel(days[i], i) + " " + M.localDate(days[i]),
          free ? M.fmt(t.places, { n: free }) : t.day_full,
          function () { chooseDay(days[i], slots); }, !free));
      });
      if (failed && !offered) error(failed);
      $("no-days").hidden = offered > 0 || !!failed;
    });
  }

  // --- 4. time ---------------------------------------------------------------------------------
  function slotText(s) { return M.localTime(s.start, { timeZone: tz() }) + "–" +
                                M.localTime(s.end, { timeZone: tz() }); }
  function chooseDay(day, slots) {
    st.day = day;
    $("picked-day").textContent = name(st.service.name) + " · " + M.localDate(day);
    var box = $("slots");
    box.textContent = "";
    slots.forEach(function (s) {
      box.appendChild(choice(slotText(s), M.fmt(t.slot_free, { n: s.free }),
                             function () { chooseSlot(s); }, s.free <= 0));
    });
    $("no-slots").hidden = slots.some(function (s) { return s.free > 0; });
    show("slot");
  }
  function reloadSlots() {
    slotsOf(st.day).then(function (slots) { chooseDay(st.day, slots); }, error);
  }

  // --- 5. who ----------------------------------------------------------------------------------
  function chooseSlot(s) {
    st.slot = s;
    $("picked-slot").textContent = name(st.service.name) + " · " + slotText(s) + " " +
      M.localDate(st.day);
    show("who");
    startPow();
  }
  function startPow() {
    // One challenge per booking request (the server takes each solution once).
    if (st.pow) return;
    st.pow = api("GET", "/booking-challenge").then(function (ch) { return MotcuaPow.solve(ch); });
    st.pow.catch(function () { /* asked again at the submit */ });
  }
  function phoneDigits(v) {
    var d = String(v || "").replace(/[\s.\-()]/g, "");
    if (d.indexOf("+84") === 0) d = "0" + d.slice(3);
    else if (d.indexOf("84") === 0 && d.length === 11) d = "0" + d.slice(2);
    return d;
  }
  function fieldError(input, box, bad) {
    box.hidden = !bad;
    if (bad) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return bad;
  }
  $("who-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    error(null);
    var id = $("id-number").value.replace(/\s/g, "");
    var phone = phoneDigits($("phone").value);
    var badId = fieldError($("id-number"), $("id-error"), !/^\d{12}$/.test(id));
    var badPhone = fieldError($("phone"), $("phone-error"), !/^0[35789]\d{8}$/.test(phone));
    if (badId) { $("id-number").focus(); return; }
    if (badPhone) { $("phone").focus(); return; }
    var button = $("send-code");
    button.disabled = true;
    busy(t.checking);
    startPow();
    var pow = st.pow;
    st.key = st.key || M.newKey();
    pow.then(function (solution) {
      busy(t.sending);
      var body = { service: st.service.code, start: st.slot.start, id_number: id, phone: phone,
                   lang: lang, altcha: solution };
      if (st.procedure) body.procedure = st.procedure.code;
      return api("POST", sitePath() + "/bookings", body, { key: st.key }).then(function (r) {
        st.booking = r.booking; st.phone = phone;
        $("code-lead").textContent = M.fmt(t.code_lead, {
          phone: phone.replace(/^(\d{4})(\d{3})(\d{3})$/, "$1 $2 $3"),
          time: M.localTime(r.booking.hold_until, { timeZone: tz() }) });
        $("otp").value = "";
        show("code");
      });
    }, function () {
      var e = new Error(t.error_pow); e.status = -1; e.code = "pow"; throw e;
    })
      .catch(function (err) {
        show("who", false);
        error(err);
        if (err.status === 409 && /full|slot|capacity|past/.test(err.code || "")) reloadSlots();
        var f = err.fields || {};
        if (f.id_number) fieldError($("id-number"), $("id-error"), true);
        if (f.phone) fieldError($("phone"), $("phone-error"), true);
      })
      .then(function () {
        button.disabled = false;
        st.pow = null; st.key = null;  // a new request needs a new challenge
        if (!$("step-who").hidden) startPow();
      });
  });

  // --- 6. one-time code --------------------------------------------------------------------------
  $("code-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    error(null);
    var code = $("otp").value.replace(/\s/g, "");
    if (fieldError($("otp"), $("otp-error"), !/^\d{6}$/.test(code))) { $("otp").focus(); return; }
    var button = $("confirm");
    button.disabled = true;
    busy(t.confirming);
    api("POST", "/bookings/" + encodeURIComponent(st.booking.ref) + "/confirm", { code: code })
      .then(function (r) { done(r.booking); }, function (err) {
        show("code", false);
        error(err);
        $("otp").focus();
      })
      .then(function () { button.disabled = false; });
  });

  // --- 7. confirmed ------------------------------------------------------------------------------
  function done(b) {
    $("booking-code").textContent = b.code;
    $("booking-qr").src = "/b/" + encodeURIComponent(b.token) + "/qr.svg";
    var end = b.end || (st.slot && st.slot.end);
    $("done-when").textContent = M.localTime(b.start, { timeZone: tz(), date: true, year: true }) +
      (end ? "–" + M.localTime(end, { timeZone: tz() }) : "");
    $("done-where").textContent = name(st.site.name) + (st.site.address ? ", " + st.site.address : "");
    $("done-what").textContent = name(st.service.name) +
      (st.procedure ? " – " + name(st.procedure.name) : "");
    renderDocs($("done-doc-list"), $("done-docs"), st.procedure);
    $("booking-link").href = "/b/" + encodeURIComponent(b.token) + "?lang=" + lang;
    $("calendar-link").href = "/api/v1/bookings/" + encodeURIComponent(b.token) + "/calendar.ics";
    show("done");
  }

  // --- back and start over ---------------------------------------------------------------------
  M.each(document.querySelectorAll("[data-to]"), function (b) {
    b.addEventListener("click", function () {
      error(null);
      var to = b.getAttribute("data-to");
      if (to === "start") { st.booking = null; show("centre"); return; }
      if (to === "day") { loadDays(); return; }
      if (to === "slot") { reloadSlots(); return; }
      show(to);
    });
  });

  show("centre", false);
  if (cfg.sites.length === 1) chooseSite(cfg.sites[0].code);  // one centre: nothing to choose
})();
