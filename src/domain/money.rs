//! Money in integer minor units of an ISO 4217 currency, end to end: a price per session, the
//! weekly charge it makes, a session's share of a paid week, and how an amount reads in a receipt.
//! No floating point anywhere near it.

use std::fmt;

/// The highest price per session accepted, in minor units (a sanity bound, and far inside `i32`
/// after multiplying by three sessions a week, so GraphQL's `Int` carries every amount).
pub const MAX_PRICE_MINOR: i64 = 10_000_000;

/// A lowercase three-letter ISO 4217 code, as Stripe writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        let code = code.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Currency(code.to_ascii_lowercase()))
        } else {
            Err("must be a three-letter ISO 4217 currency code, such as USD".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many digits follow the decimal point (Stripe's zero- and three-decimal currencies).
    pub fn exponent(&self) -> u32 {
        const ZERO: [&str; 16] = [
            "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
            "vuv", "xaf", "xof", "xpf",
        ];
        const THREE: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
        if ZERO.contains(&self.as_str()) {
            0
        } else if THREE.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }
}

/// An amount of one currency, in its minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

/// The smallest charge Stripe makes in a currency, in its minor units, where Stripe publishes one
/// ("Minimum and maximum charge amounts" in Stripe's currency guide; the figure holds when the
/// account settles in the same currency). Other currencies have no fixed minimum here: Stripe then
/// asks that the charge be worth at least 0.50 USD, which needs an exchange rate, and its refusal
/// reads as a bad price ([`crate::integrations::payments::stripe`]).
const STRIPE_MINIMUMS: [(&str, i64); 24] = [
    ("aed", 200),
    ("aud", 50),
    ("bgn", 100),
    ("brl", 50),
    ("cad", 50),
    ("chf", 50),
    ("czk", 1500),
    ("dkk", 250),
    ("eur", 50),
    ("gbp", 30),
    ("hkd", 400),
    ("huf", 17500),
    ("inr", 50),
    ("jpy", 50),
    ("mxn", 1000),
    ("myr", 200),
    ("nok", 300),
    ("nzd", 50),
    ("pln", 200),
    ("ron", 200),
    ("sek", 300),
    ("sgd", 50),
    ("thb", 1000),
    ("usd", 50),
];

impl Currency {
    /// The smallest amount Stripe charges in this currency, when it publishes one.
    pub fn minimum_charge(&self) -> Option<i64> {
        STRIPE_MINIMUMS
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map(|(_, minor)| *minor)
    }
}

/// A price per session must be at least what Stripe can charge in its currency (or 1 minor unit
/// where no minimum is published), at most [`MAX_PRICE_MINOR`], and, in a three-decimal currency,
/// a multiple of ten (Stripe takes no other amounts there).
pub fn check_price(price: &Money) -> Result<(), String> {
    let floor = price.currency.minimum_charge().unwrap_or(1);
    if !(floor..=MAX_PRICE_MINOR).contains(&price.amount_minor) {
        let least = Money {
            amount_minor: floor,
            currency: price.currency.clone(),
        };
        return Err(format!(
            "must be {least} ({floor} minor units) to {MAX_PRICE_MINOR} minor units"
        ));
    }
    if price.currency.exponent() == 3 && price.amount_minor % 10 != 0 {
        return Err(format!(
            "{} amounts must end in 0 (Stripe rounds three-decimal currencies to tens)",
            price.currency.as_str().to_ascii_uppercase()
        ));
    }
    Ok(())
}

impl Money {
    /// What a week costs: the price per session times the sessions per week.
    pub fn weekly(per_session: &Money, sessions_per_week: usize) -> Money {
        Money {
            amount_minor: per_session.amount_minor * sessions_per_week as i64,
            currency: per_session.currency.clone(),
        }
    }

    /// One session's share of a week paid `self` for `sessions_per_week` sessions: the amount
    /// divided evenly, rounded down (the refund never exceeds what the session cost).
    pub fn share(&self, sessions_per_week: usize) -> Money {
        Money {
            amount_minor: self.amount_minor / sessions_per_week.max(1) as i64,
            currency: self.currency.clone(),
        }
    }
}

impl fmt::Display for Money {
    /// `USD 40.00`, `JPY 5000`, `KWD 1.500`: the code and the amount with the currency's decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.as_str().to_ascii_uppercase();
        let exponent = self.currency.exponent();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{code} {sign}{abs}");
        }
        let unit = 10u64.pow(exponent);
        write!(
            f,
            "{code} {sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount_minor: i64, code: &str) -> Money {
        Money {
            amount_minor,
            currency: Currency::parse(code).unwrap(),
        }
    }

    #[test]
    fn currencies_are_three_letters_kept_lowercase() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "usd");
        assert_eq!(Currency::parse(" eur ").unwrap().as_str(), "eur");
        for bad in ["", "us", "usdd", "u$d", "€€€", "12a"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn amounts_read_with_their_currencys_decimals() {
        assert_eq!(money(4000, "usd").to_string(), "USD 40.00");
        assert_eq!(money(5, "eur").to_string(), "EUR 0.05");
        assert_eq!(money(5000, "jpy").to_string(), "JPY 5000");
        assert_eq!(money(1500, "kwd").to_string(), "KWD 1.500");
        assert_eq!(money(-1250, "gbp").to_string(), "GBP -12.50");
    }

    #[test]
    fn a_week_costs_the_price_times_the_sessions_and_a_share_never_exceeds_it() {
        let price = money(3333, "usd");
        let week = Money::weekly(&price, 3);
        assert_eq!(week.amount_minor, 9999);
        assert_eq!(week.share(3).amount_minor, 3333);
        // 1000 over three sessions: each share is 333, three shares never exceed the week.
        let odd = money(1000, "usd");
        assert_eq!(odd.share(3).amount_minor, 333);
        assert!(odd.share(3).amount_minor * 3 <= odd.amount_minor);
        assert_eq!(odd.share(0).amount_minor, 1000);
    }

    #[test]
    fn prices_are_bounded() {
        let check = |minor, code| check_price(&money(minor, code));
        // No published minimum: one minor unit is the floor.
        assert!(check(1, "isk").is_ok());
        assert!(check(MAX_PRICE_MINOR, "usd").is_ok());
        assert!(check(0, "isk").is_err());
        assert!(check(-5, "usd").is_err());
        assert!(check(MAX_PRICE_MINOR + 1, "usd").is_err());
        // Stripe's published minimums, in each currency's minor units.
        assert!(check(50, "usd").is_ok());
        let too_small = check(49, "usd").unwrap_err();
        assert!(too_small.contains("USD 0.50"), "{too_small}");
        assert!(check(30, "gbp").is_ok());
        assert!(check(29, "gbp").is_err());
        assert!(check(50, "jpy").is_ok());
        assert!(check(49, "jpy").is_err());
        assert!(check(17_499, "huf").is_err());
        // Three-decimal currencies take only multiples of ten.
        assert!(check(1_500, "kwd").is_ok());
        assert!(check(1_505, "kwd").is_err());
        // Three sessions a week at the highest price still fit GraphQL's Int.
        assert!(MAX_PRICE_MINOR * 3 <= i32::MAX as i64);
    }
}
