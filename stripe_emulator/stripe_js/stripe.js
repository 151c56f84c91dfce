/*
 * A stand-in for the subset of Stripe.js v3 that moqui-stripe's checkout page uses, served by the Stripe emulator.
 *
 *   const stripe = Stripe("pk_test_...");
 *   const elements = stripe.elements({ clientSecret });
 *   const payment = elements.create("payment");
 *   payment.mount("#payment-element");             // the card fields, in an iframe on the emulator's origin
 *   payment.on("ready" | "change" | "loaderror", handler);
 *   const { error } = await stripe.confirmPayment({ elements, confirmParams: { return_url } });
 *   const { error } = await stripe.confirmSetup({ elements, confirmParams: { return_url } });   // a SetupIntent
 *   const { paymentIntent } = await stripe.retrievePaymentIntent(clientSecret);
 *
 * Deferred intents ("Finalize payments on the server"): elements made with { mode: "setup" | "payment", currency,
 * paymentMethodCreation: "manual" } and no client secret; `await elements.submit()` checks the fields, then
 * `await stripe.createPaymentMethod({ elements, params: { billing_details } })` resolves with { paymentMethod } (or
 * { error }), for the server to confirm an intent with (the staff card page does, to flag MOTO).
 *
 * confirmPayment redirects to return_url (with payment_intent, payment_intent_client_secret, redirect_status) when
 * the payment went through, to the emulator's 3-D Secure page when the card asks for it, and resolves with
 * { error } on a decline, as Stripe.js does. With redirect: "if_required" it resolves with { paymentIntent } instead
 * of redirecting after a payment that needed no authentication.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var ORIGIN = new URL(script ? script.src : "/", window.location.href).origin;
  var FRAME_URL = ORIGIN + "/v3/elements-frame.html";
  var SOURCE = "stripe-standin";
  var frameCount = 0;
  var requestCount = 0;

  function integrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  function intentIdOf(clientSecret) {
    var at = typeof clientSecret === "string" ? clientSecret.indexOf("_secret_") : -1;
    if (at <= 0) {
      throw integrationError("Invalid value for clientSecret: it should be a PaymentIntent client secret.");
    }
    return clientSecret.slice(0, at);
  }

  // One hidden or visible iframe on the emulator's origin, spoken to with postMessage.
  function Frame(config, visible) {
    var self = this;
    frameCount += 1;
    this.id = "__stripe_standin_frame_" + frameCount;
    this.pending = {};
    this.listeners = {};
    this.ready = new Promise(function (resolve) {
      self.markReady = resolve;
    });
    var settings = {
      frameId: this.id,
      key: config.key,
      clientSecret: config.clientSecret || null,
      parentOrigin: window.location.origin,
      mode: visible ? "card" : "controller",
    };
    var iframe = document.createElement("iframe");
    iframe.name = this.id;
    iframe.title = visible ? "Secure payment input frame" : "";
    iframe.setAttribute("frameborder", "0");
    iframe.setAttribute("allowtransparency", "true");
    iframe.setAttribute("scrolling", "no");
    iframe.style.cssText = visible
      ? "border:0;width:100%;min-height:180px;display:block;background:transparent;"
      : "border:0;width:1px;height:1px;position:absolute;left:-9999px;";
    if (!visible) {
      iframe.setAttribute("aria-hidden", "true");
      iframe.tabIndex = -1;
    }
    iframe.src = FRAME_URL + "#" + encodeURIComponent(JSON.stringify(settings));
    this.iframe = iframe;
    window.addEventListener("message", function (event) {
      // Only our own frame, from the emulator's origin, may answer.
      if (event.origin !== ORIGIN || event.source !== iframe.contentWindow) return;
      var data = event.data;
      if (!data || data.source !== SOURCE || data.frameId !== self.id) return;
      if (data.type === "ready") self.markReady();
      if (data.type === "resize" && visible) iframe.style.height = data.height + "px";
      if (data.type === "result" && self.pending[data.requestId]) {
        self.pending[data.requestId](data);
        delete self.pending[data.requestId];
      }
      (self.listeners[data.type] || []).forEach(function (handler) {
        handler(data.event || {});
      });
    });
  }

  Frame.prototype.request = function (type, payload) {
    var self = this;
    requestCount += 1;
    var requestId = "req_" + requestCount;
    return this.ready.then(function () {
      return new Promise(function (resolve) {
        self.pending[requestId] = resolve;
        var message = { source: SOURCE, frameId: self.id, type: type, requestId: requestId, payload: payload };
        self.iframe.contentWindow.postMessage(message, ORIGIN);
      });
    });
  };

  Frame.prototype.on = function (type, handler) {
    (this.listeners[type] = this.listeners[type] || []).push(handler);
  };

  function PaymentElement(elements, options) {
    this.elements = elements;
    this.options = options || {};
    this.handlers = {};
    this.frame = null;
  }

  PaymentElement.prototype.mount = function (target) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) throw integrationError("The selector you specified (" + target + ") applies to no DOM elements.");
    if (this.frame) throw integrationError("This Element is already mounted.");
    var self = this;
    this.frame = new Frame({ key: this.elements.stripe.key, clientSecret: this.elements.clientSecret }, true);
    ["ready", "change", "focus", "blur", "loaderror"].forEach(function (type) {
      self.frame.on(type, function (event) {
        (self.handlers[type] || []).forEach(function (handler) {
          handler(Object.assign({ elementType: "payment" }, event));
        });
      });
    });
    container.appendChild(this.frame.iframe);
    return this;
  };

  PaymentElement.prototype.unmount = function () {
    if (this.frame && this.frame.iframe.parentNode) this.frame.iframe.parentNode.removeChild(this.frame.iframe);
    this.frame = null;
  };

  PaymentElement.prototype.destroy = PaymentElement.prototype.unmount;

  PaymentElement.prototype.on = function (type, handler) {
    (this.handlers[type] = this.handlers[type] || []).push(handler);
    return this;
  };

  PaymentElement.prototype.off = function (type, handler) {
    this.handlers[type] = (this.handlers[type] || []).filter(function (h) {
      return h !== handler;
    });
    return this;
  };

  function Elements(stripe, options) {
    options = options || {};
    if (options.clientSecret) {
      intentIdOf(options.clientSecret);
    } else if (options.mode !== "payment" && options.mode !== "setup") {
      throw integrationError("elements(): either clientSecret or mode (payment or setup) is required.");
    }
    this.stripe = stripe;
    this.clientSecret = options.clientSecret || null;
    this.paymentMethodCreation = options.paymentMethodCreation || "auto";
    this.submitted = false;
    this.element = null;
  }

  Elements.prototype.create = function (type, options) {
    if (type !== "payment") throw integrationError("This stand-in only provides the 'payment' Element, not " + type);
    if (this.element) throw integrationError("Can only create one Element of type payment.");
    this.element = new PaymentElement(this, options);
    return this.element;
  };

  Elements.prototype.getElement = function (type) {
    return type === "payment" ? this.element : null;
  };

  // Stripe.js checks the fields here and wants this called before createPaymentMethod.
  Elements.prototype.submit = function () {
    var self = this;
    if (!this.element || !this.element.frame) return Promise.resolve({});
    return this.element.frame.request("validate", {}).then(function (reply) {
      self.submitted = !reply.error;
      return reply.error ? { error: reply.error } : {};
    });
  };

  function StripeStandIn(key, options) {
    if (!(this instanceof StripeStandIn)) return new StripeStandIn(key, options);
    if (typeof key !== "string" || key.indexOf("pk_") !== 0) {
      throw integrationError("Invalid value for Stripe(): apiKey should be a publishable key (pk_...).");
    }
    this.key = key;
    this.controller = null;
  }

  StripeStandIn.prototype.elements = function (options) {
    return new Elements(this, options);
  };

  StripeStandIn.prototype.confirmPayment = function (options) {
    options = options || {};
    var elements = options.elements;
    var element = elements && elements.element;
    if (!element || !element.frame) {
      return Promise.reject(integrationError("confirmPayment(): elements with a mounted payment Element is required."));
    }
    var redirect = options.redirect || "always";
    var returnUrl = options.confirmParams && options.confirmParams.return_url;
    if (!returnUrl && redirect !== "if_required") {
      return Promise.reject(integrationError("confirmPayment(): expected confirmParams.return_url."));
    }
    return element.frame.request("confirm", { returnUrl: returnUrl || null, redirect: redirect }).then(function (reply) {
      if (reply.redirectTo) {
        window.location.assign(reply.redirectTo);
        // Stripe.js never settles once it navigates away.
        return new Promise(function () {});
      }
      return reply.error ? { error: reply.error } : { paymentIntent: reply.paymentIntent };
    });
  };

  StripeStandIn.prototype.createPaymentMethod = function (options) {
    options = options || {};
    var elements = options.elements;
    var element = elements && elements.element;
    if (!element || !element.frame) {
      return Promise.reject(integrationError("createPaymentMethod(): elements with a mounted payment Element is required."));
    }
    if (elements.paymentMethodCreation !== "manual") {
      return Promise.reject(
        integrationError("createPaymentMethod(): elements must be created with paymentMethodCreation: 'manual'.")
      );
    }
    if (!elements.submitted) {
      return Promise.reject(integrationError("elements.submit() must be called before stripe.createPaymentMethod()."));
    }
    elements.submitted = false;
    var params = options.params || {};
    return element.frame.request("createPaymentMethod", { billingDetails: params.billing_details || {} }).then(
      function (reply) {
        return reply.error ? { error: reply.error } : { paymentMethod: reply.paymentMethod };
      }
    );
  };

  // Stripe.js confirmSetup: the same flow for an Elements group made with a SetupIntent's client secret; it redirects
  // with setup_intent, setup_intent_client_secret and redirect_status (Stripe.js reference, stripe.confirmSetup).
  StripeStandIn.prototype.confirmSetup = function (options) {
    options = options || {};
    var elements = options.elements;
    if (!elements || !elements.clientSecret || elements.clientSecret.indexOf("seti_") !== 0) {
      return Promise.reject(integrationError("confirmSetup(): elements made with a SetupIntent client secret is required."));
    }
    return this.confirmPayment(options).then(function (result) {
      return result.paymentIntent ? { setupIntent: result.paymentIntent } : result;
    });
  };

  StripeStandIn.prototype.retrievePaymentIntent = function (clientSecret) {
    try {
      intentIdOf(clientSecret);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.controller) {
      this.controller = new Frame({ key: this.key }, false);
      document.body.appendChild(this.controller.iframe);
    }
    return this.controller.request("retrieve", { clientSecret: clientSecret }).then(function (reply) {
      return reply.error ? { error: reply.error } : { paymentIntent: reply.paymentIntent };
    });
  };

  window.Stripe = StripeStandIn;
})();
