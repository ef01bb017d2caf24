/* The booking's page /b/<token>: details read from GET /api/v1/bookings/{token}, the QR, the
 * calendar file, and cancel (asked once more before it is done). */
(function () {
  "use strict";
  var M = window.Motcua;
  var cfg = M.config();
  var lang = cfg.lang || "vi";
  var t = cfg.strings[lang];
  var $ = M.$;
  var token = cfg.booking_token;
  var path = "/api/v1/bookings/" + encodeURIComponent(token);
  var CANCELLABLE = ["held", "confirmed"];

  function error(err) {
    $("error").hidden = !err;
    $("error").textContent = !err ? "" : err.status === 0 ? t.error_network
      : (err.message || t.error_generic);
  }

  function render(b) {
    var tz = b.timezone;
    $("loading").hidden = true;
    $("details").hidden = false;
    $("booking-code").textContent = b.code || "";
    $("b-status").textContent = t["status_" + b.status] || b.status;
    $("b-when").textContent = M.localTime(b.start, { timeZone: tz, date: true, year: true }) +
      (b.end ? "–" + M.localTime(b.end, { timeZone: tz }) : "");
    $("b-where").textContent = b.site_name ? M.pick(b.site_name, lang) : b.site;
    $("b-what").textContent = (b.service_name ? M.pick(b.service_name, lang) : b.service) +
      (b.procedure_name ? " – " + M.pick(b.procedure_name, lang) : "");
    if (b.site_name) $("site-name").textContent = M.pick(b.site_name, lang);
    var docs = b.documents || [];
    $("b-doc-list").textContent = "";
    docs.forEach(function (d) { $("b-doc-list").appendChild(M.el("li", null, M.pick(d, lang))); });
    $("b-docs").hidden = !docs.length;
    var open = CANCELLABLE.indexOf(b.status) >= 0;
    $("cancel").hidden = !open;
    $("booking-qr").hidden = !open;
    $("b-note").hidden = !open;
    $("calendar-link").hidden = !open;
  }

  function load() {
    M.api("GET", path).then(function (r) { render(r.booking || r); }, function (err) {
      $("loading").hidden = true;
      if (err.status === 404) { $("missing").hidden = false; return; }
      error(err);
    });
  }

  $("cancel").addEventListener("click", function () {
    $("cancel-ask").hidden = false;
    $("cancel").hidden = true;
    $("cancel-no").focus();
  });
  $("cancel-no").addEventListener("click", function () {
    $("cancel-ask").hidden = true;
    $("cancel").hidden = false;
    $("cancel").focus();
  });
  $("cancel-yes").addEventListener("click", function () {
    $("cancel-yes").disabled = true;
    error(null);
    M.api("POST", path + "/cancel", {}).then(function (r) {
      $("cancel-ask").hidden = true;
      $("cancelled-ok").hidden = false;
      if (r && (r.booking || r.status)) render(r.booking || r); else load();
    }, function (err) { error(err); })
      .then(function () { $("cancel-yes").disabled = false; });
  });

  load();
})();
