// Opens a <dialog data-modal> that HTMX swapped into the page as a modal dialog, and removes it
// once closed. Without JavaScript the link that fetched it opens the same content as a page.
(function () {
  "use strict";

  function open(dialog) {
    if (dialog.open || typeof dialog.showModal !== "function") { return; }
    dialog.addEventListener("close", function () { dialog.remove(); });
    dialog.showModal();
  }

  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    if (!el || !el.querySelectorAll) { return; }
    if (el.matches && el.matches("dialog[data-modal]")) { open(el); }
    el.querySelectorAll("dialog[data-modal]").forEach(open);
  });
})();
