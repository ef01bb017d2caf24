/* Registers the stations' service worker (/sw.js, server/static/js/sw.js): a station page
 * reloaded while the link is down then comes up from its cached copy, not a browser error
 * page. Browsers allow service workers on https and on 127.0.0.1/localhost only. */
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;
  // After the page is up: the worker's files would otherwise share a thin link with the page's.
  function register() {
    setTimeout(function () {
      navigator.serviceWorker.register("/sw.js").catch(function () { /* plain http: no cache */ });
    }, 2000);
  }
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register);
})();
