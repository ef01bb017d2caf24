/*
 * Supervisor station: live dashboard, rebalancing dialogs, staffing advice, audit log, KPIs.
 *
 * Everything goes through the JSON API (Motcua.api: session cookie and X-CSRF-Token header).
 * The /supervisor realtime namespace (one connection per site shown: the centre and each of
 * its reception points) tells us something changed; events do not carry waits, idle times
 * or alerts, so any event (or a new snapshot) makes us fetch the dashboard again, debounced,
 * and a periodic refresh keeps the clocks moving.
 */
(function () {
  "use strict";

  var M = window.Motcua;
  var cfg = M.config();
  var T = cfg.t;
  var LANG = cfg.lang;
  var SITE = cfg.site.code;
  var TZ = cfg.site.timezone;
  var REFRESH_MS = 15000;
  var ADVICE_MS = 60000;

  var state = { dash: null, dashKey: "", sockets: {}, online: {}, auditBefore: null,
                profileCounter: null, profileOptions: [], moveSite: SITE };
  var hooks = { state: state, refreshes: 0, events: [] };
  window.MotcuaSupervisor = hooks;

  var $ = M.$;
  var el = M.el;
  var fmt = M.fmt;

  function button(text, name, cls, onClick) {
    var b = el("button", cls || "", text);
    b.type = "button";
    if (name) b.setAttribute("aria-label", name);
    b.addEventListener("click", onClick);
    return b;
  }

  var api = M.api;
  // The server's own words, else which status it was.
  function errText(err) { return err.message || T.error + " " + err.status; }

  function flash(text, isError) {
    var f = $("flash");
    f.textContent = text;
    f.classList.toggle("error", !!isError);
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { f.textContent = ""; }, 6000);
  }

  function localTime(iso, withDate) { return M.localTime(iso, { timeZone: TZ, lang: LANG, date: withDate }); }

  function today() { return M.localDay(null, TZ); }

  function minutes(v) {
    return v === null || v === undefined ? "–" : M.num(v, LANG) + " " + T.min;
  }

  function name(n) { return M.pick(n, LANG); }

  // --- realtime ----------------------------------------------------------------------------

  function setConn() {
    var main = state.online[SITE];
    var c = $("conn");
    c.hidden = main === true;
    c.textContent = main === false ? T.offline : T.connecting;
  }

  function connectSites(codes) {
    codes.forEach(function (code) {
      if (state.sockets[code]) return;
      state.sockets[code] = MotcuaRealtime.connect("/supervisor", { site: code }, {
        snapshot: function () { scheduleRefresh(); },
        event: function (type) { hooks.events.push(type); scheduleRefresh(); },
        status: function (online) { state.online[code] = online; setConn(); },
      });
    });
  }

  var refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  function refresh() {
    return api("GET", "/api/v1/sites/" + encodeURIComponent(SITE) + "/dashboard?include_points=1")
      .then(function (d) {
        hooks.refreshes += 1;
        state.dash = d;
        $("updated").textContent = T.updated + " " + localTime(d.at);
        var key = JSON.stringify([d.services, d.counters, d.printers, d.print_problems, d.alerts,
                                  d.messages, d.points]);
        if (key !== state.dashKey) {
          state.dashKey = key;
          render();
        }
        connectSites([d.site].concat(d.points.map(function (p) { return p.site; })));
      })
      .catch(function (err) { flash(errText(err), true); });
  }

  // --- dashboard ---------------------------------------------------------------------------

  function blocks() {
    var d = state.dash;
    return d ? [d].concat(d.points) : [];
  }

  function render() {
    var root = $("sites");
    root.textContent = "";
    blocks().forEach(function (b, i) { root.appendChild(renderSite(b, i > 0)); });
    renderAlerts();
  }

  function renderSite(b, isPoint) {
    var sec = el("section", "card site-block");
    sec.dataset.site = b.site;
    var h = el("h2", null, name(b.name));
    if (isPoint) h.prepend(el("span", "tag", T.point));
    sec.appendChild(h);

    sec.appendChild(el("h3", null, T.services));
    var tiles = el("ul", "tiles");
    // Accessible names stay unique across the sites shown: a point's controls name the point.
    var suffix = isPoint ? " (" + b.site + ")" : "";
    b.services.forEach(function (s) { tiles.appendChild(renderTile(b, s, suffix)); });
    sec.appendChild(tiles);

    sec.appendChild(el("h3", null, T.counters));
    sec.appendChild(renderCounters(b, suffix));

    sec.appendChild(el("h3", null, T.printers));
    var pl = el("ul", "printers");
    if (!b.printers.length) pl.appendChild(el("li", "muted", T.no_printers));
    b.printers.forEach(function (p) {
      var what = p.kind === "counter" ? T.kind_counter + " " + p.counter
        : (T["kind_" + p.kind] || p.kind) + " " + p.name;
      var li = el("li", "printer printer-" + p.status);
      li.appendChild(el("span", null, what + ": "));
      li.appendChild(el("b", null, T["printer_" + p.status] || p.status));
      pl.appendChild(li);
    });
    sec.appendChild(pl);
    sec.appendChild(renderSlips(b, suffix));
    sec.appendChild(renderMessages(b, suffix));
    return sec;
  }

  // Messages to citizens today, per channel (the dashboard's `messages` block): waiting
  // (queued or being sent), sent, no longer needed (dropped), failed for good; then the ones
  // waiting after a failed attempt or failed, numbers masked by the server.
  var MSG_COLUMNS = [["msg_waiting", ["queued", "sending"]], ["msg_sent", ["sent"]],
                     ["msg_dropped", ["dropped"]], ["msg_failed", ["failed"]]];

  function renderMessages(b, suffix) {
    var box = el("div", "messages");
    var m = b.messages || { counts: {}, problems: [] };
    var channels = Object.keys(m.counts).sort();
    box.appendChild(el("h3", null, T.messages));
    if (!channels.length) {
      box.appendChild(el("p", "muted", T.no_messages));
      return box;
    }
    var table = el("table", "grid messages-counts");
    table.setAttribute("aria-label", T.messages + suffix);
    var head = el("tr");
    head.appendChild(el("th", null, T.msg_channel));
    MSG_COLUMNS.forEach(function (c) { head.appendChild(el("th", "num", T[c[0]])); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    channels.forEach(function (ch) {
      var tr = el("tr", "msg-channel");
      tr.dataset.channel = ch;
      var th = el("th", null, T["channel_" + ch] || ch);
      th.scope = "row";
      tr.appendChild(th);
      MSG_COLUMNS.forEach(function (c) {
        var n = c[1].reduce(function (sum, st) { return sum + (m.counts[ch][st] || 0); }, 0);
        var td = el("td", "num", M.num(n, LANG));
        td.dataset.col = c[0];
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
    var troubled = m.problems.filter(function (p) {
      // A claim counts its attempt: one being sent is in trouble from its second attempt.
      return p.status === "failed" || p.attempts > (p.status === "sending" ? 1 : 0);
    });
    if (troubled.length) {
      box.appendChild(el("h4", null, T.msg_problems + " (" + troubled.length + ")"));
      var ul = el("ul", "msg-problems");
      troubled.forEach(function (p) {
        var status = p.status === "failed" ? "failed"
          : p.status === "sending" ? "sending" : "retrying";
        var li = el("li", "msg msg-" + status);
        li.dataset.id = p.id;
        li.appendChild(el("b", null, (T["channel_" + p.channel] || p.channel) + " · " + p.to));
        li.appendChild(el("span", null, " · " + localTime(p.created_at) + " · "));
        li.appendChild(el("span", "msg-status", T["msg_status_" + status]));
        li.appendChild(el("span", null, " · " + T.msg_attempts + ": " + p.attempts +
          (p.error ? " · " + p.error : "")));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    return box;
  }

  // Slips that may not have printed (unknown) or were never sent (failed), not printed again
  // since: how many, which, and a reprint on the printer where they belong now.
  function renderSlips(b, suffix) {
    var box = el("div", "slips");
    var problems = b.print_problems || { count: 0, jobs: [] };
    var h = el("h3", null, T.slips + " (" + problems.count + ")");
    box.appendChild(h);
    var ul = el("ul", "slips-list");
    if (!problems.jobs.length) ul.appendChild(el("li", "muted", T.no_slips));
    problems.jobs.forEach(function (j) {
      var li = el("li", "slip slip-" + j.status);
      li.dataset.jobId = j.job_id;
      var what = j.kind === "dossier" ? T.slip_receipt + " " + j.dossier
        : T.slip_ticket + " " + (j.number || j.ticket_id);
      var where = j.counter ? T.kind_counter + " " + j.counter : (j.device || "");
      li.appendChild(el("b", null, what));
      li.appendChild(el("span", null, " · " + where + " · " + localTime(j.created_at) + " · "));
      li.appendChild(el("span", "slip-status", T["slip_" + j.status] || j.status));
      var path = j.kind === "dossier"
        ? "/api/v1/dossiers/" + encodeURIComponent(j.dossier) + "/receipt/print"
        : "/api/v1/tickets/" + encodeURIComponent(j.ticket_id) + "/reprint";
      li.appendChild(button(T.reprint, fmt(T.reprint_name, { what: what }) + suffix,
        "secondary small", function () {
          api("POST", path, {})
            .then(function () { done(T.reprint_queued); })
            .catch(function (err) { flash(errText(err), true); });
        }));
      ul.appendChild(li);
    });
    box.appendChild(ul);
    return box;
  }

  var SLA_ICON = { green: "✓", amber: "!", red: "✕" };

  function renderTile(b, s, suffix) {
    var li = el("li", "tile sla-" + s.sla_state);
    li.dataset.code = s.code;
    li.appendChild(el("h4", null, name(s.name)));
    var big = el("p", "tile-waiting");
    big.appendChild(el("b", "tile-count", s.waiting));
    big.appendChild(el("span", null, " " + T.waiting));
    li.appendChild(big);
    var sla = el("p", "sla-label", SLA_ICON[s.sla_state] + " " + T["sla_" + s.sla_state]);
    sla.dataset.state = s.sla_state;
    li.appendChild(sla);
    var dl = el("dl");
    [[T.longest_wait, minutes(s.longest_wait_min)],
     [T.avg_wait_hour, minutes(s.avg_wait_last_hour_min)],
     [T.target, s.sla_target_minutes + " " + T.min],
     [T.open_counters, s.open_counters]].forEach(function (row) {
      dl.appendChild(el("dt", null, row[0]));
      dl.appendChild(el("dd", null, row[1]));
    });
    li.appendChild(dl);
    if (s.reserved) li.appendChild(el("p", "muted", s.reserved + " " + T.reserved));
    if (s.other_site_counters.length) {
      li.appendChild(el("p", "muted", T.helped_by + ": " + s.other_site_counters.map(
        function (c) { return T.counter + " " + c.counter + " (" + c.site + ")"; }).join(", ")));
    }
    li.appendChild(button(T.move_tickets, fmt(T.move_tickets_name, { service: name(s.name) }) + suffix,
      "secondary small", function () { openMove(b, s); }));
    return li;
  }

  function renderCounters(b, suffix) {
    var table = el("table", "grid counters");
    var head = el("tr");
    [T.counter, T.status, T.clerk, T.current, T.served_today, T.idle, T.profile, T.actions]
      .forEach(function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    b.counters.forEach(function (c) {
      var tr = el("tr", "counter status-" + c.status);
      tr.dataset.counterId = c.id;
      tr.dataset.number = c.number;
      tr.appendChild(el("td", "num", c.number));
      var st = T["status_" + c.status] + (c.pause_reason ? " – " + c.pause_reason : "");
      tr.appendChild(el("td", "counter-status", st));
      tr.appendChild(el("td", null, c.clerk ? c.clerk.name : "–"));
      var cur = c.current_ticket;
      tr.appendChild(el("td", "counter-current", cur ? cur.number +
        (cur.site !== b.site ? " (" + cur.site + ")" : "") : "–"));
      tr.appendChild(el("td", null, c.served_today));
      tr.appendChild(el("td", null, c.idle_min === null ? "–" : minutes(c.idle_min)));
      tr.appendChild(el("td", "counter-services", c.services.map(function (l) {
        return name(l.name) + (l.site !== b.site ? " @" + l.site : "") +
          (l.weight !== 1 ? " ×" + M.num(l.weight, LANG, 2) : "");
      }).join(", ") || "–"));
      var acts = el("td", "actions");
      var n = { n: c.number };
      var open = button(T.open, fmt(T.open_name, n) + suffix, "small", function () {
        counterStatus(c, "open", {});
      });
      open.disabled = c.status === "open";
      var pause = button(T.pause, fmt(T.pause_name, n) + suffix, "small secondary", function () {
        openPause(c);
      });
      pause.disabled = c.status === "paused";
      var close = button(T.close, fmt(T.close_name, n) + suffix, "small secondary", function () {
        counterStatus(c, "close", {});
      });
      close.disabled = c.status === "closed";
      acts.appendChild(open);
      acts.appendChild(pause);
      acts.appendChild(close);
      acts.appendChild(button(T.edit_services, fmt(T.edit_services_name, n) + suffix, "small",
        function () { openProfile(b, c, false); }));
      acts.appendChild(button(T.serve_other, fmt(T.serve_other_name, n) + suffix, "small secondary",
        function () { openProfile(b, c, true); }));
      tr.appendChild(acts);
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function renderAlerts() {
    var ul = $("alerts");
    ul.textContent = "";
    var all = [];
    blocks().forEach(function (b) { all = all.concat(b.alerts); });
    if (!all.length) ul.appendChild(el("li", "muted", T.no_alerts));
    all.forEach(function (a) {
      var li = el("li", "alert alert-" + a.severity);
      li.dataset.kind = a.kind;
      li.appendChild(el("span", "alert-icon", a.severity === "critical" ? "⛔ " : "⚠ "));
      li.appendChild(el("span", null, a.text[LANG] || a.text.vi));
      ul.appendChild(li);
    });
  }

  // --- actions -----------------------------------------------------------------------------

  function done(text) {
    flash(text || T.applied);
    refresh();
    loadAdvice();
  }

  function counterStatus(c, action, body) {
    return api("POST", "/api/v1/counters/" + c.id + "/" + action, body)
      .then(function () { done(); })
      .catch(function (err) { flash(errText(err), true); });
  }

  function closeOnCancel(dlg) {
    dlg.querySelectorAll("[data-close]").forEach(function (b) {
      b.addEventListener("click", function () { dlg.close(); });
    });
  }

  function openPause(c) {
    var dlg = $("dlg-pause");
    $("dlg-pause-title").textContent = fmt(T.pause_title, { n: c.number });
    $("pause-reason").value = "";
    dlg.dataset.counterId = c.id;
    dlg.showModal();
  }

  $("pause-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var dlg = $("dlg-pause");
    var reason = $("pause-reason").value.trim();
    api("POST", "/api/v1/counters/" + dlg.dataset.counterId + "/pause",
      reason ? { reason: reason } : {})
      .then(function () { dlg.close(); done(); })
      .catch(function (err) { flash(errText(err), true); });
  });

  function openProfile(b, c, otherFirst) {
    state.profileCounter = { id: c.id, number: c.number, site: b.site, services: c.services };
    $("dlg-profile-title").textContent = fmt(T.profile_title, { n: c.number });
    $("profile-error").textContent = "";
    var box = $("profile-options");
    box.textContent = "";
    api("GET", "/api/v1/counters/" + c.id + "/profile-options").then(function (opts) {
      state.profileOptions = opts;
      var own = opts.filter(function (o) { return o.own_site; });
      var others = opts.filter(function (o) { return !o.own_site; });
      var groups = [[name(own.length ? own[0].site_name : b.name), own]];
      var bySite = {};
      others.forEach(function (o) {
        (bySite[o.site] = bySite[o.site] || { title: T.other_sites + ": " + name(o.site_name),
                                              items: [] }).items.push(o);
      });
      Object.keys(bySite).forEach(function (k) {
        groups.push([bySite[k].title, bySite[k].items]);
      });
      if (otherFirst) groups = groups.slice(1).concat(groups.slice(0, 1));
      groups.forEach(function (g) {
        if (!g[1].length) return;
        var fs = el("fieldset", "profile-group");
        fs.appendChild(el("legend", null, g[0]));
        g[1].forEach(function (o) {
          var line = c.services.filter(function (l) {
            return l.code === o.code && l.site === o.site;
          })[0];
          var row = el("div", "profile-row");
          var id = "prof-" + o.site + "-" + o.code;
          var cb = el("input");
          cb.type = "checkbox";
          cb.id = id;
          cb.checked = !!line;
          cb.dataset.site = o.site;
          cb.dataset.code = o.code;
          cb.dataset.own = o.own_site ? "1" : "";
          var label = el("label", null, name(o.name) + (o.own_site ? "" : " (" + o.site + ")"));
          label.htmlFor = id;
          var w = el("input", "weight");
          w.type = "number";
          w.min = "0.1";
          w.max = "100";
          w.step = "0.1";
          w.value = line ? line.weight : 1;
          w.id = id + "-weight";
          w.setAttribute("aria-label", T.weight + " – " + name(o.name) +
            (o.own_site ? "" : " (" + o.site + ")"));
          row.appendChild(cb);
          row.appendChild(label);
          row.appendChild(w);
          fs.appendChild(row);
        });
        box.appendChild(fs);
      });
      $("dlg-profile").showModal();
    }).catch(function (err) { flash(errText(err), true); });
  }

  $("profile-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var c = state.profileCounter;
    var services = [];
    $("profile-options").querySelectorAll("input[type=checkbox]").forEach(function (cb) {
      if (!cb.checked) return;
      var line = { code: cb.dataset.code,
                   weight: parseFloat($(cb.id + "-weight").value) || 1 };
      if (!cb.dataset.own) line.site = cb.dataset.site;
      services.push(line);
    });
    api("PUT", "/api/v1/counters/" + c.id + "/profile", { services: services })
      .then(function () { $("dlg-profile").close(); done(); })
      .catch(function (err) { $("profile-error").textContent = errText(err); });
  });

  function openMove(b, s) {
    state.moveSite = b.site;
    $("move-error").textContent = "";
    var from = $("move-from");
    var to = $("move-to-service");
    from.textContent = "";
    to.textContent = "";
    b.services.forEach(function (x) {
      var o = el("option", null, name(x.name) + " (" + x.waiting + ")");
      o.value = x.code;
      o.selected = x.code === s.code;
      from.appendChild(o);
      if (x.code !== s.code) {
        var o2 = el("option", null, name(x.name));
        o2.value = x.code;
        to.appendChild(o2);
      }
    });
    var counters = $("move-to-counter");
    counters.textContent = "";
    blocks().forEach(function (blk) {
      blk.counters.forEach(function (c) {
        if (c.status === "closed") return;
        var o = el("option", null, T.counter + " " + c.number +
          (blk.site !== b.site ? " (" + blk.site + ")" : ""));
        o.value = c.id;
        counters.appendChild(o);
      });
    });
    $("move-count").value = Math.max(1, Math.min(s.waiting, 200));
    $("dlg-move").showModal();
  }

  $("move-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var kind = document.querySelector('input[name="move-kind"]:checked').value;
    var body = {
      from_service: $("move-from").value,
      count: parseInt($("move-count").value, 10) || 1,
      which: $("move-which").value,
      position: $("move-position").value,
    };
    if (kind === "service") body.to_service = $("move-to-service").value;
    else body.to_counter_id = parseInt($("move-to-counter").value, 10);
    api("POST", "/api/v1/sites/" + encodeURIComponent(state.moveSite) + "/tickets/move", body)
      .then(function (r) { $("dlg-move").close(); done(fmt(T.moved, { n: r.moved })); })
      .catch(function (err) { $("move-error").textContent = errText(err); });
  });

  // Picking a target service or counter picks that kind of move.
  [["move-to-service", "service"], ["move-to-counter", "counter"]].forEach(function (pair) {
    $(pair[0]).addEventListener("change", function () {
      document.querySelector('input[name="move-kind"][value="' + pair[1] + '"]').checked = true;
    });
  });

  ["dlg-profile", "dlg-pause", "dlg-move"].forEach(function (id) { closeOnCancel($(id)); });

  // --- advice ------------------------------------------------------------------------------

  function runAction(a) {
    var body = a.services ? { services: a.services } : {};
    return api(a.method, a.path, body).then(function () {
      return a.then ? runAction(a.then) : null;
    });
  }

  function loadAdvice() {
    return api("GET", "/api/v1/sites/" + encodeURIComponent(SITE) + "/advice").then(function (a) {
      // The verdicts are the API's own words (server/rules/advice.py): the panel never
      // words one of its own, so it cannot say "enough counters" while the API says short.
      var ul = $("advice");
      ul.textContent = "";
      var summary = el("li", "advice-summary", a.summary ? (a.summary[LANG] || a.summary.vi) : "");
      summary.dataset.short = a.services.some(function (s) {
        return s.state === "short" || s.state === "overloaded";
      }) ? "1" : "0";
      ul.appendChild(summary);
      a.services.forEach(function (s) {
        if (s.state === "idle") return;
        var li = el("li", "verdict verdict-" + s.state, s.verdict[LANG] || s.verdict.vi);
        li.dataset.service = s.service;
        li.dataset.state = s.state;
        ul.appendChild(li);
      });
      a.suggestions.forEach(function (s) {
        var text = s.text[LANG] || s.text.vi;
        var li = el("li", "suggestion");
        li.appendChild(el("span", null, text));
        li.appendChild(button(T.apply, fmt(T.apply_name, { text: text }), "small", function () {
          runAction(s.action).then(function () { done(); })
            .catch(function (err) { flash(errText(err), true); });
        }));
        ul.appendChild(li);
      });
    }).catch(function (err) { flash(errText(err), true); });
  }
  $("advice-refresh").addEventListener("click", loadAdvice);

  // --- audit -------------------------------------------------------------------------------

  // Each change in words, as the API's one audit reader wrote it (features/audit_log.py):
  // "Trạng thái: mở → tạm dừng", one line per field.
  function changeList(i) {
    var ul = el("ul", "changes");
    (i.changes || []).forEach(function (c) {
      var li = el("li");
      li.appendChild(el("span", "change-label", (c.label[LANG] || c.label.vi) + ": "));
      li.appendChild(el("span", "change-before", c.before[LANG] || c.before.vi));
      li.appendChild(document.createTextNode(" → "));
      li.appendChild(el("span", "change-after", c.after[LANG] || c.after.vi));
      ul.appendChild(li);
    });
    return ul;
  }

  function loadAudit(reset) {
    var q = "?include_points=1&limit=50" + (!reset && state.auditBefore ? "&before=" + state.auditBefore : "");
    return api("GET", "/api/v1/sites/" + encodeURIComponent(SITE) + "/audit" + q).then(function (a) {
      var body = $("audit");
      if (reset) body.textContent = "";
      a.items.forEach(function (i) {
        var tr = el("tr", "audit-row");
        tr.dataset.action = i.action;
        tr.appendChild(el("td", "audit-when", localTime(i.at, true)));
        tr.appendChild(el("td", "audit-who", i.who ? (i.who[LANG] || i.who.name) : i.actor));
        var what = i.what ? (i.what[LANG] || i.what.vi) : i.action;
        if (i.entity_label) what += " – " + name(i.entity_label);
        if (i.site && i.site !== SITE) what += " (" + i.site + ")";
        tr.appendChild(el("td", "audit-what", what));
        var td = el("td", "audit-change");
        td.appendChild(changeList(i));
        tr.appendChild(td);
        body.appendChild(tr);
      });
      state.auditBefore = a.next_before;
      $("audit-more").hidden = !a.next_before;
      $("audit-empty").hidden = body.children.length > 0;
    }).catch(function (err) { flash(errText(err), true); });
  }
  $("audit-more").addEventListener("click", function () { loadAudit(false); });

  // --- KPIs and charts ---------------------------------------------------------------------

  function pct(v) { return v === null || v === undefined ? "–" : M.num(v * 100, LANG, 0) + " %"; }
  function num(v) { return M.num(v, LANG); }

  function kpiRow(label, r) {
    var tr = el("tr");
    [label, r.issued, r.served, r.no_shows, r.cancelled, num(r.awt_min), num(r.p90_wait_min),
     num(r.ast_min), pct(r.service_level), r.bookings, pct(r.punctuality)
    ].forEach(function (v, i) {
      tr.appendChild(el(i === 0 ? "th" : "td", null, v));
    });
    return tr;
  }

  function kpiQuery(fmtName) {
    return "/api/v1/sites/" + encodeURIComponent(SITE) + "/reports/kpis?from=" +
      $("kpi-from").value + "&to=" + $("kpi-to").value + "&format=" + fmtName;
  }

  function loadKpis() {
    $("kpi-csv").href = kpiQuery("csv");
    $("kpi-xlsx").href = kpiQuery("xlsx");
    api("GET", kpiQuery("json")).then(function (k) {
      var body = $("kpi-rows");
      body.textContent = "";
      k.by_service.forEach(function (r) { body.appendChild(kpiRow(name(r.name), r)); });
      var total = kpiRow(T.total, k.totals);
      total.className = "total";
      body.appendChild(total);
    }).catch(function (err) { flash(errText(err), true); });
    var day = $("kpi-from").value;
    $("chart-date").textContent = day;
    api("GET", "/api/v1/sites/" + encodeURIComponent(SITE) + "/reports/series?date=" + day +
        "&bucket=15").then(function (s) {
      drawChart($("chart-queue"), s, "queue_length", T.chart_queue);
      drawChart($("chart-wait"), s, "awt_min", T.chart_wait);
    }).catch(function (err) { flash(errText(err), true); });
  }

  $("kpi-form").addEventListener("submit", function (ev) { ev.preventDefault(); loadKpis(); });

  var COLORS = ["#0b5cad", "#b3261e", "#1e7b34", "#a15c00", "#6b3fa0", "#00707a", "#444"];
  var DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", ""];
  var SVGNS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A line per service, drawn in SVG (no chart library): colour AND dash pattern tell the
  // services apart, and the legend names them.
  function drawChart(box, s, key, title) {
    box.textContent = "";
    var n = s.buckets.length;
    var max = 0;
    s.services.forEach(function (sv) {
      sv[key].forEach(function (v) { if (v !== null && v > max) max = v; });
    });
    if (!n || max === 0) { box.appendChild(el("p", "muted", T.no_data)); return; }
    var W = 760, H = 240, L = 44, R = 10, TOP = 10, B = 28;
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title,
                            class: "chart-svg" });
    root.appendChild(svg("title", {}, title));
    function x(i) { return L + (n === 1 ? 0 : i * (W - L - R) / (n - 1)); }
    function y(v) { return TOP + (H - TOP - B) * (1 - v / max); }
    root.appendChild(svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#999" }));
    root.appendChild(svg("line", { x1: L, y1: TOP, x2: L, y2: y(0), stroke: "#999" }));
    [0, max / 2, max].forEach(function (v) {
      root.appendChild(svg("text", { x: L - 6, y: y(v) + 5, "text-anchor": "end",
                                     "font-size": 14 }, M.num(v, LANG)));
    });
    var step = Math.max(1, Math.ceil(n / 8));
    for (var i = 0; i < n; i += step) {
      root.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle",
                                     "font-size": 14 }, s.buckets[i]));
    }
    s.services.forEach(function (sv, k) {
      var pts = [];
      sv[key].forEach(function (v, i) { if (v !== null) pts.push(x(i) + "," + y(v)); });
      if (!pts.length) return;
      var line = svg("polyline", { points: pts.join(" "), fill: "none",
                                   stroke: COLORS[k % COLORS.length], "stroke-width": 2,
                                   "stroke-dasharray": DASHES[k % DASHES.length] });
      line.appendChild(svg("title", {}, name(sv.name)));
      root.appendChild(line);
      pts.forEach(function (p) {  // markers: a lone bucket is visible too
        var xy = p.split(",");
        root.appendChild(svg("circle", { cx: xy[0], cy: xy[1], r: 2.5,
                                         fill: COLORS[k % COLORS.length] }));
      });
    });
    box.appendChild(root);
    var legend = el("ul", "legend");
    s.services.forEach(function (sv, k) {
      var li = el("li");
      var sw = svg("svg", { width: 28, height: 10, "aria-hidden": "true" });
      sw.appendChild(svg("line", { x1: 0, y1: 5, x2: 28, y2: 5, stroke: COLORS[k % COLORS.length],
                                   "stroke-width": 3, "stroke-dasharray": DASHES[k % DASHES.length] }));
      li.appendChild(sw);
      li.appendChild(el("span", null, " " + name(sv.name)));
      legend.appendChild(li);
    });
    box.appendChild(legend);
  }

  // --- tabs --------------------------------------------------------------------------------

  var tabs = ["dashboard", "audit", "kpi", "bookings"];
  function showTab(which) {
    tabs.forEach(function (t) {
      $("tab-" + t).setAttribute("aria-selected", t === which ? "true" : "false");
      $("panel-" + t).hidden = t !== which;
    });
    if (which === "audit") loadAudit(true);
    if (which === "kpi") loadKpis();
    if (which === "bookings" && window.MotcuaSupervisorBookings) MotcuaSupervisorBookings.load();
  }
  tabs.forEach(function (t) {
    $("tab-" + t).addEventListener("click", function () { showTab(t); });
  });

  // --- start -------------------------------------------------------------------------------

  $("kpi-from").value = today();
  $("kpi-to").value = today();
  // Picking another site shows it at once (a script here, not an inline handler: the
  // Content-Security-Policy runs no inline script).
  var sitePick = $("site-pick");
  if (sitePick) sitePick.addEventListener("change", function () { sitePick.form.submit(); });
  setConn();
  refresh();
  loadAdvice();
  setInterval(refresh, REFRESH_MS);
  setInterval(loadAdvice, ADVICE_MS);
  hooks.refresh = refresh;
  hooks.render = render;
})();
