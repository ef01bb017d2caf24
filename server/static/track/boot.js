/* The tracking page's loader: after the first paint, fetch the scripts that make the page live,
   in order (the list is in this tag's data-scripts). On a thin link every byte shares the wire:
   fetched at once they would delay the stylesheet, and with it the place in line. */
(function () {
  "use strict";
  var me = document.currentScript;
  var list = JSON.parse(me.getAttribute("data-scripts"));
  function load() {
    list.forEach(function (src) {
      var s = document.createElement("script");
      s.src = src;
      s.async = false;  // run in the listed order
      document.body.appendChild(s);
    });
  }
  // Two frames: the first paint has happened by the second.
  window.requestAnimationFrame(function () { window.requestAnimationFrame(load); });
})();
