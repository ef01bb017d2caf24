/* Motcua kiosk, optional step: "Nhận tin nhắn khi sắp đến lượt". A large numeric keypad for a
 * Vietnamese mobile number, the consent stated on screen, then the ticket is issued with it.
 * Self-contained: kiosk.js calls MotcuaKioskPhone.prefetch(siteCode) when it reads its services
 * and MotcuaKioskPhone.ask(siteCode, lang) before issuing. ask() answers null at once when the
 * site sends no messages (or it is not known yet: no network wait on the citizen's tap), else a
 * promise that resolves with {phone: "0912345678"} (the citizen agreed) or null (skipped), and
 * rejects when the citizen walked away (the kiosk goes home). The server
 * checks the number again (phonenumbers) and keeps it only until the end of the day. */
(function () {
  "use strict";

  var M = window.Motcua;
  var IDLE_MS = 60000;
  var OFFER_TTL_MS = 60000;
  // Texts from the kiosk's catalog entries "phone_*" (the page's config block).
  var STRINGS = (M.config().strings) || {};
  function texts(lang) {
    var all = STRINGS[lang] || STRINGS.vi || {};
    var s = {};
    Object.keys(all).forEach(function (k) {
      if (k.indexOf("phone_") === 0) s[k.slice(6)] = all[k];
    });
    return s;
  }
  var offer = null;
  var offerAt = 0;

  // Whether the site sends messages is read in the background (when the kiosk loads and
  // refreshes its services), never while a citizen waits: on a thin or cut link the tap that
  // takes a ticket must not wait for this answer.
  var fetching = false;
  function prefetch(site) {
    if (fetching || (offer && Date.now() - offerAt < OFFER_TTL_MS)) return;
    fetching = true;
    M.api("GET", "/api/v1/sites/" + encodeURIComponent(site) + "/notifications")
      .then(function (o) { offer = o; offerAt = Date.now(); },
            function () { /* kept as it was: the next refresh asks again */ })
      .then(function () { fetching = false; });
  }

  function grouped(digits) {
    return digits.replace(/^(\d{1,3})(\d{0,3})(\d{0,4}).*$/, function (_m, a, b, c) {
      return [a, b, c].filter(Boolean).join(" ");
    });
  }

  function looksValid(digits) {
    return /^0[35789]\d{8}$/.test(digits);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function ask(site, lang) {
    prefetch(site);
    if (!offer || !offer.available) return null;  // no step: the ticket is issued at once
    return keypad(offer, lang === "en" ? "en" : "vi");
  }

  function keypad(o, lang) {
    var s = texts(lang);
    return new Promise(function (resolve, reject) {
      var digits = "";
      var layer = el("section", "phone-step");
      layer.id = "screen-phone";
      layer.setAttribute("role", "dialog");
      layer.setAttribute("aria-labelledby", "phone-title");
      var title = el("h2", null, s.title);
      title.id = "phone-title";
      var lead = el("p", "phone-lead", s.lead);
      var shown = el("output", "phone-number", s.placeholder);
      shown.id = "phone-number";
      shown.setAttribute("aria-live", "polite");
      var why = el("p", "phone-invalid", s.invalid);
      why.hidden = true;
      why.setAttribute("role", "alert");
      var pad = el("div", "phone-pad");
      var consent = el("p", "phone-consent", (o.consent && o.consent[lang]) || "");
      consent.id = "phone-consent";
      var actions = el("div", "phone-actions");
      var skip = el("button", "phone-skip", s.skip);
      skip.type = "button";
      skip.id = "phone-skip";
      var agree = el("button", "phone-agree", s.agree);
      agree.type = "button";
      agree.id = "phone-agree";
      agree.disabled = true;
      var timer = null;

      function arm() {
        clearTimeout(timer);
        timer = setTimeout(function () { close(); reject(new Error("idle")); }, IDLE_MS);
      }
      function close() {
        clearTimeout(timer);
        if (layer.parentNode) layer.parentNode.removeChild(layer);
        digits = "";
      }
      function render() {
        shown.textContent = digits ? grouped(digits) : s.placeholder;
        agree.disabled = digits.length !== 10;
        why.hidden = true;
      }
      function key(label, value, cls) {
        var b = el("button", "phone-key" + (cls ? " " + cls : ""), label);
        b.type = "button";
        b.setAttribute("data-key", value);
        b.addEventListener("click", function () {
          arm();
          if (value === "del") digits = digits.slice(0, -1);
          else if (value === "clear") digits = "";
          else if (digits.length < 10) digits += value;
          render();
        });
        pad.appendChild(b);
      }
      ["1", "2", "3", "4", "5", "6", "7", "8", "9"].forEach(function (d) { key(d, d); });
      key(s.clear, "clear", "phone-small");
      key("0", "0");
      key(s.del, "del", "phone-small");

      skip.addEventListener("click", function () { close(); resolve(null); });
      agree.addEventListener("click", function () {
        if (!looksValid(digits)) { why.hidden = false; arm(); return; }
        var phone = digits;
        close();
        resolve({ phone: phone, phone_consent: true });
      });
      actions.appendChild(skip);
      actions.appendChild(agree);
      [title, lead, shown, why, pad, consent, actions].forEach(function (n) { layer.appendChild(n); });
      document.body.appendChild(layer);
      arm();
      render();
    });
  }

  window.MotcuaKioskPhone = { ask: ask, prefetch: prefetch };
})();
