"""The Mantle side: Mantle's generic payment and order rules, and how flows started here reach them.

Standalone, the rules play Moqui's part in this process over the service's own tables; with a Moqui configured,
`remote_moqui.RemoteMantleSide` asks the real Moqui over its REST API. Nothing here is Stripe-specific, and nothing
imports `service` or the emulator.

Modules:
    context         MantleContext (entity facade, call_service, rule_lease), RuleTransaction and the clock
    names           entity, status, enumeration and service names
    records         loading/updating the records the rules work on
    status          status changes checked against moqui.basic.StatusFlowTransition
    gateway         gateway config resolution, calling the configured implementation, re-reading its PGR
    rule_call       one rule run: its record's lease, its short write units, messages
    authorization   authorize#SinglePayment / #StorePayment / #OrderPayments
    settlement      capture#SinglePayment, release#SinglePayment, get#SinglePaymentGatewayDetails
    refunds         refund#SinglePayment, recording refunds the gateway made on its own
    orders          create#Order, add#OrderPartPayment, place#Order (no order items: see there)
    payment_rules   registers the payment services under Mantle's names
    order_rules     registers the order services, the PaymentMethod create and the read services
    mantle_rest     RestApi("mantle") with Mantle's paths
    side            the MantleSide protocol and its results
    local_side      LocalMantleSide (standalone)
    remote_moqui    RemoteMantleSide (Moqui over its REST API)

Where this port differs from Mantle (on purpose): messages Mantle puts in its message facade are answered as a
``messages`` out-parameter; a status change outside the status flow is refused *before* the gateway is called;
refund Payments carry the gateway's refund reference in ``paymentRefNum`` and are not applied to the refunded
Payment (no PaymentApplication entity here); authorize#OrderPayments authorizes each payment in its own
rule call and does not run autoApprove#Order; no database connection is held while the gateway is called (a rule
serializes on its record's lease and writes in short units: each gateway answer's PGR with the writes that follow from
it, committed before the next gateway call, where Moqui runs the whole rule in one transaction); place#Order checks
and authorizes first and writes the placement after; a partial capture splits the Payment (the captured amount stays
Delivered, the rest becomes a new Promised Payment) where Mantle leaves Payment.amount at the authorized amount.
"""
