/*
 * What the pages with a Stripe Payment Element share (checkout.js, staff-card.js): the one error region, the words
 * shown for a Stripe error (the server's table in the form's data-error-messages, by decline code, then code, then
 * type; never Stripe's developer text), the busy state of the submit button, and mounting the Payment Element.
 */
(function () {
  "use strict";

  window.moquiStripePage = function (form, parts) {
    var messages = {};
    try {
      messages = JSON.parse(form.dataset.errorMessages || "{}");
    } catch (ignored) {
      messages = {};
    }

    // The page's one place for errors (hidden while empty); brought into view so it is seen on a phone too.
    function showError(text) {
      parts.message.textContent = text || "";
      if (text && parts.message.scrollIntoView) parts.message.scrollIntoView({ block: "nearest" });
    }

    function textFor(error) {
      var keys = [error && error.decline_code, error && error.code, error && error.type];
      for (var i = 0; i < keys.length; i++) {
        if (keys[i] && Object.prototype.hasOwnProperty.call(messages, keys[i])) return messages[keys[i]];
      }
      return messages[""] || "It did not go through. Please try again.";
    }

    function setBusy(busy) {
      parts.button.disabled = busy;
      parts.button.setAttribute("aria-busy", String(busy));
      parts.status.textContent = busy ? parts.busyText : "";
    }

    // The Payment Element in `container`; the button is enabled once it is ready. False when stripe.js is missing.
    function mountPaymentElement(makeElements) {
      var loading = parts.loading;
      if (typeof window.Stripe !== "function") {
        if (loading) loading.textContent = "";
        showError("The secure card form could not be loaded. Please check the connection and reload the page.");
        return null;
      }
      var elements = makeElements(window.Stripe(form.dataset.publishableKey));
      var element = elements.create("payment");
      element.on("ready", function () {
        if (loading && loading.parentNode) loading.parentNode.removeChild(loading);
        parts.container.setAttribute("aria-busy", "false");
        parts.button.disabled = false;
      });
      element.on("loaderror", function () {
        showError("The secure card form could not be loaded. Please reload the page.");
      });
      element.mount(parts.container);
      return elements;
    }

    return { showError: showError, textFor: textFor, setBusy: setBusy, mountPaymentElement: mountPaymentElement };
  };
})();
