/* Motcua admin console: one page over /api/v1/admin/... Validation happens on the server;
   its per-field messages are shown next to each input. */
(function () {
  "use strict";

  var M = window.Motcua;
  var A = M.config();
  var T = A.t;
  var isAdmin = A.role === "admin";
  var state = { sites: [], site: null, services: [], counters: [], users: [] };

  var $ = M.$;
  var el = M.el;
  function fmt(key, params) { return M.fmt(T[key] || key, params); }
  // The server's own words, else the HTTP status (or the script's error).
  function errText(err) { return err.message || String(err.status); }
  function td(text) { return el("td", { text: text === null || text === undefined ? "" : String(text) }); }
  function name(n) { return M.pick(n, A.lang); }
  function flash(text) {
    $("flash").textContent = text;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { $("flash").textContent = ""; }, 6000);
  }

  var api = M.api;
  function site() { return encodeURIComponent(state.site); }
  function currentSite() {
    return state.sites.filter(function (s) { return s.code === state.site; })[0] || null;
  }
  function fmtTime(iso) {
    if (!iso) return T.never;
    var s = currentSite();
    return M.localTime(iso, { timeZone: (s && s.timezone) || "Asia/Ho_Chi_Minh", lang: A.lang,
                              year: true, seconds: true });
  }

  // --- forms ------------------------------------------------------------------------------
  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (p) { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    var fe = form.querySelector(".form-error");
    if (fe) fe.textContent = "";
  }
  function showErrors(form, err) {
    var fields = err.fields || null;
    var fe = form.querySelector(".form-error");
    if (!fields) { if (fe) fe.textContent = fmt("error_generic", { msg: errText(err) }); return; }
    var first = null;
    Object.keys(fields).forEach(function (f) {
      var p = form.querySelector('[data-error-for="' + f + '"]');
      var input = form.querySelector('[data-field="' + f + '"]');
      if (p) p.textContent = fields[f];
      else if (fe) fe.textContent += f + ": " + fields[f] + " ";
      if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
    });
    if (fe && !fe.textContent) fe.textContent = T.error_fix;
    if (first) first.focus();
  }
  function readForm(form) {
    var out = {};
    form.querySelectorAll("[data-field]").forEach(function (i) {
      var f = i.dataset.field, type = i.dataset.type;
      if (i.disabled) return;
      if (type === "bool") out[f] = i.checked;
      else if (type === "multi") out[f] = Array.prototype.filter.call(i.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
      else if (type === "int") {
        var v = i.value.trim();
        out[f] = v === "" ? null : (/^-?\d+$/.test(v) ? parseInt(v, 10) : v);
      } else { var s = i.value.trim(); out[f] = s === "" ? null : s; }
    });
    return out;
  }
  function fill(form, values) {
    form.querySelectorAll("[data-field]").forEach(function (i) {
      var f = i.dataset.field, v = values[f];
      if (i.dataset.type === "bool") i.checked = v === undefined ? true : !!v;
      else if (i.dataset.type === "multi") Array.prototype.forEach.call(i.options, function (o) { o.selected = (v || []).indexOf(o.value) >= 0; });
      else if (v !== undefined) i.value = v === null ? "" : v;
    });
  }
  function openForm(form, title, values, submit) {
    clearErrors(form);
    form.reset();
    form.querySelector(".form-title").textContent = title;
    fill(form, values || {});
    form.hidden = false;
    form.onsubmit = function (ev) {
      ev.preventDefault();
      clearErrors(form);
      submit(readForm(form)).then(function () {
        form.hidden = true;
        flash(T.saved);
      }).catch(function (err) { showErrors(form, err); });
    };
    var cancel = form.querySelector("[data-cancel]");
    if (cancel) cancel.onclick = function () { form.hidden = true; };
    form.scrollIntoView({ block: "nearest" });
    var first = form.querySelector("[data-field]:not([disabled])");
    if (first) first.focus();
  }
  function actionButton(label, aria, onclick, cls) {
    return el("button", { type: "button", text: label, "aria-label": aria, "class": cls || "secondary", onclick: onclick });
  }

  // --- tabs -------------------------------------------------------------------------------
  var loaders = {};
  function showTab(tab) {
    document.querySelectorAll('[role="tab"]').forEach(function (b) {
      var on = b.dataset.tab === tab;
      b.setAttribute("aria-selected", on ? "true" : "false");
      $("tab-" + b.dataset.tab).hidden = !on;
    });
    $("site-pick-box").hidden = tab === "users" || tab === "audit";
    state.tab = tab;
    if (loaders[tab]) loaders[tab]();
  }
  document.querySelectorAll('[role="tab"]').forEach(function (b) {
    b.addEventListener("click", function () { showTab(b.dataset.tab); });
  });

  // --- sites ------------------------------------------------------------------------------
  function hoursFromInputs() {
    if (!$("site-hours-on").checked) return null;
    var out = {};
    document.querySelectorAll("[data-hours]").forEach(function (i) {
      var parts = i.value.split(",").map(function (x) { return x.trim(); }).filter(Boolean);
      out[i.dataset.hours] = parts.map(function (p) {
        var m = /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(p);
        if (!m) return [p, p];  // the server names the mistake
        return [m[1].padStart(5, "0"), m[2].padStart(5, "0")];
      });
    });
    return out;
  }
  function hoursToInputs(hours) {
    $("site-hours-on").checked = !!hours;
    document.querySelectorAll("[data-hours]").forEach(function (i) {
      var iv = (hours && hours[i.dataset.hours]) || [];
      i.value = iv.map(function (x) { return x[0] + "-" + x[1]; }).join(", ");
    });
  }
  function loadSites() {
    return api("GET", "/api/v1/admin/sites").then(function (sites) {
      state.sites = sites;
      var pick = $("site-pick");
      var keep = state.site;
      pick.innerHTML = "";
      sites.forEach(function (s) {
        pick.appendChild(el("option", { value: s.code, text: "\u00a0\u00a0".repeat(s.depth) + name(s.name) + " (" + s.code + ")" }));
      });
      if (!keep || !sites.some(function (s) { return s.code === keep; })) {
        var first = sites.filter(function (s) { return s.kind !== "province"; })[0] || sites[0];
        keep = first ? first.code : null;
      }
      state.site = keep;
      if (keep) pick.value = keep;
      renderTree();
      configLinks();
      var parent = $("site-parent");
      parent.innerHTML = "";
      parent.appendChild(el("option", { value: "", text: T.none }));
      sites.forEach(function (s) { parent.appendChild(el("option", { value: s.code, text: name(s.name) + " (" + s.code + ")" })); });
      var us = $("user-sites");
      if (us) {
        us.innerHTML = "";
        sites.forEach(function (s) { us.appendChild(el("option", { value: s.code, text: name(s.name) + " (" + s.code + ")" })); });
      }
    });
  }
  function renderTree() {
    var ul = $("site-tree");
    ul.innerHTML = "";
    state.sites.forEach(function (s) {
      var li = el("li", { "class": "depth-" + s.depth, "data-code": s.code }, [
        el("strong", { text: name(s.name) }),
        el("span", { "class": "muted", text: " " + s.code + " · " + T["kind_" + s.kind] + " · " + s.timezone + (s.agency_code ? " · " + s.agency_code : "") }),
      ]);
      li.style.marginLeft = (s.depth * 1.8) + "rem";
      if (isAdmin) li.appendChild(actionButton(T.edit, fmt("edit_name", { name: name(s.name) }), function () { editSite(s); }));
      ul.appendChild(li);
    });
  }
  function siteBody(v, before) {
    v.opening_hours = hoursFromInputs();
    // Sent when set, or to clear what the site had: nothing else changes for a site without.
    // The admin API keeps what a site has when the field is absent; {} brings the defaults back.
    var booking = bookingFromInputs();
    if (booking !== null) v.booking = booking;
    else if (before && before.booking) v.booking = {};
    return v;
  }
  // The site's booking settings (server/rules/fields.py BOOKING_SETTINGS): an empty box takes
  // the default shown in it; none set sends null (all defaults).
  function bookingFromInputs() {
    var out = {}, any = false;
    document.querySelectorAll("[data-booking]").forEach(function (i) {
      var v = i.value.trim();
      if (v === "") return;
      out[i.dataset.booking] = /^\d+$/.test(v) ? parseInt(v, 10) : v;
      any = true;
    });
    return any ? out : null;
  }
  function bookingToInputs(b) {
    document.querySelectorAll("[data-booking]").forEach(function (i) {
      var v = b ? b[i.dataset.booking] : undefined;
      i.value = v === undefined || v === null ? "" : v;
    });
  }
  function editSite(s) {
    var form = $("site-form");
    openForm(form, fmt("edit_name", { name: name(s.name) }), {
      code: s.code, name_vi: s.name.vi, name_en: s.name.en, kind: s.kind, parent: s.parent || "",
      timezone: s.timezone, agency_code: s.agency_code, address: s.address, phone: s.phone,
      interleave_priority: s.interleave.priority, interleave_normal: s.interleave.normal,
      call_starts_service: s.call_starts_service,
    }, function (v) {
      delete v.code;
      return api("PUT", "/api/v1/admin/sites/" + encodeURIComponent(s.code), siteBody(v, s)).then(loadSites);
    });
    $("site-code").disabled = true;
    hoursToInputs(s.opening_hours);
    bookingToInputs(s.booking);
  }
  $("site-new").addEventListener("click", function () {
    var form = $("site-form");
    $("site-code").disabled = false;
    openForm(form, T.new_site, { kind: "centre", timezone: "Asia/Ho_Chi_Minh", interleave_priority: 1, interleave_normal: 2 }, function (v) {
      return api("POST", "/api/v1/admin/sites", siteBody(v)).then(function (created) {
        state.site = created.code;
        return loadSites();
      });
    });
    hoursToInputs(null);
    bookingToInputs(null);
  });
  // Site configuration files (export/import, see server/siteconfig.py).
  function configLinks() {
    if (!state.site) return;
    $("config-json").href = "/api/v1/sites/" + site() + "/config?format=json";
    $("config-yaml").href = "/api/v1/sites/" + site() + "/config?format=yaml";
    $("config-template").href = "/api/v1/sites/" + site() + "/config?format=json&template=1";
  }
  function importConfig(dry) {
    var form = $("config-form");
    clearErrors(form);
    var input = $("config-file");
    var f = input.files && input.files[0];
    if (!f) { form.querySelector('[data-error-for="csv"]').textContent = T.pick_file; return; }
    var yaml = /\.ya?ml$/i.test(f.name);
    f.text().then(function (text) {
      return api("POST", "/api/v1/config/import" + (dry ? "?dry_run=1" : ""), text,
                 { contentType: yaml ? "application/yaml" : "application/json" });
    }).then(function (data) {
      flash(fmt(dry ? "config_checked" : "config_done", data));
      if (!dry) return loadSites();
    }).catch(function (err) { showErrors(form, err); });
  }
  $("config-form").addEventListener("submit", function (ev) { ev.preventDefault(); importConfig(false); });
  $("config-check").addEventListener("click", function () { importConfig(true); });

  $("site-pick").addEventListener("change", function () {
    state.site = $("site-pick").value;
    configLinks();
    if (loaders[state.tab]) loaders[state.tab]();
  });
  loaders.sites = loadSites;

  // --- services ---------------------------------------------------------------------------
  function loadServices() {
    if (!state.site) return Promise.resolve();
    return api("GET", "/api/v1/admin/sites/" + site() + "/services").then(function (rows) {
      state.services = rows;
      var body = $("service-rows");
      body.innerHTML = "";
      rows.forEach(function (s) {
        var sw = el("span", { "class": "swatch", "aria-hidden": "true" });
        if (s.display_colour) sw.style.background = s.display_colour;
        var actions = el("td");
        if (isAdmin) {
          actions.appendChild(actionButton(T.edit, fmt("edit_name", { name: name(s.name) }), function () { editService(s); }));
          actions.appendChild(actionButton(s.active ? fmt("deactivate", { name: "" }).trim() : fmt("activate", { name: "" }).trim(),
            fmt(s.active ? "deactivate" : "activate", { name: name(s.name) }), function () {
              api("PUT", "/api/v1/admin/sites/" + site() + "/services/" + encodeURIComponent(s.code), serviceBody(s, !s.active)).then(loadServices);
            }));
        }
        body.appendChild(el("tr", { "data-code": s.code }, [
          td(s.code), el("td", {}, [sw, document.createTextNode(s.prefix)]), td(name(s.name)),
          td(s.sla_target_minutes), td(s.daily_cap), td(s.last_ticket_time),
          td((s.procedures || []).join(", ")), td(s.active ? T.active : T.inactive), actions,
        ]));
      });
    });
  }
  function serviceBody(s, active) {
    var body = { name_vi: s.name.vi, name_en: s.name.en, prefix: s.prefix, sla_target_minutes: s.sla_target_minutes,
      daily_cap: s.daily_cap, last_ticket_time: s.last_ticket_time, display_colour: s.display_colour, active: active };
    if (s.online_share !== undefined && s.online_share !== null) body.online_share = s.online_share;
    return body;
  }
  // The online share is typed as a percentage (0–100) and sent as a share (0–1); empty: the
  // default (null).
  function onlineShareFromInput() {
    var v = $("service-online-share").value.trim().replace(",", ".");
    if (v === "") return null;
    var n = Number(v.replace(/\s*%$/, ""));
    return isFinite(n) ? Math.round(n * 10) / 1000 : v;
  }
  function onlineShareToInput(share) {
    $("service-online-share").value = share === null || share === undefined ? "" : M.num(share * 100, "en", 1);
  }
  function editService(s) {
    openForm($("service-form"), fmt("edit_name", { name: name(s.name) }), {
      code: s.code, name_vi: s.name.vi, name_en: s.name.en, prefix: s.prefix,
      sla_target_minutes: s.sla_target_minutes, daily_cap: s.daily_cap, last_ticket_time: s.last_ticket_time,
      display_colour: s.display_colour, active: s.active,
    }, function (v) {
      delete v.code;
      var share = onlineShareFromInput();
      // Emptied: the default again (the API keeps a share when the field is absent).
      if (share === null && s.online_share !== null && s.online_share !== undefined) {
        share = Number($("service-online-share").getAttribute("placeholder")) / 100;
      }
      if (share !== null) v.online_share = share;
      return api("PUT", "/api/v1/admin/sites/" + site() + "/services/" + encodeURIComponent(s.code), v).then(loadServices);
    });
    $("service-code").disabled = true;
    onlineShareToInput(s.online_share);
  }
  $("service-new").addEventListener("click", function () {
    $("service-code").disabled = false;
    openForm($("service-form"), T.new_service, { sla_target_minutes: 20, active: true }, function (v) {
      var share = onlineShareFromInput();
      if (share !== null) v.online_share = share;
      return api("POST", "/api/v1/admin/sites/" + site() + "/services", v).then(loadServices);
    });
  });
  loaders.services = loadServices;

  // --- counters ---------------------------------------------------------------------------
  function profileEditor(lines) {
    var box = $("counter-profile");
    box.innerHTML = "";
    var by = {};
    (lines || []).forEach(function (l) { by[l.code] = l.weight; });
    state.services.forEach(function (s) {
      var id = "counter-svc-" + s.code;
      var check = el("input", { type: "checkbox", id: id, "data-svc": s.code });
      check.checked = s.code in by;
      var weight = el("input", { type: "number", step: "0.1", min: "0.1", max: "100", "class": "weight",
        "data-weight": s.code, "aria-label": fmt("weight_of", { name: name(s.name) }) });
      weight.value = s.code in by ? by[s.code] : 1;
      box.appendChild(el("div", { "class": "profile-line" }, [
        check, el("label", { "for": id, text: " " + s.prefix + " – " + name(s.name) + " " }), weight,
      ]));
    });
  }
  function readProfile() {
    var out = [];
    document.querySelectorAll("#counter-profile [data-svc]").forEach(function (c) {
      if (!c.checked) return;
      var w = parseFloat(document.querySelector('[data-weight="' + c.dataset.svc + '"]').value);
      out.push({ code: c.dataset.svc, weight: isNaN(w) ? 0 : w });
    });
    return out;
  }
  function loadCounters() {
    if (!state.site) return Promise.resolve();
    return Promise.all([
      api("GET", "/api/v1/admin/sites/" + site() + "/services"),
      api("GET", "/api/v1/admin/sites/" + site() + "/counters"),
    ]).then(function (res) {
      state.services = res[0];
      state.counters = res[1];
      var body = $("counter-rows");
      body.innerHTML = "";
      res[1].forEach(function (c) {
        var actions = el("td");
        if (isAdmin) actions.appendChild(actionButton(T.edit, fmt("edit_name", { name: c.name || String(c.number) }), function () { editCounter(c); }));
        body.appendChild(el("tr", { "data-number": c.number }, [
          td(c.number), td(c.name), td(c.services.map(function (l) { return l.code + " ×" + M.num(l.weight, A.lang, 2); }).join(", ")),
          td(c.printer_uri), td(T["counter_" + c.status] || c.status), actions,
        ]));
      });
    });
  }
  function editCounter(c) {
    openForm($("counter-form"), fmt("edit_name", { name: c.name || String(c.number) }), c, function (v) {
      v.services = readProfile();
      return api("PUT", "/api/v1/admin/sites/" + site() + "/counters/" + c.id, v).then(loadCounters);
    });
    profileEditor(c.services);
  }
  $("counter-new").addEventListener("click", function () {
    var next = state.counters.reduce(function (m, c) { return Math.max(m, c.number); }, 0) + 1;
    openForm($("counter-form"), T.new_counter, { number: next }, function (v) {
      v.services = readProfile();
      return api("POST", "/api/v1/admin/sites/" + site() + "/counters", v).then(loadCounters);
    });
    profileEditor([]);
  });
  loaders.counters = loadCounters;

  // --- priorities -------------------------------------------------------------------------
  function loadPriorities() {
    var s = currentSite();
    if (s) fill($("interleave-form"), { priority: s.interleave.priority, normal: s.interleave.normal });
    $("interleave-form").querySelectorAll("input").forEach(function (i) { i.disabled = !isAdmin; });
    return api("GET", "/api/v1/admin/priorities").then(function (rows) {
      var body = $("priority-rows");
      body.innerHTML = "";
      rows.forEach(function (r) {
        var actions = el("td");
        if (isAdmin) actions.appendChild(actionButton(T.edit, fmt("edit_name", { name: name(r.name) }), function () {
          openForm($("priority-form"), fmt("edit_name", { name: name(r.name) }),
            { code: r.code, name_vi: r.name.vi, name_en: r.name.en, active: r.active },
            function (v) { v.code = r.code; return api("PUT", "/api/v1/admin/priorities", v).then(loadPriorities); });
          $("priority-code").disabled = true;
        }));
        body.appendChild(el("tr", {}, [td(r.code), td(r.name.vi), td(r.name.en), td(r.active ? T.active : T.inactive), actions]));
      });
    });
  }
  $("priority-new").addEventListener("click", function () {
    $("priority-code").disabled = false;
    openForm($("priority-form"), T.new_priority, { active: true }, function (v) {
      return api("PUT", "/api/v1/admin/priorities", v).then(loadPriorities);
    });
  });
  $("interleave-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("interleave-form");
    clearErrors(form);
    api("PUT", "/api/v1/admin/sites/" + site() + "/interleave", readForm(form)).then(function () {
      flash(T.saved);
      return loadSites();
    }).catch(function (err) { showErrors(form, err); });
  });
  loaders.priorities = loadPriorities;

  // --- procedures and holidays of the province -------------------------------------------
  function readFile(input) {
    var f = input.files && input.files[0];
    if (!f) return Promise.reject(Object.assign(new Error(T.pick_file), { data: { error: { fields: { csv: T.pick_file } } } }));
    return f.text();
  }
  function loadCatalog() {
    if (!state.site) return Promise.resolve();
    $("catalog-export").href = "/api/v1/admin/sites/" + site() + "/procedures.csv";
    return Promise.all([
      api("GET", "/api/v1/admin/sites/" + site() + "/procedures"),
      api("GET", "/api/v1/admin/sites/" + site() + "/holidays"),
    ]).then(function (res) {
      var prov = state.sites.filter(function (x) { return x.code === res[0].province; })[0];
      $("catalog-province").textContent = fmt("province_of", { name: prov ? name(prov.name) : res[0].province, code: res[0].province });
      var body = $("procedure-rows");
      body.innerHTML = "";
      res[0].procedures.forEach(function (p) {
        body.appendChild(el("tr", { "data-code": p.code }, [td(p.code), td(name(p.name)), td(p.service),
          td(p.processing_days), td(p.documents.map(name).join("; ")), td(p.active ? T.active : T.inactive)]));
      });
      renderHolidays(res[1]);
    });
  }
  function renderHolidays(data) {
    var body = $("holiday-rows");
    body.innerHTML = "";
    data.holidays.forEach(function (h) {
      var actions = el("td");
      if (isAdmin) actions.appendChild(actionButton(T.delete, fmt("delete_holiday", { name: M.localDate(h.day) + " " + name(h.name) }), function () {
        api("DELETE", "/api/v1/admin/sites/" + site() + "/holidays/" + h.day).then(renderHolidays).catch(function (e) { flash(errText(e)); });
      }));
      body.appendChild(el("tr", { "data-day": h.day }, [td(M.localDate(h.day)), td(h.name.vi), td(h.name.en), actions]));
    });
  }
  function importCatalog(dry) {
    var form = $("catalog-form");
    clearErrors(form);
    readFile($("catalog-file")).then(function (text) {
      return api("POST", "/api/v1/admin/sites/" + site() + "/procedures/import" + (dry ? "?dry_run=1" : ""), { csv: text });
    }).then(function (r) {
      flash(fmt(dry ? "checked" : "imported", { created: r.created, updated: r.updated }));
      if (!dry) return loadCatalog();
    }).catch(function (err) { showErrors(form, err); });
  }
  $("catalog-form").addEventListener("submit", function (ev) { ev.preventDefault(); importCatalog(false); });
  $("catalog-check").addEventListener("click", function () { importCatalog(true); });
  $("holiday-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("holiday-form");
    clearErrors(form);
    api("PUT", "/api/v1/admin/sites/" + site() + "/holidays", readForm(form)).then(function (data) {
      form.reset();
      flash(T.saved);
      renderHolidays(data);
    }).catch(function (err) { showErrors(form, err); });
  });
  $("holiday-import-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("holiday-import-form");
    clearErrors(form);
    readFile($("holiday-file")).then(function (text) {
      return api("POST", "/api/v1/admin/sites/" + site() + "/holidays/import", { csv: text });
    }).then(function (data) { flash(T.saved); renderHolidays(data); })
      .catch(function (err) { showErrors(form, err); });
  });
  loaders.catalog = loadCatalog;

  // --- users ------------------------------------------------------------------------------
  function showPassword(u) {
    var box = $("password-once");
    box.textContent = fmt("password_once", { user: u.username, password: u.password });
    box.hidden = false;
  }
  function userBody(u, active) {
    return { full_name: u.full_name, role: u.role, sites: u.sites, active: active };
  }
  function loadUsers() {
    if (!isAdmin) return Promise.resolve();
    return api("GET", "/api/v1/admin/users").then(function (rows) {
      state.users = rows;
      var body = $("user-rows");
      body.innerHTML = "";
      rows.forEach(function (u) {
        var actions = el("td", {}, [
          actionButton(T.edit, fmt("edit_name", { name: u.username }), function () { editUser(u); }),
          actionButton(T.reset_short, fmt("reset_password", { name: u.username }), function () {
            api("POST", "/api/v1/admin/users/" + u.id + "/reset-password").then(showPassword).catch(function (e) { flash(errText(e)); });
          }),
          actionButton(u.active ? T.disable.replace(" {name}", "").replace("{name}", "") : T.enable.replace(" {name}", "").replace("{name}", ""),
            fmt(u.active ? "disable" : "enable", { name: u.username }), function () {
              api("PUT", "/api/v1/admin/users/" + u.id, userBody(u, !u.active)).then(loaders.users).catch(function (e) { flash(errText(e)); });
            }, u.active ? "danger" : "secondary"),
        ]);
        body.appendChild(el("tr", { "data-username": u.username }, [
          td(u.username), td(u.full_name), td(T["role_" + u.role]), td(u.sites.join(", ")),
          td(u.active ? T.enabled : T.disabled), actions,
        ]));
      });
    });
  }
  function editUser(u) {
    openForm($("user-form"), fmt("edit_name", { name: u.username }), u, function (v) {
      delete v.username;
      return api("PUT", "/api/v1/admin/users/" + u.id, v).then(loadUsers);
    });
    $("user-username").disabled = true;
  }
  if ($("user-new")) $("user-new").addEventListener("click", function () {
    $("user-username").disabled = false;
    openForm($("user-form"), T.new_user, { role: "clerk", active: true, sites: state.site ? [state.site] : [] }, function (v) {
      return api("POST", "/api/v1/admin/users", v).then(function (u) { showPassword(u); return loadUsers(); });
    });
  });
  // Staff API tokens (under the users): owner, expiry, last use; an admin revokes them.
  function loadTokens() {
    if (!isAdmin) return Promise.resolve();
    return api("GET", "/api/v1/admin/tokens").then(function (rows) {
      var body = $("token-rows");
      body.innerHTML = "";
      rows.forEach(function (t) {
        var name = t.name || "#" + t.id;
        var actions = el("td");
        if (!t.revoked_at) actions.appendChild(actionButton(fmt("revoke", { name: "" }).trim(), fmt("revoke_token", { name: name }), function () {
          if (!window.confirm(fmt("confirm_revoke_token", { name: name }))) return;
          api("POST", "/api/v1/admin/tokens/" + t.id + "/revoke").then(loadTokens).catch(function (e) { flash(errText(e)); });
        }, "danger"));
        body.appendChild(el("tr", { "data-token": String(t.id) }, [
          td(name), td(T["role_" + t.role]), td(t.site), td(t.owner || T.cli_made),
          td(t.expires_at ? fmtTime(t.expires_at) : T.no_expiry), td(fmtTime(t.last_used_at)),
          td(t.revoked_at ? T.revoked : T.enabled), actions,
        ]));
      });
    });
  }
  loaders.users = function () { return loadUsers().then(loadTokens); };

  // --- devices ----------------------------------------------------------------------------
  function loadDevices() {
    if (!state.site) return Promise.resolve();
    return api("GET", "/api/v1/admin/sites/" + site() + "/devices").then(function (rows) {
      var body = $("device-rows");
      body.innerHTML = "";
      rows.forEach(function (d) {
        var actions = el("td");
        if (isAdmin && !d.revoked_at) actions.appendChild(actionButton(fmt("revoke", { name: "" }).trim(), fmt("revoke", { name: d.name }), function () {
          if (!window.confirm(fmt("confirm_revoke", { name: d.name }))) return;
          api("POST", "/api/v1/admin/devices/" + d.id + "/revoke").then(loadDevices).catch(function (e) { flash(errText(e)); });
        }, "danger"));
        body.appendChild(el("tr", { "data-device": d.name }, [
          td(d.name), td(T["kind_" + d.kind]), td(fmtTime(d.last_seen_at)), td(d.printer_uri),
          td(d.printer_status ? d.printer_status + (d.printer_detail ? " – " + d.printer_detail : "") : ""),
          td(d.revoked_at ? T.revoked : T.ok), actions,
        ]));
      });
    });
  }
  $("pair-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = $("pair-form");
    clearErrors(form);
    var v = readForm(form);
    v.site = state.site;
    api("POST", "/api/v1/admin/pairing/claim", v).then(function (d) {
      flash(fmt("paired", { name: d.name }));
      form.reset();
      return loadDevices();
    }).catch(function (err) { showErrors(form, err); });
  });
  loaders.devices = loadDevices;

  // --- audit ------------------------------------------------------------------------------
  // The audit log in words, as its one reader wrote it (server/features/audit_log.py): the
  // person's or device's name, the action, what it changed, each field before → after.
  function changeList(r) {
    return el("ul", { "class": "changes" }, (r.changes || []).map(function (c) {
      return el("li", { text: name(c.label) + ": " + name(c.before) + " → " + name(c.after) });
    }));
  }
  function loadAudit() {
    if (!isAdmin) return Promise.resolve();
    return api("GET", "/api/v1/admin/audit").then(function (rows) {
      var body = $("audit-rows");
      body.innerHTML = "";
      rows.forEach(function (r) {
        var who = r.who ? (r.who[A.lang] || r.who.name) : r.actor;
        body.appendChild(el("tr", { "class": "audit-row" }, [td(fmtTime(r.at)), td(who),
          td(r.what ? name(r.what) : r.action),
          td(r.target ? name(r.target) : r.entity + " " + (r.entity_id || "")),
          el("td", { "class": "change" }, [changeList(r)])]));
      });
    });
  }
  if ($("audit-refresh")) $("audit-refresh").addEventListener("click", loadAudit);
  loaders.audit = loadAudit;

  // --- start ------------------------------------------------------------------------------
  if (!isAdmin) document.querySelectorAll(".admin-only").forEach(function (e) { e.hidden = true; });
  loadSites().then(function () { showTab("sites"); document.body.dataset.ready = "1"; })
    .catch(function (e) { flash(fmt("error_generic", { msg: errText(e) })); });
  window.MotcuaAdmin = { state: state, reload: function () { return loaders[state.tab](); } };
})();
