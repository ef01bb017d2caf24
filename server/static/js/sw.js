/* Motcua stations' service worker (served at /sw.js, scope "/"; server/web/static_files.py puts
 * the content-hashed addresses of Workbox's files in self.motcuaWorker above this text).
 *
 * - Station pages (wall display, kiosk, counter, tracking): network first, the cached copy
 *   after 4 s without an answer or when the network fails, so a station restarted during a
 *   cut shows its last page (which then shows its last known state and the offline mark)
 *   instead of a browser error page.
 * - Static files: those with a content-hashed address (?v=) from the cache for good; the others
 *   from the cache at once and refreshed behind.
 * - The display's sound pieces (/display/audio/<tag>/...mp3): from the cache, kept a day: the
 *   chime and the counter pieces are fetched once a day, not once per call.
 * - Everything else (the API, Socket.IO, sign-in) goes to the network untouched.
 */
/* global workbox */
"use strict";

importScripts(self.motcuaWorker.files["workbox-sw"]);
workbox.setConfig({
  debug: false,
  // Workbox's own files come from this server (never its CDN), by their hashed addresses.
  modulePathCb: function (name) { return self.motcuaWorker.files[name]; },
});

// Every module is loaded now, while installing: importScripts is refused afterwards.
var core = workbox.core;
var routing = workbox.routing;
var strategies = workbox.strategies;
var expiration = workbox.expiration;

self.skipWaiting();
core.clientsClaim();

// Only plain successful answers are kept: never an error, an opaque answer or a redirect
// (a redirected answer cannot stand in for a page, and a sign-in redirect is not the page).
var onlyOk = {
  cacheWillUpdate: function (ctx) {
    var r = ctx.response;
    return Promise.resolve(r && r.status === 200 && !r.redirected && r.type === "basic" ? r : null);
  },
};

var STATION_PAGES = /^\/(display|kiosk|counter|t)(\/|$)/;

routing.registerRoute(
  function (ctx) { return ctx.request.mode === "navigate" && STATION_PAGES.test(ctx.url.pathname); },
  new strategies.NetworkFirst({
    cacheName: "motcua-pages",
    networkTimeoutSeconds: 4,
    plugins: [onlyOk, new expiration.ExpirationPlugin({ maxEntries: 20 })],
  })
);

function isStatic(url) {
  return url.origin === self.location.origin &&
    (url.pathname.indexOf("/static/") === 0 || /^\/[a-z]+\/static\//.test(url.pathname));
}

routing.registerRoute(
  function (ctx) { return isStatic(ctx.url) && ctx.url.searchParams.has("v"); },
  new strategies.CacheFirst({
    cacheName: "motcua-static",
    plugins: [onlyOk, new expiration.ExpirationPlugin({ maxEntries: 120, maxAgeSeconds: 30 * 86400 })],
  })
);

routing.registerRoute(
  function (ctx) { return isStatic(ctx.url) && !ctx.url.searchParams.has("v"); },
  new strategies.StaleWhileRevalidate({
    cacheName: "motcua-static-plain",
    plugins: [onlyOk, new expiration.ExpirationPlugin({ maxEntries: 60 })],
  })
);

routing.registerRoute(
  function (ctx) {
    return ctx.url.origin === self.location.origin &&
      /^\/display\/audio\/[^/]+\/.+\.mp3$/.test(ctx.url.pathname);
  },
  new strategies.CacheFirst({
    cacheName: "motcua-audio",
    plugins: [onlyOk, new expiration.ExpirationPlugin({ maxEntries: 400, maxAgeSeconds: 86400 })],
  })
);
