/* Motcua kiosk, optional step: "Nhận tin nhắn khi sắp đến lượt". A large numeric keypad for a
 * Vietnamese mobile number, the consent stated on screen, then the ticket is issued with it.
 * Self-contained: kiosk.js calls MotcuaKioskPhone.ask(siteCode, lang) before issuing; it
 * resolves with {phone: "0912345678"} (the citizen agreed), or null (skipped, or the site sends
 * no messages), and rejects when the citizen walked away (the kiosk goes home). The server
 * checks the number again (phonenumbers) and keeps it only until the end of the day. */
(function () {
  "use strict";

  var M = window.Motcua;
  var IDLE_MS = 60000;
  var OFFER_TTL_MS = 60000;
  var STRINGS = {
    vi: {
      title: "Nhận tin nhắn khi sắp đến lượt",
      lead: "Nhập số điện thoại di động nếu Quý khách muốn nhận tin nhắn. Không bắt buộc.",
      skip: "Bỏ qua, lấy số",
      agree: "Đồng ý và lấy số",
      del: "Xóa",
      clear: "Xóa hết",
      invalid: "Số điện thoại chưa đúng: số di động có 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09.",
      placeholder: "0__ ___ ____",
    },
    en: {
      title: "Get a message when your turn is near",
      lead: "Type a mobile number if you would like a message. This is optional.",
      skip: "Skip, take a ticket",
      agree: "Agree and take a ticket",
      del: "Delete",
      clear: "Clear",
      invalid: "This number is not right: a mobile number has 10 digits and starts with 03, 05, 07, 08 or 09.",
      placeholder: "0__ ___ ____",
    },
  };
  var offer = null;
  var offerAt = 0;

  function fetchOffer(site) {
    if (offer && Date.now() - offerAt < OFFER_TTL_MS) return Promise.resolve(offer);
    return M.api("GET", "/api/v1/sites/" + encodeURIComponent(site) + "/notifications")
      .then(function (o) { offer = o; offerAt = Date.now(); return o; })
      .catch(function () { return null; });  // no offer now: the ticket is issued without
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
    return fetchOffer(site).then(function (o) {
      if (!o || !o.available) return null;
      return keypad(o, lang === "en" ? "en" : "vi");
    });
  }

  function keypad(o, lang) {
    var s = STRINGS[lang];
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

  window.MotcuaKioskPhone = { ask: ask };
})();
