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

/// A price per session must be positive and at most [`MAX_PRICE_MINOR`].
pub fn check_price(amount_minor: i64) -> Result<(), String> {
    if (1..=MAX_PRICE_MINOR).contains(&amount_minor) {
        Ok(())
    } else {
        Err(format!("must be 1 to {MAX_PRICE_MINOR} minor units"))
    }
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
        assert!(check_price(1).is_ok());
        assert!(check_price(MAX_PRICE_MINOR).is_ok());
        assert!(check_price(0).is_err());
        assert!(check_price(-5).is_err());
        assert!(check_price(MAX_PRICE_MINOR + 1).is_err());
        // Three sessions a week at the highest price still fit GraphQL's Int.
        assert!(MAX_PRICE_MINOR * 3 <= i32::MAX as i64);
    }
}
