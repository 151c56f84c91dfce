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
  var consent = document.getElementById("consent");
  var result = document.getElementById("staff-result");
  var page = window.moquiStripePage(form, {
    button: document.getElementById("save-card-button"),
    message: document.getElementById("staff-message"),
    status: document.getElementById("staff-status"),
    container: document.getElementById("payment-element"),
    loading: document.getElementById("element-loading"),
    busyText: "Saving the card…",
  });

  var stripe = null;
  var elements = page.mountPaymentElement(function (made) {
    stripe = made;
    return made.elements({ mode: "setup", paymentMethodCreation: "manual" });
  });
  if (!elements) return;

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

  function saved(message) {
    form.hidden = true;
    document.getElementById("saved-card-text").textContent = message;
    result.hidden = false;
    document.getElementById("enter-another").focus();
  }

  var submitting = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submitting) return;
    if (!consent.checked) {
      page.showError("Ask the customer whether we may keep the card, and tick the box, before saving it.");
      consent.focus();
      return;
    }
    submitting = true;
    page.showError("");
    page.setBusy(true);
    elements
      .submit()
      .then(function (submitted) {
        if (submitted.error) return { failed: submitted.error };
        return stripe.createPaymentMethod({ elements: elements }).then(function (created) {
          return created.error ? { failed: created.error } : save(created.paymentMethod.id);
        });
      })
      .then(function (outcome) {
        submitting = false;
        page.setBusy(false);
        if (outcome.failed) {
          page.showError(outcome.failed.type === "validation_error" ? "" : page.textFor(outcome.failed));
        } else if (!outcome.ok) {
          page.showError(outcome.answer.message || page.textFor(null));
        } else {
          saved(outcome.answer.message);
        }
      })
      .catch(function () {
        submitting = false;
        page.setBusy(false);
        page.showError(page.textFor({ type: "api_connection_error" }));
      });
  });
})();
