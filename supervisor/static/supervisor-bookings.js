/* Supervisor, "Appointments" tab: a day's bookings per service and time slot (bookable places,
 * booked, checked in, no-show, cancelled), the share of bookable places used, and the bookings
 * that fall on a day closed after they were made (each citizen is sent a message; the table
 * says whether it went). From GET /api/v1/sites/{site}/bookings/summary?day=YYYY-MM-DD. */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var T = cfg.t;
  var LANG = cfg.lang;
  var SITE = cfg.site.code;
  var TZ = cfg.site.timezone;
  var $ = M.$;
  var el = M.el;
  var COLS = ["capacity", "booked", "checked_in", "no_show", "cancelled"];
  var HEAD = { capacity: "bk_capacity", booked: "bk_booked", checked_in: "bk_checked_in",
               no_show: "bk_no_show", cancelled: "bk_cancelled" };

  function time(iso) { return M.localTime(iso, { timeZone: TZ, lang: LANG }); }

  function table(svc) {
    var tbl = el("table", { "class": "grid bookings", "data-service": svc.service });
    tbl.appendChild(el("caption", null, M.pick(svc.name, LANG) || svc.service));
    var head = el("tr", null, [el("th", { scope: "col", text: T.bk_slot })].concat(
      COLS.map(function (c) { return el("th", { scope: "col", text: T[HEAD[c]] }); })));
    tbl.appendChild(el("thead", null, [head]));
    var body = el("tbody");
    var sum = {};
    COLS.forEach(function (c) { sum[c] = 0; });
    (svc.slots || []).forEach(function (s) {
      body.appendChild(el("tr", null, [el("th", { scope: "row", text: time(s.start) + "–" + time(s.end) })]
        .concat(COLS.map(function (c) {
          sum[c] += s[c] || 0;
          return el("td", { "class": "num", "data-col": c, text: M.num(s[c] || 0, LANG, 0) });
        }))));
    });
    body.appendChild(el("tr", "total", [el("th", { scope: "row", text: T.bk_total })].concat(
      COLS.map(function (c) { return el("td", { "class": "num", "data-col": c, text: M.num(sum[c], LANG, 0) }); }))));
    tbl.appendChild(body);
    return { node: tbl, sum: sum };
  }

  function render(d) {
    var box = $("bk-services");
    box.textContent = "";
    var cap = 0, used = 0, any = false;
    (d.services || []).forEach(function (svc) {
      var r = table(svc);
      box.appendChild(r.node);
      cap += r.sum.capacity;
      used += r.sum.booked + r.sum.checked_in + r.sum.no_show;
      if (r.sum.booked || r.sum.checked_in || r.sum.no_show || r.sum.cancelled) any = true;
    });
    $("bk-none").hidden = any;
    // Bookings that took a place (booked, checked in or not come) over the places offered.
    $("bk-used").textContent = cap ? M.fmt(T.bk_used, { pct: M.num(used / cap * 100, LANG, 0) + " %" }) : "";
    var rows = d.affected || [];
    var tb = $("bk-affected");
    tb.textContent = "";
    rows.forEach(function (a) {
      tb.appendChild(el("tr", null, [
        el("td", null, a.ref), el("td", null, M.pick(a.service_name, LANG) || a.service),
        el("td", null, M.localTime(a.start, { timeZone: TZ, lang: LANG, date: true })),
        el("td", null, T["bk_st_" + a.status] || a.status),
        el("td", null, a.notified ? T.bk_yes : T.bk_no),
      ]));
    });
    $("bk-affected-table").hidden = !rows.length;
    $("bk-affected-none").hidden = !!rows.length;
  }

  function load() {
    var day = $("bk-day").value || M.localDay(null, TZ);
    $("bk-day").value = day;
    $("bk-error").textContent = "";
    return M.api("GET", "/api/v1/sites/" + encodeURIComponent(SITE) + "/bookings/summary?day=" + day)
      .then(render, function (err) { $("bk-error").textContent = err.message || T.error; });
  }

  $("bk-day").value = M.localDay(null, TZ);
  $("bk-form").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  window.MotcuaSupervisorBookings = { load: load };
})();
