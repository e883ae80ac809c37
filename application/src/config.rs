//! How the settings types of every layer read themselves from configuration:
//! durations as `2s`, `5m`, `1h`, `1d` (humantime) or a bare number of seconds, lists
//! as an array or (from the environment) one comma-separated string, and rates as DRF
//! writes them. Only the composition root touches the `config` crate; these are the
//! field readers its sections hand to each type.

use std::time::Duration;

use domain::throttle::Rate;
use serde::{Deserialize, Deserializer};

/// No duration setting may exceed this: larger ones overflow date arithmetic.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration: `"2s"`, `"5m"`, `"1h 30m"`, `"1d"`, or a number of seconds (as a
/// number, or as digits from the environment); at most 100 years.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    let duration = match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Duration::from_secs(seconds),
        Raw::Text(text) => match text.trim().parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            Err(_) => humantime::parse_duration(text.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({e}); use e.g. 2s, 5m, 1h, 1d"
                ))
            })?,
        },
    };
    if duration > MAX_DURATION {
        return Err(serde::de::Error::custom("must not exceed 100 years"));
    }
    Ok(duration)
}

/// A duration (see `duration`) for date arithmetic.
pub fn chrono_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<chrono::Duration, D::Error> {
    let duration = duration(deserializer)?;
    chrono::Duration::from_std(duration).map_err(serde::de::Error::custom)
}

/// A TOML array, or (from the environment) one string of comma-separated items.
pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Items(Vec<String>),
        Joined(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Items(items) => items,
        Raw::Joined(joined) => joined
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// A DRF throttle rate, `"N/second|minute|hour|day"`.
pub fn rate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Rate::parse(&raw).map_err(serde::de::Error::custom)
}
