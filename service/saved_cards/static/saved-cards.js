/*
 * The "Saved cards" page's new-card form: Stripe's Payment Element in setup mode (a SetupIntent's client secret),
 * confirmed with stripe.confirmSetup, which goes through 3-D Secure when the card asks for it and comes back to the
 * page's return URL. Errors are shown once, in the page's own message, in the shopper's words.
 */
(function () {
  "use strict";

  var form = document.getElementById("setup-form");
  if (!form || typeof window.Stripe !== "function") return;
  var button = document.getElementById("save-card-button");
  var message = document.getElementById("setup-message");
  var words = {};
  try {
    words = JSON.parse(form.dataset.errorMessages || "{}");
  } catch (error) {
    words = {};
  }

  function say(error) {
    var text = (error && (words[error.decline_code] || words[error.code] || error.message)) || "";
    message.textContent = text;
  }

  var stripe = window.Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  var element = elements.create("payment");
  element.on("ready", function () {
    document.getElementById("payment-element").setAttribute("aria-busy", "false");
    button.disabled = false;
  });
  element.mount("#payment-element");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    say(null);
    stripe
      .confirmSetup({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        if (result.error) {
          say(result.error);
          button.disabled = false;
        }
      });
  });
})();
