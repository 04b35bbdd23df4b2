//! Payments: the Stripe API (`stripe`), and the signature on Stripe's webhook deliveries
//! (`signature`). Stripe is the only payment provider; the services call it directly.

pub mod signature;
pub mod stripe;
