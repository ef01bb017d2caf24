/* Motcua device pairing: show a short code, wait for an admin to claim it, then collect this
   device's token once and open the kiosk or display page with it. */
(function () {
  "use strict";

  var T = window.MOTCUA_PAIR;
  var POLL_MS = 2000;
  var state = { code: null, secret: null, expiresAt: 0, timer: null };

  function $(id) { return document.getElementById(id); }

  function newSecret() {
    var bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    var s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang },
      body: JSON.stringify(body),
      cache: "no-store",
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, data: data };
      });
    });
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
    post("/api/v1/pairing", { secret: state.secret }).then(function (res) {
      if (res.status !== 201) throw new Error(String(res.status));
      state.code = res.data.code;
      state.expiresAt = Date.now() + res.data.ttl_seconds * 1000;
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
    post("/api/v1/pairing/collect", { code: state.code, secret: state.secret }).then(function (res) {
      if (res.status === 200 && res.data.status === "paired") {
        // Exactly where the kiosk and display pages look for their token.
        localStorage.setItem("motcua." + res.data.kind + ".token", res.data.token);
        $("status").textContent = T.paired;
        var lang = document.documentElement.lang;
        location.replace(res.data.page + (lang === "en" ? "?lang=en" : ""));
        return;
      }
      if (res.status === 200) { schedule(); return; }
      if (res.status === 410 || res.status === 404 || res.status === 409) { fresh(); return; }
      schedule();
    }).catch(function () { schedule(); });
  }

  window.MotcuaPair = { state: state };
  fresh();
})();
