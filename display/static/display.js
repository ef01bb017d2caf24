/* Motcua wall display: the call board of the lobby TV, with a chime and a spoken call.
 *
 * State comes from the /display namespace (snapshot + seq, see /static/js/realtime.js): a
 * snapshot replaces everything shown; events change it one by one. Audio is made on the server
 * (/display/audio/...) and played one announcement at a time.
 */
(function () {
  "use strict";

  var M = window.Motcua;
  var cfg = M.config();
  var OPTS = cfg.options || {};
  var token = M.deviceToken("display");  // ?token= is kept: a reboot returns to the same display
  var lang = OPTS.lang || cfg.lang || "vi";
  var other = lang === "vi" ? "en" : "vi";
  var voices = OPTS.voices || ["vi", "en"];
  var repeat = OPTS.repeat || 1;
  var volume = OPTS.volume === undefined ? 1 : OPTS.volume;
  var recentN = OPTS.recent || 6;
  var FLASH_MS = 8000;              // a new call is highlighted this long
  var STALE_MS = 20000;             // offline this long: the board says it may be out of date
  var RESYNC_MS = 5 * 60 * 1000;    // a fresh snapshot now and then, whatever happens
  var MISSED_WINDOW_MS = 120000;    // calls missed while offline are announced if this recent
  var QUEUE_MAX = 8;
  var NUMBER_RE = /^[A-Z]{1,4}[0-9]{3,4}$/;

  var state = {
    site: null,
    services: [],
    counters: [],
    nowServing: [],   // [{ticket_id, number, counter, service, status, recall}], newest first
    recent: [],       // [{number, counter, service, recall, at}], newest first
    ticker: null,
    serverOffset: 0,  // server clock - local clock, ms
    snapshots: 0,
    online: false,
    offlineSince: null,
    flashUntil: 0,
    flashKey: null,
  };
  // For tests and the benchmark: when each number was put on the board, what was announced.
  var hooks = { shownAt: {}, frameAt: {}, announced: [], played: [], outcomes: [], state: state };
  window.MotcuaDisplay = hooks;

  function trimHooks() {  // a TV runs for days: keep these small
    if (hooks.announced.length > 200) hooks.announced.splice(0, 100);
    if (hooks.played.length > 200) hooks.played.splice(0, 100);
    if (hooks.outcomes.length > 200) hooks.outcomes.splice(0, 100);
    if (Object.keys(hooks.shownAt).length > 500) { hooks.shownAt = {}; hooks.frameAt = {}; }
  }

  var $ = M.$;
  var el = M.el;
  var t = M.translator(cfg.strings, function () { return lang; });
  function serverNow() { return Date.now() + state.serverOffset; }
  function name(obj) { return M.pick(obj, lang); }
  // A counter of another site (an extra reception point) serving this queue: say where it is.
  function where(c) { return c.counter_site_name ? t("at_site") + " " + name(c.counter_site_name) : ""; }

  // --- rendering ------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang;
    M.each(document.querySelectorAll("[data-t]"), function (e) { e.textContent = t(e.dataset.t); });
    M.each(document.querySelectorAll("[data-t2]"), function (e) { e.textContent = t(e.dataset.t2, other); });
    if (state.site) $("site-name").textContent = name(state.site.name);
  }

  function flashing(call) {
    return Date.now() < state.flashUntil && call && state.flashKey === call.number + "|" + call.counter;
  }

  function render() {
    var first = state.nowServing[0];
    $("hero").hidden = !first;
    $("hero-empty").hidden = !!first;
    if (first) {
      $("hero-number").textContent = first.number;
      $("hero-counter").textContent = first.counter;
      $("hero-where").textContent = where(first);
      $("hero-where").hidden = !where(first);
      $("hero-recall").hidden = !first.recall;
      $("hero").classList.toggle("flash", flashing(first));
      $("hero").setAttribute("aria-label", t("now_calling") + " " + first.number + " " +
        t("to_counter") + " " + first.counter + (where(first) ? " " + where(first) : ""));
    }
    var cards = $("serving");
    cards.textContent = "";
    state.nowServing.slice(1, 9).forEach(function (c) {
      var li = el("li", "card" + (c.status === "serving" ? " serving" : ""));
      li.appendChild(el("span", "card-number", c.number));
      var counter = el("span", "card-counter");
      counter.appendChild(el("small", null, t("counter")));
      counter.appendChild(el("b", null, String(c.counter)));
      if (where(c)) counter.appendChild(el("small", "card-where", where(c)));
      li.appendChild(counter);
      if (flashing(c)) li.classList.add("flash");
      cards.appendChild(li);
    });

    var recent = $("recent");
    recent.textContent = "";
    state.recent.slice(0, recentN).forEach(function (c, i) {
      var li = el("li", "row" + (i === 0 && flashing(c) ? " flash" : ""));
      li.appendChild(el("span", "row-number", c.number));
      li.appendChild(el("span", "row-counter", t("counter") + " " + c.counter +
        (where(c) ? " " + where(c) : "")));
      if (c.recall) li.appendChild(el("span", "row-recall", "↻"));
      recent.appendChild(li);
    });

    var waiting = $("waiting");
    waiting.textContent = "";
    state.services.forEach(function (s) {
      var li = el("li", "row svc" + (s.active === false ? " inactive" : ""));
      li.dataset.code = s.code;
      li.appendChild(el("span", "svc-prefix", s.prefix || ""));
      var names = el("span", "svc-names");
      names.appendChild(el("span", "svc-name", name(s.name)));
      names.appendChild(el("span", "svc-other", s.name ? (s.name[other] || "") : ""));
      li.appendChild(names);
      li.appendChild(el("span", "svc-count", s.active === false ? t("paused") : String(s.waiting || 0)));
      waiting.appendChild(li);
    });

    var ticker = state.ticker;
    var text = typeof ticker === "string" ? ticker : (ticker ? (ticker[lang] || ticker.vi || "") : "");
    $("ticker").hidden = !text;
    if ($("ticker-text").textContent !== text) {
      $("ticker-text").textContent = text;
      $("ticker-text").style.animationDuration = Math.max(12, text.length * 0.25) + "s";
    }
    fit($("waiting").parentNode);  // last: after everything that takes room
  }

  // Shrink a panel's rows until they fit (many services, a small or upright screen).
  function fit(panel) {
    var scale = 1;
    panel.style.setProperty("--fit", "1");
    while (panel.scrollHeight > panel.clientHeight + 1 && scale > 0.5) {
      scale -= 0.05;
      panel.style.setProperty("--fit", String(scale));
    }
  }

  var flashTimer = null;
  function flash(call) {
    state.flashKey = call.number + "|" + call.counter;
    state.flashUntil = Date.now() + FLASH_MS;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(render, FLASH_MS + 50);
  }

  // --- clock in the site's time zone -----------------------------------------------------
  var fmtTime = null, fmtDate = null, fmtZone = null;
  function formatters() {
    var zone = (state.site && state.site.timezone) || "Asia/Ho_Chi_Minh";
    if (fmtZone === zone + lang) return;
    var locale = lang === "vi" ? "vi-VN" : "en-GB";
    try {
      fmtTime = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
      fmtDate = new Intl.DateTimeFormat(locale, { timeZone: zone, weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" });
    } catch (e) {  // an unknown zone name: the TV's own zone is better than no clock
      fmtTime = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", hour12: false });
      fmtDate = new Intl.DateTimeFormat(locale, { weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" });
    }
    fmtZone = zone + lang;
  }
  function tick() {
    formatters();
    var now = new Date(serverNow());
    $("clock-time").textContent = fmtTime.format(now);
    $("clock-date").textContent = fmtDate.format(now);
    if (!state.online && state.offlineSince && Date.now() - state.offlineSince > STALE_MS) {
      $("board").classList.add("stale");
      $("conn").textContent = t("stale");
    }
  }

  // --- announcements: a chime, then the call in each voice; one at a time ------------------
  var audio = new Audio();
  audio.preload = "auto";
  var queue = [];
  var playing = false;
  var soundBlocked = false;
  var blobUrls = new Map();   // path -> Promise<object URL | null>

  function fetchAudio(path, auth) {
    if (blobUrls.has(path)) return blobUrls.get(path);
    var headers = auth ? { "Authorization": "Bearer " + token } : {};
    var p = fetch(path, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.blob();
    }).then(function (b) { return URL.createObjectURL(b); }).catch(function () {
      blobUrls.delete(path);  // not kept: the next call tries again (an engine may be back)
      return null;
    });
    blobUrls.set(path, p);
    if (blobUrls.size > 60) {  // forget the oldest phrases
      var oldest = blobUrls.keys().next().value;
      var old = blobUrls.get(oldest);
      blobUrls.delete(oldest);
      old.then(function (u) { if (u) setTimeout(function () { URL.revokeObjectURL(u); }, 60000); });
    }
    return p;
  }

  function chime() { return OPTS.chime === false ? null : fetchAudio("/display/audio/chime.wav", false); }

  function phrasePath(v, call) {
    return "/display/audio/" + v + "/" + encodeURIComponent(call.number) + "/" + call.counter + ".wav";
  }

  function announce(call) {
    var key = call.number + "|" + call.counter;
    for (var i = 0; i < queue.length; i++) if (queue[i].key === key) return;  // already waiting
    var parts = [];
    var c = chime();
    if (c) parts.push(c);
    if (NUMBER_RE.test(call.number) && call.counter >= 1 && call.counter <= 999) {
      for (var r = 0; r < repeat; r++) {
        voices.forEach(function (v) { parts.push(fetchAudio(phrasePath(v, call), true)); });
      }
    }
    hooks.announced.push({ number: call.number, counter: call.counter, recall: !!call.recall, at: Date.now() });
    queue.push({ key: key, parts: parts });
    while (queue.length > QUEUE_MAX) queue.shift();
    pump();
  }

  function pump() {
    if (playing || !queue.length) return;
    playing = true;
    var item = queue.shift();
    playParts(item.parts.slice()).then(function () {
      playing = false;
      setTimeout(pump, 400);
    });
  }

  function playParts(parts) {
    if (!parts.length) return Promise.resolve();
    return parts.shift().then(playUrl).then(function () { return playParts(parts); });
  }

  function playUrl(url) {
    if (!url) return Promise.resolve();
    return new Promise(function (resolve) {
      var done = false;
      var guard = setTimeout(function () { finish("timeout"); }, 20000);  // never stuck
      function finish(how) {
        if (done) return;
        done = true;
        clearTimeout(guard);
        audio.onended = audio.onerror = null;
        hooks.outcomes.push(how);
        resolve();
      }
      audio.onended = function () { finish("ended"); };
      audio.onerror = function () { finish("error"); };
      audio.src = url;
      audio.volume = volume;
      hooks.played.push(url);
      var p = audio.play();
      if (p && p.catch) {
        p.catch(function (err) {
          var blocked = err && err.name === "NotAllowedError";
          if (blocked) showSoundHint(true);
          finish(blocked ? "blocked" : "error");
        });
      }
    });
  }

  function showSoundHint(on) {
    soundBlocked = on;
    $("sound-hint").hidden = !on;
  }
  function unlock() {
    if (!soundBlocked) return;
    showSoundHint(false);
    var c = chime();
    if (c) c.then(playUrl);  // inside the gesture: the browser now allows sound
  }
  document.addEventListener("pointerdown", unlock);
  document.addEventListener("keydown", unlock);

  // --- state changes ------------------------------------------------------------------
  var eventCalls = {};  // number|counter -> calls seen as events since the last snapshot
  var lastRecentKeys = {};

  function callKey(c) { return c.number + "|" + c.counter; }

  function onSnapshot(snap) {
    var first = state.snapshots === 0;
    state.snapshots += 1;
    state.site = snap.site;
    state.services = snap.services || [];
    state.counters = snap.counters || [];
    state.nowServing = (snap.now_serving || []).map(function (n) {
      return { ticket_id: n.ticket_id, number: n.number, counter: n.counter, service: n.service,
               status: n.status, recall: false, counter_site: n.counter_site,
               counter_site_name: n.counter_site_name };
    });
    state.recent = (snap.recent_calls || []).slice();
    state.ticker = snap.ticker || null;
    if (snap.server_time) state.serverOffset = Date.parse(snap.server_time) - Date.now();
    $("board").classList.remove("stale");
    setConn(true);
    $("notice").hidden = true;

    // Calls made while this board was not listening (a network cut, a server restart) are in
    // the snapshot but came as no event: show them as new and announce the recent ones.
    var keys = {};
    state.recent.forEach(function (c) { keys[callKey(c) + "|" + c.at] = true; });
    if (!first) {
      var missed = state.recent.filter(function (c) {
        return !lastRecentKeys[callKey(c) + "|" + c.at];
      }).reverse();  // oldest first
      var fresh = [];
      missed.forEach(function (c) {
        var k = callKey(c);
        if (eventCalls[k] > 0) { eventCalls[k] -= 1; return; }  // it came as an event
        if (serverNow() - Date.parse(c.at) <= MISSED_WINDOW_MS) fresh.push(c);
      });
      fresh.slice(-3).forEach(function (c) { flash(c); announce(c); });
    }
    lastRecentKeys = keys;
    eventCalls = {};
    applyLang();
    render();
  }

  function onEvent(type, d) {
    if (type === "ticket.called" || type === "ticket.recalled") {
      var recall = type === "ticket.recalled";
      var call = { ticket_id: d.ticket_id, number: d.number, counter: d.counter, service: d.service,
                   status: d.status || "called", recall: recall, counter_site: d.counter_site,
                   counter_site_name: d.counter_site_name };
      state.nowServing = state.nowServing.filter(function (n) {
        return n.ticket_id !== d.ticket_id &&
          (n.counter !== d.counter || n.counter_site !== d.counter_site);
      });
      state.nowServing.unshift(call);
      state.recent.unshift({ number: d.number, counter: d.counter, service: d.service, recall: recall,
                             counter_site: d.counter_site, counter_site_name: d.counter_site_name,
                             at: new Date(serverNow()).toISOString() });
      state.recent = state.recent.slice(0, 10);
      var k = callKey(call);
      eventCalls[k] = (eventCalls[k] || 0) + 1;
      flash(call);
      render();
      trimHooks();
      var n = d.number;
      hooks.shownAt[n] = Date.now();  // in the DOM; frameAt: the frame that paints it
      requestAnimationFrame(function () { hooks.frameAt[n] = Date.now(); });
      announce(call);
      return;
    }
    if (type === "ticket.serving") {
      state.nowServing.forEach(function (n) { if (n.ticket_id === d.ticket_id) n.status = "serving"; });
    } else if (type === "ticket.done" || type === "ticket.no_show" || type === "ticket.parked" ||
               type === "ticket.transferred") {
      state.nowServing = state.nowServing.filter(function (n) { return n.ticket_id !== d.ticket_id; });
    } else if (type === "queue.stats") {
      state.services.forEach(function (s) {
        if (s.code !== d.service) return;
        if (d.waiting !== undefined) s.waiting = d.waiting;
        if (d.open_counters !== undefined) s.open_counters = d.open_counters;
      });
    } else if (type === "counter.changed") {
      state.counters.forEach(function (c) { if (c.number === d.number) c.status = d.status; });
    } else if (type === "config.changed") {  // services edited (admin console, import)
      if (hooks.realtime) hooks.realtime.resync();
    } else if (type === "ticker.changed") {
      state.ticker = d.ticker || null;
    } else {
      return;
    }
    render();
  }

  function setConn(online) {
    state.online = online;
    if (online) {
      state.offlineSince = null;
      $("conn").hidden = true;
      return;
    }
    if (!state.offlineSince) state.offlineSince = Date.now();
    $("conn").textContent = t("offline");
    $("conn").hidden = false;
  }

  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = false;
  }

  // --- start ----------------------------------------------------------------------------
  hooks.render = render;
  applyLang();
  $("conn").textContent = t("connecting");
  render();
  tick();
  setInterval(tick, 1000);
  window.addEventListener("resize", render);

  if (!token) {
    notice(t("not_registered"));
    return;
  }
  chime();  // fetch it now: the first call should not wait for it

  var rt = MotcuaRealtime.connect("/display", { token: token }, {
    snapshot: onSnapshot,
    event: onEvent,
    // Offline: the discreet mark at once; the board goes dim if it lasts (see tick).
    // Back online: the mark stays until the fresh snapshot has replaced what is shown.
    status: function (online) { if (!online) setConn(false); },
    // The server turned the token down (unknown or revoked display). Say so on the screen,
    // and ask again now and then: a refusal can also come from a passing server fault.
    refused: function () {
      notice(t("not_registered"));
      setConn(false);
      setTimeout(function () { rt.socket.connect(); }, 30000);
    },
  });
  hooks.realtime = rt;
  setInterval(function () { if (state.online) rt.resync(); }, RESYNC_MS);
})();
