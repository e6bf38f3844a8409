// Progressive enhancements only: every page works without this file.
(function () {
  "use strict";
  // Tell the server the browser's time zone, so visitors see slots in their own zone.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* older browsers: the server falls back to the clinic's zone */ }
  document.documentElement.classList.add("js");
  // Move focus to content swapped in by HTMX that asks for it, for screen-reader users.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt && event.detail.elt.querySelector && event.detail.elt.querySelector("[data-autofocus]");
    if (target) { target.focus(); }
  });
})();
