/*
 * The card-field frame of the stripe.js stand-in (and, with mode "controller", its hidden API frame).
 *
 * Settings come in the URL fragment (never sent to a server): the publishable key, the PaymentIntent's client
 * secret, the merchant page's origin and this frame's id. Messages are accepted only from the parent window at that
 * origin, and answers go only to it. API calls are same-origin: POST /v1/payment_intents/{id}/confirm (or
 * /v1/setup_intents/{id}/confirm for a SetupIntent's secret) with the publishable key, the client secret and the card
 * as payment_method_data (the emulator decides what the test card does), and GET /v1/payment_intents/{id}?client_secret=...
 * for retrievePaymentIntent.
 */
(function () {
  "use strict";

  var SOURCE = "stripe-standin";
  var settings;
  try {
    settings = JSON.parse(decodeURIComponent(window.location.hash.slice(1)));
  } catch (error) {
    settings = null;
  }
  if (!settings || !settings.parentOrigin || !settings.key) return;

  var form = document.getElementById("card-form");
  var number = document.getElementById("card-number");
  var expiry = document.getElementById("card-expiry");
  var cvc = document.getElementById("card-cvc");
  var errorText = document.getElementById("card-error");
  if (settings.mode !== "card") form.hidden = true;

  function post(type, extra) {
    var message = Object.assign({ source: SOURCE, frameId: settings.frameId, type: type }, extra || {});
    window.parent.postMessage(message, settings.parentOrigin);
  }

  function digits(value) {
    return value.replace(/\D/g, "");
  }

  function validationError(code, message, field) {
    return { type: "validation_error", code: code, message: message, param: field };
  }

  // The same first checks Stripe's fields make before anything is sent.
  function readCard() {
    var cardNumber = digits(number.value);
    if (!cardNumber) return { error: validationError("incomplete_number", "Your card number is incomplete.", "number") };
    if (cardNumber.length < 12) {
      return { error: validationError("incomplete_number", "Your card number is incomplete.", "number") };
    }
    var exp = digits(expiry.value);
    if (exp.length !== 4 && exp.length !== 6) {
      return { error: validationError("incomplete_expiry", "Your card's expiration date is incomplete.", "exp") };
    }
    var month = parseInt(exp.slice(0, 2), 10);
    var year = parseInt(exp.slice(2), 10);
    if (month < 1 || month > 12) {
      return { error: validationError("invalid_expiry_month", "Your card's expiration date is invalid.", "exp") };
    }
    var code = digits(cvc.value);
    if (code.length < 3) {
      return { error: validationError("incomplete_cvc", "Your card's security code is incomplete.", "cvc") };
    }
    return { number: cardNumber, expMonth: String(month), expYear: String(year < 100 ? 2000 + year : year), cvc: code };
  }

  function showError(error) {
    errorText.textContent = error ? error.message || "" : "";
    var field = error && error.param;
    number.setAttribute("aria-invalid", String(field === "number"));
    expiry.setAttribute("aria-invalid", String(field === "exp" || field === "exp_month" || field === "exp_year"));
    cvc.setAttribute("aria-invalid", String(field === "cvc"));
  }

  function setBusy(busy) {
    [number, expiry, cvc].forEach(function (input) {
      input.disabled = busy;
    });
  }

  function intentIdOf(clientSecret) {
    return String(clientSecret || "").split("_secret_")[0];
  }

  function api(method, path, params) {
    var body = new URLSearchParams(params);
    var init = { method: method, headers: { Authorization: "Bearer " + settings.key }, credentials: "omit" };
    if (method === "GET") {
      path += "?" + body.toString();
    } else {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = body.toString();
    }
    return fetch(path, init).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      });
    });
  }

  function withQuery(url, params) {
    var query = new URLSearchParams(params).toString();
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + query;
  }

  // Read the fields; on a validation error show it beside the field and answer it, else send the card (busy
  // meanwhile) and answer a network failure as Stripe.js does.
  function withCard(send) {
    var card = readCard();
    if (card.error) {
      showError(card.error);
      return Promise.resolve({ error: card.error });
    }
    showError(null);
    setBusy(true);
    return send(card).catch(function () {
      setBusy(false);
      return { error: { type: "api_connection_error", message: "We could not reach the payment service. Try again." } };
    });
  }

  function confirm(payload) {
    return withCard(function (card) {
      return confirmWith(card, payload);
    });
  }

  function confirmWith(card, payload) {
    var clientSecret = settings.clientSecret;
    var params = {
      client_secret: clientSecret,
      "payment_method_data[type]": "card",
      "payment_method_data[card][number]": card.number,
      "payment_method_data[card][exp_month]": card.expMonth,
      "payment_method_data[card][exp_year]": card.expYear,
      "payment_method_data[card][cvc]": card.cvc,
    };
    if (payload.returnUrl) params.return_url = payload.returnUrl;
    // A SetupIntent's secret (confirmSetup) confirms the SetupIntent; the answer is read the same way.
    var setup = intentIdOf(clientSecret).indexOf("seti_") === 0;
    var kind = setup ? "setup_intent" : "payment_intent";
    return api("POST", "/v1/" + kind + "s/" + encodeURIComponent(intentIdOf(clientSecret)) + "/confirm", params)
      .then(function (reply) {
        if (!reply.ok) {
          // Like Stripe's Payment Element, only field validation is shown in the frame; a confirmation error is
          // returned for the page to show ("If you receive an error result, you should be sure to show that error
          // to the customer", Stripe.js reference, confirmCardPayment / confirmPayment).
          setBusy(false);
          return { error: reply.data.error };
        }
        var intent = reply.data;
        var action = intent.next_action;
        if (intent.status === "requires_action" && action) {
          var url = action.redirect_to_url ? action.redirect_to_url.url : action.use_stripe_sdk.stripe_js;
          return { redirectTo: url };
        }
        if (["succeeded", "requires_capture", "processing"].indexOf(intent.status) >= 0) {
          if (payload.redirect === "if_required") {
            setBusy(false);
            return { paymentIntent: intent };
          }
          var query = { redirect_status: "succeeded" };
          query[kind] = intent.id;
          query[kind + "_client_secret"] = clientSecret;
          return { redirectTo: withQuery(payload.returnUrl, query) };
        }
        setBusy(false);
        var error = (setup ? intent.last_setup_error : intent.last_payment_error) || {
          type: "invalid_request_error",
          message: "The payment could not be confirmed (status " + intent.status + ").",
        };
        return { error: error };
      });
  }

  // The fields checked as elements.submit() does: a validation error is shown beside its field and returned.
  function validate() {
    var card = readCard();
    showError(card.error || null);
    return Promise.resolve(card.error ? { error: card.error } : {});
  }

  // stripe.createPaymentMethod: POST /v1/payment_methods with the publishable key, as Stripe.js does.
  function createPaymentMethod(payload) {
    return withCard(function (card) {
      var params = {
        type: "card",
        "card[number]": card.number,
        "card[exp_month]": card.expMonth,
        "card[exp_year]": card.expYear,
        "card[cvc]": card.cvc,
      };
      var billing = payload.billingDetails || {};
      ["name", "email", "phone"].forEach(function (field) {
        if (billing[field]) params["billing_details[" + field + "]"] = String(billing[field]);
      });
      return api("POST", "/v1/payment_methods", params).then(function (reply) {
        setBusy(false);
        return reply.ok ? { paymentMethod: reply.data } : { error: reply.data.error };
      });
    });
  }

  function retrieve(payload) {
    var params = { client_secret: payload.clientSecret };
    return api("GET", "/v1/payment_intents/" + encodeURIComponent(intentIdOf(payload.clientSecret)), params).then(
      function (reply) {
        return reply.ok ? { paymentIntent: reply.data } : { error: reply.data.error };
      },
      function () {
        return { error: { type: "api_connection_error", message: "We could not reach the payment service." } };
      }
    );
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== settings.parentOrigin || event.source !== window.parent) return;
    var data = event.data;
    if (!data || data.source !== SOURCE || data.frameId !== settings.frameId) return;
    var card = settings.mode === "card";
    var work = data.type === "confirm" && card ? confirm(data.payload || {})
      : data.type === "validate" && card ? validate()
      : data.type === "createPaymentMethod" && card ? createPaymentMethod(data.payload || {})
      : data.type === "retrieve" ? retrieve(data.payload || {})
      : Promise.resolve({ error: { type: "invalid_request_error", message: "Unsupported request " + data.type } });
    work.then(function (result) {
      post("result", Object.assign({ requestId: data.requestId }, result));
    });
  });

  function state() {
    var empty = !number.value && !expiry.value && !cvc.value;
    var card = readCard();
    return { empty: empty, complete: !card.error, value: { type: "card" } };
  }

  [number, expiry, cvc].forEach(function (input) {
    input.addEventListener("input", function () {
      if (input === number) {
        // Groups of four, as people read card numbers.
        input.value = digits(input.value).slice(0, 19).replace(/(\d{4})(?=\d)/g, "$1 ");
      } else if (input === expiry) {
        var d = digits(input.value).slice(0, 4);
        input.value = d.length > 2 ? d.slice(0, 2) + " / " + d.slice(2) : d;
      } else {
        input.value = digits(input.value).slice(0, 4);
      }
      showError(null);
      post("change", { event: state() });
    });
    input.addEventListener("focus", function () {
      post("focus", { event: {} });
    });
    input.addEventListener("blur", function () {
      post("blur", { event: {} });
    });
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });

  function reportSize() {
    post("resize", { height: Math.ceil(document.documentElement.getBoundingClientRect().height) + 4 });
  }
  if (window.ResizeObserver) new ResizeObserver(reportSize).observe(document.body);
  reportSize();
  post("ready", { event: {} });
})();
