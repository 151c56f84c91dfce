"""The Mantle side: Moqui/Mantle's generic payment and order rules, and how flows started here reach them.

Standalone, `payment_rules` and `order_rules` play Moqui's part in this process; with a shared database,
`remote_moqui.RemoteMantleSide` asks the real Moqui over its REST API. Nothing here is Stripe-specific.
"""
