/*
 * The checkout page: mount Stripe's Payment Element for the PaymentIntent the server made, and confirm it.
 * Everything comes from the form's data attributes (no inline script, so the CSP can forbid inline code).
 * On success stripe.confirmPayment leaves the page for return_url (after 3-D Secure when the card asks for it);
 * it only comes back here with an error, such as a declined card, which is shown so the shopper can try again.
 * Errors are shown once and in the shopper's words: the text comes from the table the server puts in
 * data-error-messages (service/checkout/shopper_messages.py), never from Stripe's developer-facing message. A
 * validation_error (a field left incomplete) is already shown beside its field by Stripe's Payment Element, so the
 * page adds nothing for it.
 */
(function () {
  "use strict";

  var form = document.getElementById("payment-form");
  var button = document.getElementById("pay-button");
  var message = document.getElementById("payment-message");
  var status = document.getElementById("payment-status");
  var container = document.getElementById("payment-element");
  var loading = document.getElementById("element-loading");

  var messages = {};
  try {
    messages = JSON.parse(form.dataset.errorMessages || "{}");
  } catch (ignored) {
    messages = {};
  }

  // The page's one place for errors (hidden while empty); brought into view so a shopper on a phone sees it.
  function showError(text) {
    message.textContent = text || "";
    if (text && message.scrollIntoView) message.scrollIntoView({ block: "nearest" });
  }

  // The shopper's text for a Stripe error: by decline code, then code, then type (the server's table).
  function shopperText(error) {
    var keys = [error && error.decline_code, error && error.code, error && error.type];
    for (var i = 0; i < keys.length; i++) {
      if (keys[i] && Object.prototype.hasOwnProperty.call(messages, keys[i])) return messages[keys[i]];
    }
    return messages[""] || "The payment did not go through. Please try again.";
  }

  function setBusy(busy) {
    button.disabled = busy;
    button.setAttribute("aria-busy", String(busy));
    status.textContent = busy ? "Processing your payment…" : "";
  }

  if (typeof window.Stripe !== "function") {
    if (loading) loading.textContent = "";
    showError("The secure payment form could not be loaded. Please check your connection and reload the page.");
    return;
  }

  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  var paymentElement = elements.create("payment");
  paymentElement.on("ready", function () {
    if (loading && loading.parentNode) loading.parentNode.removeChild(loading);
    container.setAttribute("aria-busy", "false");
    button.disabled = false;
  });
  paymentElement.on("loaderror", function () {
    showError("The secure payment form could not be loaded. Please reload the page.");
  });
  paymentElement.mount(container);

  var submitting = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // One confirmation at a time: a double click must not send two.
    if (submitting) return;
    submitting = true;
    showError("");
    setBusy(true);
    stripe
      .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        // Only reached when the payment did not go through; success navigates to return_url instead.
        submitting = false;
        setBusy(false);
        var error = result && result.error;
        showError(error && error.type === "validation_error" ? "" : shopperText(error));
      })
      .catch(function () {
        submitting = false;
        setBusy(false);
        showError(shopperText({ type: "api_connection_error" }));
      });
  });
})();
