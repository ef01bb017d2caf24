/*
 * Drafts of the counter's forms, kept in the browser (localStorage) from the first keystroke
 * until the server confirms: a failed submit, a reload or a browser restart on a thin link
 * loses nothing a clerk typed.
 *
 *   MotcuaDrafts.key(counterId, kind, ref)   "motcua.counter.draft.<counter>.<kind>.<ref>"
 *   MotcuaDrafts.save(key, obj, timeZone)    stores obj with the site's business day
 *   MotcuaDrafts.load(key, timeZone)         the draft, or null (one of an earlier day is deleted)
 *   MotcuaDrafts.remove(key)                 the server confirmed: forget it
 *   MotcuaDrafts.purge(timeZone)             deletes every draft of an earlier business day
 *   MotcuaDrafts.clearAll()                  deletes every draft (signing out)
 *
 * Drafts hold personal data (names, ID numbers, phones): they are deleted on confirmation,
 * when the clerk signs out (any form marked data-signout) and when the business day is over
 * (a draft of an earlier day is never offered again). Also remembers which counter this
 * workstation sits at (workstation()/rememberWorkstation()): not personal, kept across
 * sign-outs.
 */
(function (global) {
  "use strict";
  var PREFIX = "motcua.counter.draft.";
  var WORKSTATION = "motcua.counter.workstation";
  var store = null;
  try { store = global.localStorage; } catch (e) { store = null; }  // private mode: no drafts

  function today(timeZone) { return global.Motcua.localDay(null, timeZone); }

  function key(counterId, kind, ref) { return PREFIX + counterId + "." + kind + "." + ref; }

  function save(k, obj, timeZone) {
    if (!store) return;
    obj.day = today(timeZone);
    obj.saved_at = new Date().toISOString();
    try { store.setItem(k, JSON.stringify(obj)); } catch (e) { /* storage full: keep going */ }
  }

  function remove(k) { if (store) { try { store.removeItem(k); } catch (e) { /* ignore */ } } }

  function load(k, timeZone) {
    if (!store) return null;
    var raw = null;
    try { raw = store.getItem(k); } catch (e) { return null; }
    if (!raw) return null;
    var d = null;
    try { d = JSON.parse(raw); } catch (e) { d = null; }
    if (!d || typeof d !== "object" || d.day !== today(timeZone)) { remove(k); return null; }
    return d;
  }

  function keys() {
    var out = [];
    if (!store) return out;
    for (var i = 0; i < store.length; i++) {
      var k = store.key(i);
      if (k && k.indexOf(PREFIX) === 0) out.push(k);
    }
    return out;
  }

  function purge(timeZone) { keys().forEach(function (k) { load(k, timeZone); }); }

  function clearAll() { keys().forEach(remove); }

  function workstation() {
    if (!store) return null;
    try { return store.getItem(WORKSTATION); } catch (e) { return null; }
  }

  function rememberWorkstation(counterId) {
    if (!store) return;
    try { store.setItem(WORKSTATION, String(counterId)); } catch (e) { /* ignore */ }
  }

  // Signing out deletes this browser's drafts before the form leaves.
  function hookSignOut() {
    global.Motcua.each(global.document.querySelectorAll("form[data-signout]"), function (f) {
      f.addEventListener("submit", clearAll);
    });
  }
  hookSignOut();

  global.MotcuaDrafts = {
    key: key, save: save, load: load, remove: remove, purge: purge, clearAll: clearAll,
    workstation: workstation, rememberWorkstation: rememberWorkstation,
  };
})(window);
