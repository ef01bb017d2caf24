/*
 * The counter picker: the counter this workstation sat at last (remembered in the browser by
 * the station page) is offered first, marked, with its button focused: after signing in,
 * Enter sits the clerk there again.
 */
(function () {
  "use strict";
  var id = window.MotcuaDrafts.workstation();
  if (!id) return;
  var item = document.querySelector('.counter-item[data-counter-id="' + id.replace(/\D/g, "") + '"]');
  if (!item) return;  // that counter is not offered to this user (another site, removed)
  item.classList.add("remembered");
  var badge = item.querySelector(".badge.here");
  if (badge) badge.hidden = false;
  var list = item.parentNode;
  if (list.firstElementChild !== item) list.insertBefore(item, list.firstElementChild);
  var button = item.querySelector("button[type=submit]");
  if (button) button.focus();
})();
