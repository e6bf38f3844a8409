// Real keys: open Razorpay Checkout (checkout.js, loaded before this file) with the options in
// the data- attributes of [data-razorpay-checkout]. Its handler puts the three signed fields
// into our verify form (which carries the CSRF token) and submits it; the server checks the
// signature against the order it stored. Closing Checkout goes to the cancelled page, which
// says how long the hold still lasts. Nothing here decides the amount: the order fixed it.
(function () {
  "use strict";

  function say(text) {
    var status = document.querySelector("[data-checkout-status]");
    if (status) { status.textContent = text; }
  }

  function open(button) {
    var d = button.dataset;
    var form = document.getElementById(d.verifyForm);
    if (typeof window.Razorpay !== "function" || !form) {
      say("Razorpay Checkout could not be loaded. Check your connection and reload the page.");
      return;
    }
    var failed = false;
    var paid = false;
    var checkout = new window.Razorpay({
      key: d.key,
      order_id: d.orderId,
      amount: parseInt(d.amount, 10),
      currency: d.currency,
      name: d.name,
      description: d.description,
      prefill: { name: d.prefillName, email: d.prefillEmail, contact: d.prefillContact },
      handler: function (response) {
        paid = true;
        say("Payment received. Confirming…");
        form.elements.razorpay_payment_id.value = response.razorpay_payment_id;
        form.elements.razorpay_order_id.value = response.razorpay_order_id;
        form.elements.razorpay_signature.value = response.razorpay_signature;
        form.submit();
      },
      modal: {
        ondismiss: function () {
          if (paid) { return; }
          window.location.assign(d.cancelUrl + "?error=" + (failed ? "payment_failed" : "closed"));
        }
      }
    });
    // Checkout lets the patient retry in place after a failure; remember it for the way back.
    checkout.on("payment.failed", function () {
      failed = true;
      say("The payment did not go through. You can try again in the Checkout window.");
    });
    checkout.open();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-razorpay-checkout]");
    if (button) {
      event.preventDefault();
      open(button);
    }
  });
})();
