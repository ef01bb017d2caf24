/* Motcua wall display: the call board of the lobby TV, with a chime and a spoken call.
 *
 * State comes from the /display namespace (snapshot + seq, see /static/js/realtime.js): a
 * snapshot replaces everything shown; events change it one by one. A call is on the board as
 * soon as its event arrives; its announcement follows, played one at a time from MP3 pieces made
 * on the server (/display/audio/<tag>/...): the number piece once per call, the counter pieces
 * and the chime fetched once and kept (this page's memory, the service worker's audio cache).
 * A piece that does not come in time is skipped: the number is shown and flashes anyway.
 * The last board is kept in localStorage: a TV restarted during a network cut (its page from
 * the service worker's cache, /sw.js) shows it, dimmed, with the offline mark.
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
  // Calls missed while offline (a cut, a restart) are announced if made this recently: each
  // one when they are few, else one announcement and the list on screen.
  var MISSED_WINDOW_MS = 30 * 60 * 1000;
  var MISSED_EACH_MAX = 5;
  var MISSED_LIST_MS = 90000;       // the list of missed calls stays on screen this long
  var FETCH_MS = 8000;              // a piece of sound not here by then is skipped
  var SAVE_KEY = "motcua.display.board";
  var AUDIO = cfg.audio || {};
  var QUEUE_MAX = 12;
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
  var hooks = { shownAt: {}, frameAt: {}, announced: [], played: [], outcomes: [], missedLists: [],
                state: state };
  window.MotcuaDisplay = hooks;

  function trimHooks() {  // a TV runs for days: keep these small
    if (hooks.announced.length > 200) hooks.announced.splice(0, 100);
    if (hooks.played.length > 200) hooks.played.splice(0, 100);
    if (hooks.outcomes.length > 200) hooks.outcomes.splice(0, 100);
    if (Object.keys(hooks.shownAt).length > 500) { hooks.shownAt = {}; hooks.frameAt = {}; }
  }

  var $ = M.$;
  function callKey(c) { return c.number + "|" + c.counter; }
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
  var kept = new Map();       // path -> Promise<object URL | null>: chime, counters (all day)
  var blobUrls = new Map();   // path -> Promise<object URL | null>: number pieces (recent ones)

  function fetchAudio(path, auth, keep) {
    var store = keep ? kept : blobUrls;
    if (store.has(path)) return store.get(path);
    var headers = auth ? { "Authorization": "Bearer " + token } : {};
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_MS) : null;
    var p = fetch(path, { headers: headers, signal: ctl ? ctl.signal : undefined }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.blob();
    }).then(function (b) {
      clearTimeout(timer);
      return URL.createObjectURL(b);
    }).catch(function () {
      clearTimeout(timer);
      store.delete(path);  // not kept: the next call tries again (an engine may be back)
      return null;
    });
    store.set(path, p);
    if (blobUrls.size > 40) {  // forget the oldest number pieces
      var oldest = blobUrls.keys().next().value;
      var old = blobUrls.get(oldest);
      blobUrls.delete(oldest);
      old.then(function (u) { if (u) setTimeout(function () { URL.revokeObjectURL(u); }, 60000); });
    }
    return p;
  }

  var audioBase = "/display/audio/" + encodeURIComponent(AUDIO.tag || "0") + "/";
  function chime() { return OPTS.chime === false ? null : fetchAudio(audioBase + "chime.mp3", false, true); }
  function piece(v, kind, value, keep) {
    return fetchAudio(audioBase + v + "/" + kind + "/" + encodeURIComponent(value) + ".mp3", true, keep);
  }
  hooks.audioBase = audioBase;

  function enqueue(key, parts) {
    for (var i = 0; i < queue.length; i++) if (queue[i].key === key) return;  // already waiting
    queue.push({ key: key, parts: parts });
    while (queue.length > QUEUE_MAX) queue.shift();
    pump();
  }

  function announce(call) {
    var parts = [];
    var c = chime();
    if (c) parts.push(c);
    if (AUDIO.speech !== false && NUMBER_RE.test(call.number) && call.counter >= 1 && call.counter <= 999) {
      for (var r = 0; r < repeat; r++) {
        voices.forEach(function (v) {
          parts.push(piece(v, "call", call.number, false));
          parts.push(piece(v, "counter", String(call.counter), true));
        });
      }
    }
    hooks.announced.push({ number: call.number, counter: call.counter, recall: !!call.recall, at: Date.now() });
    enqueue(callKey(call), parts);
  }

  // The counter pieces and the chime are the same all day: fetched once, just after the board
  // is up (one at a time, so the link stays free for calls), and kept.
  var prefetched = false;
  function prefetch() {
    if (prefetched) return;
    prefetched = true;
    // The service worker keeps this page, its files and the sound pieces: a TV that restarts
    // while the link is down shows its last board instead of a browser error page. Registered
    // now, not at start: its files would share a thin link with the board's first snapshot.
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js").catch(function () { /* http on a LAN address */ });
    }
    chime();
    if (AUDIO.speech === false) return;
    var todo = [];
    state.counters.forEach(function (c) {
      var n = Number(c.number);
      if (n >= 1 && n <= 999) voices.forEach(function (v) { todo.push([v, String(n)]); });
    });
    (function next() {
      var item = todo.shift();
      if (!item) return;
      piece(item[0], "counter", item[1], true).then(function () { setTimeout(next, 200); });
    })();
  }

  // Many calls missed while offline: one announcement ("các số sau đã được mời…"), the list on
  // the screen.
  var missedTimer = null;
  function announceMissed(calls) {
    var box = $("missed-list");
    box.textContent = "";
    calls.forEach(function (c) {
      var li = el("li", null);
      li.appendChild(el("b", null, c.number));
      li.appendChild(el("span", null, " ➜ " + t("counter") + " " + c.counter + (where(c) ? " " + where(c) : "")));
      box.appendChild(li);
    });
    $("missed").hidden = false;
    clearTimeout(missedTimer);
    missedTimer = setTimeout(function () { $("missed").hidden = true; }, MISSED_LIST_MS);
    var parts = [];
    var c = chime();
    if (c) parts.push(c);
    if (AUDIO.speech !== false) voices.forEach(function (v) { parts.push(piece(v, "missed", "all", true)); });
    hooks.missedLists.push({ numbers: calls.map(function (x) { return x.number; }), at: Date.now() });
    hooks.announced.push({ missed: calls.length, at: Date.now() });
    enqueue("missed|" + Date.now(), parts);
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
  var restoredKeys = {};  // number|counter on the board kept from before a restart

  function onSnapshot(snap) {
    var first = state.snapshots === 0 && !restored;
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
        if (restoredKeys[k]) return;  // it was on the board before this page started
        if (serverNow() - Date.parse(c.at) <= MISSED_WINDOW_MS) fresh.push(c);
      });
      if (fresh.length > MISSED_EACH_MAX) {
        flash(fresh[fresh.length - 1]);
        announceMissed(fresh);
      } else {
        fresh.forEach(function (c) { flash(c); announce(c); });
      }
    }
    lastRecentKeys = keys;
    eventCalls = {};
    restoredKeys = {};
    applyLang();
    render();
    save();
    setTimeout(prefetch, first ? 1500 : 0);
  }

  // --- the last board, kept for a restart without the server --------------------------------
  var saveTimer = null;
  function save() {
    if (saveTimer) return;
    saveTimer = setTimeout(function () {
      saveTimer = null;
      try {
        localStorage.setItem(SAVE_KEY, JSON.stringify({
          site: state.site, services: state.services, counters: state.counters,
          nowServing: state.nowServing, recent: state.recent, ticker: state.ticker,
          savedAt: Date.now(),
        }));
      } catch (e) { /* storage full or off: the board works without it */ }
    }, 500);
  }
  function restore() {
    try {
      var saved = JSON.parse(localStorage.getItem(SAVE_KEY) || "null");
      if (!saved || !saved.site) return false;
      state.site = saved.site;
      state.services = saved.services || [];
      state.counters = saved.counters || [];
      state.nowServing = saved.nowServing || [];
      state.recent = saved.recent || [];
      state.ticker = saved.ticker || null;
      // What was on the board then: a reconnect announces only what came after.
      // The times of calls that came as events are this TV's estimates, not the server's.
      state.recent.forEach(function (c) { restoredKeys[callKey(c)] = true; });
      return true;
    } catch (e) {
      return false;
    }
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
      save();
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
    save();
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
  var restored = restore();
  applyLang();
  $("conn").textContent = t(restored ? "saved" : "connecting");
  render();
  tick();
  setInterval(tick, 1000);
  window.addEventListener("resize", render);

  if (!token) {
    notice(t("not_registered"));
    return;
  }

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
