/*
 * Motcua page helpers, shared by every station page (kiosk, counter, rating tablet, display,
 * supervisor, admin, pairing, tracking). Plain ES5, no build step: kiosks and lobby TVs run old
 * browsers. Include it before the page's own script:
 *
 *   <script type="application/json" id="motcua-config">{...}</script>   (rendered by the server)
 *   <script src="/static/js/motcua.js"></script>
 *   <script src=".../page.js"></script>
 *
 * Config block (#motcua-config, one per page; Motcua.config() returns it parsed, {} if absent).
 * Keys the module itself reads; a page adds its own next to them:
 *   lang     "vi" | "en": the page's language (Accept-Language of api(), texts, dates)
 *   csrf     the session's CSRF token (signed-in pages): sent as X-CSRF-Token on changes
 *   token    a device token rendered by the server (rating tablet in kiosk mode): sent as
 *            "Authorization: Bearer"; kiosk and display keep theirs with deviceToken()
 *   t / strings   the page's texts (t: one language; strings: {vi: {...}, en: {...}})
 *
 * Motcua.api(method, path, body, opts) -> Promise
 *   path     the full path ("/api/v1/sites"); body: sent as JSON when not undefined
 *   opts.key          Idempotency-Key header (one per intended action; a retry reuses it)
 *   opts.token        bearer token for this call (null: none); default setup()/config token
 *   opts.contentType  send body as it is with this Content-Type (a YAML file, ...)
 *   opts.timeoutMs    default 15000
 *   opts.retryForMs   keep trying for this long (e.g. 60000) while the server cannot serve:
 *                     no answer, 502, 504, or 503 (its Retry-After honoured, at most 5 s);
 *                     0/absent: one try. Safe only where a repeat does nothing twice: the
 *                     same Idempotency-Key (opts.key), or opts.retryOn limited to 503 (the
 *                     server did nothing). Rejects with the last error once the time is up.
 *   opts.retryOn      function (err) -> bool: which failures to retry (default above)
 *   opts.onRetry      function (err, attempt): called before each new try (show a calm
 *                     "reconnecting" message); opts.onRecover() once a retried call succeeds
 *   Auth: a bearer token when there is one; otherwise the session cookie, with X-CSRF-Token
 *   (config.csrf) on anything but GET/HEAD.
 *   Resolves with the parsed JSON body of a 2xx answer (null for 204 or an empty body).
 *   Rejects with an Error carrying:
 *     status   HTTP status; 0 when no answer came (network down, timeout)
 *     code     the server's error.code; else "network", "timeout" or "http_<status>"
 *     message  the server's error.message in the page's language ({vi, en} objects are picked
 *              from); "" when the server gave none: the page chooses its own fallback text
 *     fields   error.fields (per-field validation messages) or null
 *     data     the parsed body, if any
 *
 * Also: $(id), el(tag, cls|attrs, text|children), each(nodes, fn), fmt(template, vars),
 * pick({vi, en}, lang), translator(strings, getLang), newKey(), localTime(iso, opts),
 * localDate(iso, opts), num(x, lang, digits),
 * localDay(iso, timeZone), deviceToken(kind), storeDeviceToken(kind, token), setup(opts).
 */
