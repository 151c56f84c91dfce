/*
 * The checkout page: mount Stripe's Payment Element for the PaymentIntent the server made, and confirm it.
 * Everything comes from the form's data attributes (no inline script, so the CSP can forbid inline code).
 * On success stripe.confirmPayment leaves the page for return_url (after 3-D Secure when the card asks for it);
 * it only comes back here with an error, such as a declined card, which is shown so the shopper can try again.
 * Errors are shown once and in the shopper's words (payment-page.js, from service/checkout/shopper_messages.py). A
 * validation_error (a field left incomplete) is already shown beside its field by Stripe's Payment Element, so the
 * page adds nothing for it.
 */
(function () {
  "use strict";

  var form = document.getElementById("payment-form");
  var page = window.moquiStripePage(form, {
    button: document.getElementById("pay-button"),
    message: document.getElementById("payment-message"),
    status: document.getElementById("payment-status"),
    container: document.getElementById("payment-element"),
    loading: document.getElementById("element-loading"),
    busyText: "Processing your payment…",
  });

  var stripe = null;
  var elements = page.mountPaymentElement(function (made) {
    stripe = made;
    return made.elements({ clientSecret: form.dataset.clientSecret });
  });
  if (!elements) return;

  var submitting = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // One confirmation at a time: a double click must not send two.
    if (submitting) return;
    submitting = true;
    page.showError("");
    page.setBusy(true);
    stripe
      .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        // Only reached when the payment did not go through; success navigates to return_url instead.
        submitting = false;
        page.setBusy(false);
        var error = result && result.error;
        page.showError(error && error.type === "validation_error" ? "" : page.textFor(error));
      })
      .catch(function () {
        submitting = false;
        page.setBusy(false);
        page.showError(page.textFor({ type: "api_connection_error" }));
      });
  });
})();
