/* Motcua device pairing: show a short code, wait for an admin to claim it, then collect this
   device's token once and open the kiosk or display page with it. */
(function () {
  "use strict";

  var M = window.Motcua;
  var cfg = M.config();
  var T = cfg.t;
  var POLL_MS = 2000;
  var state = { code: null, secret: null, expiresAt: 0, timer: null };

  var $ = M.$;

  function newSecret() {
    var bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    var s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function showCode(code) {
    $("code").textContent = code.slice(0, 3) + " " + code.slice(3);
    $("code").dataset.code = code;
  }

  function countdown() {
    var left = Math.max(0, state.expiresAt - Date.now());
    $("expires").textContent = T.expires.replace("{minutes}", String(Math.ceil(left / 60000)));
  }

  function fresh() {
    state.secret = newSecret();
    M.api("POST", "/api/v1/pairing", { secret: state.secret }).then(function (data) {
      state.code = data.code;
      state.expiresAt = Date.now() + data.ttl_seconds * 1000;
      showCode(state.code);
      $("status").textContent = T.waiting;
      countdown();
      schedule();
    }).catch(function () {
      $("status").textContent = T.error;
      setTimeout(fresh, 5000);
    });
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    countdown();
    M.api("POST", "/api/v1/pairing/collect", { code: state.code, secret: state.secret }).then(function (data) {
      if (data && data.status === "paired") {
        // Exactly where the kiosk and display pages look for their token (Motcua.deviceToken).
        M.storeDeviceToken(data.kind, data.token);
        $("status").textContent = T.paired;
        location.replace(data.page + (cfg.lang === "en" ? "?lang=en" : ""));
        return;
      }
      schedule();
    }, function (err) {
      if (err.status === 410 || err.status === 404 || err.status === 409) { fresh(); return; }
      schedule();
    });
  }

  window.MotcuaPair = { state: state };
  fresh();
})();