(function (global) {
  "use strict";

  var doc = global.document;
  var settings = { lang: null, token: undefined, timeoutMs: 15000 };
  var configCache = null;

  function config() {
    if (configCache) return configCache;
    var node = doc.getElementById("motcua-config");
    var c = null;
    if (node) {
      try { c = JSON.parse(node.textContent || "{}"); } catch (e) { c = null; }
    }
    configCache = c && typeof c === "object" ? c : {};
    return configCache;
  }

  /** Change what api() uses by default: {lang, token, timeoutMs}. */
  function setup(opts) {
    for (var k in opts) if (Object.prototype.hasOwnProperty.call(opts, k)) settings[k] = opts[k];
  }

  function lang() {
    return settings.lang || config().lang || doc.documentElement.lang || "vi";
  }

  function csrf() { return config().csrf || null; }

  // --- DOM and text ---------------------------------------------------------------------

  function $(id) { return doc.getElementById(id); }

  function each(nodes, fn) { Array.prototype.forEach.call(nodes, fn); }

  /** el("li", "row", "A001") or el("tr", {"data-code": "x", text: "..", onclick: fn}, [children]). */
  function el(tag, cls, content) {
    var e = doc.createElement(tag);
    if (cls && typeof cls === "object") {
      for (var k in cls) {
        if (!Object.prototype.hasOwnProperty.call(cls, k)) continue;
        if (k === "text") e.textContent = cls[k] === null || cls[k] === undefined ? "" : String(cls[k]);
        else if (k === "onclick") e.addEventListener("click", cls[k]);
        else e.setAttribute(k, cls[k]);
      }
    } else if (cls) {
      e.className = cls;
    }
    if (content instanceof Array) {
      for (var i = 0; i < content.length; i++) if (content[i]) e.appendChild(content[i]);
    } else if (content !== undefined && content !== null) {
      e.textContent = String(content);
    }
    return e;
  }

  /** "Quầy {number}" with {number: 3}; a name missing from vars is left as it is. */
  function fmt(template, vars) {
    vars = vars || {};
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return vars[k] === undefined || vars[k] === null ? m : String(vars[k]);
    });
  }

  /** The text of a {vi, en} object in a language, Vietnamese when that one is missing. */
  function pick(obj, l) {
    if (!obj) return "";
    if (typeof obj === "string") return obj;
    return obj[l || lang()] || obj.vi || "";
  }

  /** t(key[, lang]) over {vi: {...}, en: {...}}: the language asked, else Vietnamese, else key. */
  function translator(strings, getLang) {
    return function (key, l) {
      var L = l || (getLang ? getLang() : lang());
      return (strings[L] && strings[L][key]) || (strings.vi && strings.vi[key]) || key;
    };
  }

  function newKey() {
    var c = global.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  // --- dates in the site's time zone ----------------------------------------------------

  /** The wall-clock fields of an instant in a time zone (the device's own zone when the name
   *  is unknown): {year, month, day, hour, minute, second} as 2-digit strings (4 for year). */
  function zoneParts(d, timeZone) {
    var o = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
              minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    var parts;
    try {
      if (timeZone) o.timeZone = timeZone;
      parts = new Intl.DateTimeFormat("en-GB", o).formatToParts(d);
    } catch (e) {  // an unknown zone name: the device's own zone is better than nothing
      delete o.timeZone;
      parts = new Intl.DateTimeFormat("en-GB", o).formatToParts(d);
    }
    var out = {};
    for (var i = 0; i < parts.length; i++) out[parts[i].type] = parts[i].value;
    if (out.hour === "24") out.hour = "00";
    return out;
  }

  /** "09:30" (opts.seconds: "09:30:05"; opts.date: with "18/05"; opts.year: with
   *  "18/05/2026") in opts.timeZone. Vietnamese writes the time first ("09:30 18/05/2026",
   *  as the printed slips do), English the date ("18/05/2026, 09:30"); "" without a time.
   *  The server's formatter is server/core/formats.py. */
  function localTime(iso, opts) {
    if (!iso) return "";
    opts = opts || {};
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var p = zoneParts(d, opts.timeZone);
    var hm = p.hour + ":" + p.minute + (opts.seconds ? ":" + p.second : "");
    if (!opts.date && !opts.year) return hm;
    var day = p.day + "/" + p.month + (opts.year ? "/" + p.year : "");
    return (opts.lang || lang()) === "en" ? day + ", " + hm : hm + " " + day;
  }

  /** "18/05/2026": the day of an instant in opts.timeZone (both languages); "" without. A
   *  plain day "2026-05-18" is written the same way, never as it is. */
  function localDate(iso, opts) {
    if (!iso) return "";
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
    if (m) return m[3] + "/" + m[2] + "/" + m[1];
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var p = zoneParts(d, (opts || {}).timeZone);
    return p.day + "/" + p.month + "/" + p.year;
  }

  /** A number in text: at most `digits` decimals (1 by default), trailing zeros dropped,
   *  thousands grouped: Vietnamese "1,9" "4.500", English "1.9" "4,500"; "–" for no value.
   *  Written out (not Intl) so every browser gives the same as server/core/formats.py. */
  function num(x, l, digits) {
    if (x === null || x === undefined || x === "") return "–";
    var v = Number(x);
    if (!isFinite(v)) return "–";
    digits = digits === undefined ? 1 : digits;
    var s = Math.abs(v).toFixed(digits);
    var neg = v < 0 && Number(s) !== 0;
    var dot = s.indexOf(".");
    var whole = dot < 0 ? s : s.slice(0, dot);
    var frac = dot < 0 ? "" : s.slice(dot + 1).replace(/0+$/, "");
    var en = (l || lang()) === "en";
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, en ? "," : ".");
    return (neg ? "-" : "") + whole + (frac ? (en ? "." : ",") + frac : "");
  }

  /** "2025-05-18": the day of an instant (now without one) in a time zone. */
  function localDay(iso, timeZone) {
    var d = iso ? new Date(iso) : new Date();
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
    } catch (e) { return (iso || d.toISOString()).slice(0, 10); }
  }

  // --- device token (kiosk, display) ----------------------------------------------------

  function tokenKey(kind) { return "motcua." + kind + ".token"; }

  function storeDeviceToken(kind, token) {
    try { global.localStorage.setItem(tokenKey(kind), token); } catch (e) { /* private mode */ }
  }

  /** The device's token: ?token= (kept in localStorage so a reboot returns to the same device,
   *  and taken out of the address bar), else the one kept; null when there is none. */
  function deviceToken(kind) {
    var search = global.location.search;
    var params = global.URLSearchParams ? new global.URLSearchParams(search) : null;
    var m = params ? null : /[?&]token=([^&#]*)/.exec(search);
    var fromUrl = params ? params.get("token") : m ? decodeURIComponent(m[1].replace(/\+/g, " ")) : "";
    if (fromUrl) {
      storeDeviceToken(kind, fromUrl);
      var rest;
      if (params) {
        params["delete"]("token");
        rest = params.toString();
      } else {
        rest = search.slice(1).split("&").filter(function (p) {
          return p && p.split("=")[0] !== "token";
        }).join("&");
      }
      if (global.history && global.history.replaceState) {
        global.history.replaceState(null, "", global.location.pathname + (rest ? "?" + rest : ""));
      }
      return fromUrl;
    }
    try { return global.localStorage.getItem(tokenKey(kind)); } catch (e) { return null; }
  }

  // --- the API --------------------------------------------------------------------------

  function apiError(status, code, message, body) {
    var err = new Error(message || "");
    err.status = status;
    err.code = code;
    err.fields = (body && body.error && body.error.fields) || null;
    err.data = body === undefined ? null : body;
    return err;
  }

  function retryable(err) {
    return err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504;
  }

  function api(method, path, body, opts) {
    opts = opts || {};
    if (!opts.retryForMs) return apiOnce(method, path, body, opts);
    var until = Date.now() + opts.retryForMs;
    var attempt = 0;
    var retryOn = opts.retryOn || retryable;
    return new Promise(function (resolve, reject) {
      (function again() {
        attempt += 1;
        apiOnce(method, path, body, opts).then(function (data) {
          if (attempt > 1 && opts.onRecover) opts.onRecover();
          resolve(data);
        }, function (err) {
          if (!retryOn(err) || Date.now() >= until) { reject(err); return; }
          // Retry-After when the server gives one (at most 5 s), else 0.5, 1, 2, 3, 3... s.
          var after = parseFloat(err.retryAfter);
          var wait = after > 0 ? Math.min(after, 5) * 1000 : Math.min(500 * Math.pow(2, attempt - 1), 3000);
          wait = Math.max(0, Math.min(wait, until - Date.now()));
          if (opts.onRetry) opts.onRetry(err, attempt);
          setTimeout(again, wait);
        });
      })();
    });
  }

  function apiOnce(method, path, body, opts) {
    method = method.toUpperCase();
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      var done = false;
      function fail(err) { if (!done) { done = true; reject(err); } }
      xhr.open(method, path, true);
      xhr.timeout = opts.timeoutMs || settings.timeoutMs;
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Accept-Language", lang());
      var token = opts.token !== undefined ? opts.token
        : settings.token !== undefined ? settings.token : (config().token || null);
      if (token) {
        xhr.setRequestHeader("Authorization", "Bearer " + token);
      } else if (method !== "GET" && method !== "HEAD") {
        var c = csrf();
        if (c) xhr.setRequestHeader("X-CSRF-Token", c);
      }
      if (opts.key) xhr.setRequestHeader("Idempotency-Key", opts.key);
      var payload = null;
      if (body !== undefined) {
        xhr.setRequestHeader("Content-Type", opts.contentType || "application/json");
        payload = opts.contentType ? body : JSON.stringify(body);
      }
      xhr.onload = function () {
        if (done) return;
        var data = null;
        var parsed = true;
        if (xhr.status !== 204 && xhr.responseText) {
          try { data = JSON.parse(xhr.responseText); } catch (e) { parsed = false; }
        }
        if (xhr.status >= 200 && xhr.status < 300) { done = true; resolve(data); return; }
        var e = data && data.error;
        var err = apiError(xhr.status, (e && e.code) || "http_" + xhr.status,
                           e ? pick(e.message) : "", parsed ? data : undefined);
        err.retryAfter = xhr.getResponseHeader("Retry-After");
        fail(err);
      };
      xhr.onerror = function () { fail(apiError(0, "network", "")); };
      xhr.ontimeout = function () { fail(apiError(0, "timeout", "")); };
      xhr.onabort = function () { fail(apiError(0, "network", "")); };
      xhr.send(payload);
    });
  }

  global.Motcua = {
    config: config,
    setup: setup,
    lang: lang,
    api: api,
    $: $,
    el: el,
    each: each,
    fmt: fmt,
    pick: pick,
    translator: translator,
    newKey: newKey,
    localTime: localTime,
    localDate: localDate,
    num: num,
    localDay: localDay,
    deviceToken: deviceToken,
    storeDeviceToken: storeDeviceToken,
  };
})(window);
