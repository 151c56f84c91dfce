"""Cards entered by staff (docs/staff-cards.md): a back-office page where an agent enters a customer's card taken on
the phone, saved to the party's Stripe Customer through a SetupIntent flagged MOTO when the Stripe account has MOTO,
and recorded as a Mantle PaymentMethod."""
