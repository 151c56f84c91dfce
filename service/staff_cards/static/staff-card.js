/*
 * The staff card page: the agent types the card the customer reads out into Stripe's Payment Element (deferred
 * setup mode, so no SetupIntent exists before a card is there), the element makes a PaymentMethod
 * (stripe.createPaymentMethod), and our server creates and confirms the SetupIntent with it, flagged MOTO when the
 * Stripe account has MOTO (the flag needs the secret key, so never from the browser). The signed link's fields go
 * back with the card: they are what authorizes the save (service/staff_cards/pages.py).
 */
(function () {
  "use strict";

  var form = document.getElementById("staff-card-form");
  var button = document.getElementById("save-card-button");
  var message = document.getElementById("staff-message");
  var status = document.getElementById("staff-status");
  var consent = document.getElementById("consent");
  var container = document.getElementById("payment-element");
  var loading = document.getElementById("element-loading");
  var result = document.getElementById("staff-result");

  var messages = {};
  try {
    messages = JSON.parse(form.dataset.errorMessages || "{}");
  } catch (ignored) {
    messages = {};
  }

  function showError(text) {
    message.textContent = text || "";
    if (text && message.scrollIntoView) message.scrollIntoView({ block: "nearest" });
  }

  function textFor(error) {
    var keys = [error && error.decline_code, error && error.code, error && error.type];
    for (var i = 0; i < keys.length; i++) {
      if (keys[i] && Object.prototype.hasOwnProperty.call(messages, keys[i])) return messages[keys[i]];
    }
    return messages[""] || "The card could not be saved. Please try again.";
  }

  function setBusy(busy) {
    button.disabled = busy;
    button.setAttribute("aria-busy", String(busy));
    status.textContent = busy ? "Saving the card…" : "";
  }

  if (typeof window.Stripe !== "function") {
    if (loading) loading.textContent = "";
    showError("The secure card form could not be loaded. Please check the connection and reload the page.");
    return;
  }

  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ mode: "setup", paymentMethodCreation: "manual" });
  var paymentElement = elements.create("payment");
  paymentElement.on("ready", function () {
    if (loading && loading.parentNode) loading.parentNode.removeChild(loading);
    container.setAttribute("aria-busy", "false");
    button.disabled = false;
  });
  paymentElement.on("loaderror", function () {
    showError("The secure card form could not be loaded. Please reload the page.");
  });
  paymentElement.mount(container);

  function save(paymentMethodId) {
    var body = JSON.parse(form.dataset.link);
    body.paymentMethodId = paymentMethodId;
    body.consent = consent.checked;
    return fetch(form.dataset.saveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (answer) {
        return { ok: response.ok, answer: answer };
      });
    });
  }

  var submitting = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submitting) return;
    if (!consent.checked) {
      showError("Ask the customer whether we may keep the card, and tick the box, before saving it.");
      consent.focus();
      return;
    }
    submitting = true;
    showError("");
    setBusy(true);
    elements
      .submit()
      .then(function (submitted) {
        if (submitted.error) return { error: submitted.error };
        return stripe.createPaymentMethod({ elements: elements });
      })
      .then(function (created) {
        if (created.error) return { failed: created.error };
        return save(created.paymentMethod.id);
      })
      .then(function (outcome) {
        submitting = false;
        setBusy(false);
        if (outcome.failed) {
          showError(outcome.failed.type === "validation_error" ? "" : textFor(outcome.failed));
          return;
        }
        if (!outcome.ok) {
          showError(outcome.answer.message || textFor(null));
          return;
        }
        form.hidden = true;
        document.getElementById("saved-card-text").textContent = outcome.answer.message;
        result.hidden = false;
        document.getElementById("enter-another").focus();
      })
      .catch(function () {
        submitting = false;
        setBusy(false);
        showError(textFor({ type: "api_connection_error" }));
      });
  });
})();
