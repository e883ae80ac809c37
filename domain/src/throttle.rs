//! Throttling (SPEC §8): DRF's rates, and what a rate limiter answers.

use std::time::Duration;

/// A DRF throttle rate, `"N/second|minute|hour|day"`: at most `requests` in any
/// `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub period: Duration,
}

impl Rate {
    /// DRF's reading: a count, a slash, and a period of which only the first letter
    /// counts (`5/m`, `5/min` and `5/minute` are the same).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || format!("invalid rate {raw:?}: expected \"N/second|minute|hour|day\"");
        let (count, period) = raw.split_once('/').ok_or_else(invalid)?;
        let requests = count.trim().parse().map_err(|_| invalid())?;
        let seconds = match period.trim().chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(invalid()),
        };
        Ok(Rate {
            requests,
            period: Duration::from_secs(seconds),
        })
    }
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Counted.
    Allowed,
    /// Not counted: the oldest request in the window leaves it after `retry_after`.
    Throttled { retry_after: Duration },
}

/// One request a limiter counted, which it can take back (`RateLimiter::refund`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The key it was counted under.
    pub key: String,
    /// Which of that key's requests it is, as the store names them.
    pub id: String,
}

/// A place in a window, taken before the work it limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Counted, until refunded.
    Granted(Ticket),
    /// Not counted: as `Verdict::Throttled`.
    Throttled { retry_after: Duration },
}

impl Reservation {
    /// The verdict, for callers that never refund.
    pub fn verdict(&self) -> Verdict {
        match self {
            Reservation::Granted(_) => Verdict::Allowed,
            Reservation::Throttled { retry_after } => Verdict::Throttled {
                retry_after: *retry_after,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_drf() {
        assert_eq!(
            Rate::parse("5/minute"),
            Ok(Rate {
                requests: 5,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rate::parse("10/h").unwrap().period,
            Duration::from_secs(3600)
        );
        assert_eq!(Rate::parse(" 3 / second ").unwrap().requests, 3);
        assert_eq!(
            Rate::parse("1/day").unwrap().period,
            Duration::from_secs(86_400)
        );
        for bad in ["5", "x/minute", "5/fortnight", "-1/minute", "5/"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }
}
