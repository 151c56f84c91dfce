/*
 * Saved cards on the checkout page (service/saved_cards/checkout_cards.py). The page's own URL is the signed checkout
 * link, so its query is what every call here carries. It lists the customer's saved cards first, each a one-click
 * "Pay with" button posting to /stripe/Checkout/payWithSavedCard, and puts the "save this card" box above the Pay
 * button: ticking or clearing it tells the server (POST /stripe/Checkout/saveCard), which sets or unsets
 * setup_future_usage on the checkout's PaymentIntent; Pay waits while that is under way. Errors go to the checkout's
 * one message area (#payment-message).
 */
(function () {
  "use strict";

  var signed = window.location.search;
  var section = document.getElementById("saved-cards");
  var list = document.getElementById("saved-card-list");
  var cardForm = document.getElementById("saved-card-form");
  var choice = document.getElementById("save-card-choice");
  var consent = document.getElementById("save-card-consent");
  var paymentForm = document.getElementById("payment-form");
  var payButton = document.getElementById("pay-button");
  var message = document.getElementById("payment-message");
  if (!section || !paymentForm || !payButton) return;

  function say(text) {
    if (message) message.textContent = text || "";
  }

  // The consent box sits just above the Pay button, inside the payment form.
  paymentForm.insertBefore(choice, payButton);
  choice.hidden = false;

  var pending = 0;
  consent.addEventListener("change", function () {
    var wanted = consent.checked;
    pending += 1;
    payButton.disabled = true;
    fetch("/stripe/Checkout/saveCard" + signed, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ save: wanted }),
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("refused");
      })
      .catch(function () {
        consent.checked = !wanted;
        say("We could not save your choice. Please try again.");
      })
      .then(function () {
        pending -= 1;
        if (pending === 0) payButton.disabled = false;
      });
  });

  cardForm.action = "/stripe/Checkout/payWithSavedCard" + signed;
  cardForm.addEventListener("submit", function () {
    // One click pays: a second click must not send a second confirmation.
    Array.prototype.forEach.call(cardForm.querySelectorAll("button"), function (button) {
      setTimeout(function () {
        button.disabled = true;
      }, 0);
    });
  });

  fetch("/stripe/Checkout/savedCards" + signed, { credentials: "same-origin" })
    .then(function (response) {
      return response.ok ? response.json() : { cards: [] };
    })
    .then(function (answer) {
      var cards = (answer && answer.cards) || [];
      cards.forEach(function (card) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "submit";
        button.name = "paymentMethodId";
        button.value = card.paymentMethodId;
        button.className = "saved-card-pay";
        button.id = "pay-with-" + card.paymentMethodId;
        var brand = card.brand.charAt(0).toUpperCase() + card.brand.slice(1);
        button.textContent = "Pay with " + brand + " •••• " + card.lastFour + " (expires " + card.expires + ")";
        item.appendChild(button);
        list.appendChild(item);
      });
      section.hidden = cards.length === 0;
    })
    .catch(function () {
      section.hidden = true;
    });
})();
