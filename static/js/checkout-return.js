// Back from Razorpay Checkout: post the signed fields on to our verify route at once. The form
// (with our CSRF token) is in the page; without JavaScript its visible button sends it.
(function () {
  "use strict";
  function submit() {
    var form = document.querySelector("form[data-auto-submit]");
    if (form) {
      form.submit();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submit);
  } else {
    submit();
  }
})();
