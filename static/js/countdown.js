// The hold countdown on the appointment page. The server decides: it renders the seconds left
// (data-seconds) and the end time; this only ticks those seconds down, so a wrong clock on the
// device does not matter. At zero it hides the booking step, shows "Your hold has expired" and
// asks the server (the status poll's "hold-ended" trigger), which then reloads the page.
// Without this file the page shows the end time and the server's own status.
(function () {
  "use strict";

  function format(seconds) {
    var minutes = Math.floor(seconds / 60), rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function setHidden(selector, hidden) {
    document.querySelectorAll(selector).forEach(function (el) { el.hidden = hidden; });
  }

  function start(el) {
    if (el.getAttribute("data-countdown-started")) { return; }
    el.setAttribute("data-countdown-started", "1");
    var seconds = parseInt(el.getAttribute("data-seconds"), 10);
    if (isNaN(seconds)) { return; }
    var deadline = Date.now() + seconds * 1000;
    var clock = el.querySelector("[data-countdown-clock]");
    setHidden("[data-hold-active]", seconds <= 0);
    setHidden("[data-hold-expired]", seconds > 0);

    function tick() {
      if (!document.body.contains(el)) { return; } // replaced by a fresher countdown
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (clock) { clock.textContent = format(left); }
      if (left > 0) {
        window.setTimeout(tick, 250);
        return;
      }
      setHidden("[data-hold-active]", true);
      setHidden("[data-hold-expired]", false);
      var poller = el.closest("[hx-get]");
      if (poller && window.htmx) { window.htmx.trigger(poller, "hold-ended"); }
    }
    tick();
  }

  function scan(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches("[data-countdown]")) { start(root); }
    root.querySelectorAll("[data-countdown]").forEach(start);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document.body); });
  // Countdowns swapped in by the status poll start afresh from the server's figure.
  document.addEventListener("htmx:load", function (event) { scan(event.detail.elt); });
})();
