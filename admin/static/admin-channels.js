/* Motcua admin console, the "message channels" tab: each channel's settings at the chosen site
   (own or the province's), a test message per channel, and the messages that could not be
   delivered with "retry". Over /api/v1/sites/{site}/channels, /dead-letters (tags
   notifications, webhooks); phone numbers arrive masked from the server. */
(function () {
  "use strict";

  var M = window.Motcua;
  var A = M.config();
  var T = A.t;
  var isAdmin = A.role === "admin";
  var $ = M.$;
  var el = M.el;
  var api = M.api;
  var tabButton = document.querySelector('[data-tab="channels"]');
  if (!tabButton || !$("tab-channels")) return;

  function fmt(key, params) { return M.fmt(T[key] || key, params); }
  function site() { return encodeURIComponent(window.MotcuaAdmin.state.site); }
  function flash(text) { $("flash").textContent = text; }
  function errText(err) { return err.message || String(err.status); }
  function td(text) { return el("td", { text: text === null || text === undefined ? "" : String(text) }); }
  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + " " + two(d.getDate()) + "/" +
      two(d.getMonth() + 1) + "/" + d.getFullYear();
  }
  function button(label, aria, onclick) {
    var b = el("button", { type: "button", "class": "secondary", text: label, "aria-label": aria });
    b.addEventListener("click", onclick);
    return b;
  }

  function edit(ch) {
    var form = $("channel-form");
    form.hidden = false;
    form.querySelector(".form-title").textContent = ch ? fmt("channel_edit", { name: ch.channel }) : T.channel_new;
    form.querySelectorAll("[data-error-for]").forEach(function (p) { p.textContent = ""; });
    form.querySelector(".form-error").textContent = "";
    $("channel-name").value = ch ? ch.channel : "sms";
    $("channel-name").disabled = !!ch;
    $("channel-enabled").checked = ch ? ch.enabled : true;
    $("channel-config").value = JSON.stringify(ch ? ch.config : {}, null, 2);
    $("channel-templates").value = JSON.stringify(ch ? ch.templates : {}, null, 2);
    form.querySelector("[data-cancel]").onclick = function () { form.hidden = true; };
    form.onsubmit = function (ev) {
      ev.preventDefault();
      var body = { enabled: $("channel-enabled").checked };
      var bad = false;
      ["config", "templates"].forEach(function (f) {
        try { body[f] = JSON.parse($("channel-" + f).value || "{}"); }
        catch (e) { $("channel-" + f + "-error").textContent = T.channel_json_invalid; bad = true; }
      });
      if (bad) return;
      api("PUT", "/api/v1/sites/" + site() + "/channels/" + $("channel-name").value, body).then(function () {
        form.hidden = true;
        flash(T.saved);
        return load();
      }).catch(function (err) {
        form.querySelector(".form-error").textContent = fmt("error_generic", { msg: errText(err) });
      });
    };
  }

  function test(ch) {
    var name = ch.channel;
    // A webhook's test goes to its subscription's receiver; the others to the address typed.
    var to = name === "webhook" ? String(ch.config.url || "") : $("channel-test-to").value.trim();
    if (!to) { $("channel-test-to").focus(); return; }
    api("POST", "/api/v1/sites/" + site() + "/channels/" + name + "/test",
        { to: to, lang: A.lang }).then(function (r) {
      flash(fmt("test_queued", { name: name, to: r.to }));
      setTimeout(loadDead, 3000);
    }).catch(function (err) { flash(fmt("error_generic", { msg: errText(err) })); });
  }

  function loadChannels() {
    return api("GET", "/api/v1/sites/" + site() + "/channels").then(function (r) {
      var body = $("channel-rows");
      body.innerHTML = "";
      r.channels.forEach(function (ch) {
        var actions = el("td");
        if (isAdmin) {
          actions.appendChild(button(T.edit, fmt("edit_name", { name: ch.channel }), function () { edit(ch); }));
          actions.appendChild(button(T.test_send, fmt("test_send_name", { name: ch.channel }), function () { test(ch); }));
        }
        body.appendChild(el("tr", {}, [td(ch.channel), td(ch.enabled ? T.enabled : T.inactive),
          td(ch.inherited ? T.inherited : T.own),
          el("td", { "class": "change", text: JSON.stringify(ch.config) }), actions]));
      });
    });
  }

  function loadDead() {
    return api("GET", "/api/v1/sites/" + site() + "/dead-letters").then(function (r) {
      var body = $("dead-rows");
      body.innerHTML = "";
      if (!r.dead_letters.length) {
        body.appendChild(el("tr", {}, [el("td", { colspan: "7", text: T.dead_none })]));
      }
      r.dead_letters.forEach(function (d) {
        var actions = el("td");
        if (isAdmin) {
          actions.appendChild(button(T.retry, fmt("retry_name", { kind: d.kind, to: d.to }), function () {
            api("POST", "/api/v1/sites/" + site() + "/dead-letters/" + encodeURIComponent(d.id) + "/retry")
              .then(function () { flash(T.retry_queued); return loadDead(); })
              .catch(function (err) { flash(fmt("error_generic", { msg: errText(err) })); });
          }));
        }
        body.appendChild(el("tr", {}, [td(when(d.failed_at)), td(d.channel), td(d.kind), td(d.to),
          td(d.attempts), td(d.error), actions]));
      });
    });
  }

  function load() {
    if (!window.MotcuaAdmin || !window.MotcuaAdmin.state.site) return Promise.resolve();
    return Promise.all([loadChannels(), loadDead()])
      .catch(function (err) { flash(fmt("error_generic", { msg: errText(err) })); });
  }

  $("channel-new").addEventListener("click", function () { edit(null); });
  tabButton.addEventListener("click", load);
  $("site-pick").addEventListener("change", function () {
    if (!$("tab-channels").hidden) load();
  });
})();
