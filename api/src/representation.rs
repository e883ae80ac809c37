//! What clients see of a user: the fields of SPEC §4, never the password.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::UserProfile;
use serde::Serialize;
use utoipa::ToSchema;

/// A user: never his password.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    pub(crate) id: i64,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) is_active: bool,
    pub(crate) is_staff: bool,
    pub(crate) is_superuser: bool,
    #[schema(format = DateTime)]
    pub(crate) date_joined: String,
    #[schema(format = DateTime)]
    pub(crate) last_login: Option<String>,
    /// The names of his groups.
    pub(crate) groups: Vec<String>,
    /// His effective permissions (`app_label.codename`), from his groups and direct
    /// grants; every permission for a superuser.
    pub(crate) permissions: Vec<String>,
}

/// DRF's `DateTimeField` output, Python's `isoformat()` with `Z`: six fraction
/// digits when there are microseconds, none otherwise.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    let format = if at.timestamp_subsec_micros() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    at.to_rfc3339_opts(format, true)
}

impl From<UserProfile> for UserResponse {
    fn from(profile: UserProfile) -> Self {
        let user = profile.user;
        UserResponse {
            id: user.id.0,
            username: user.username.to_string(),
            email: user.email.to_string(),
            first_name: user.first_name,
            last_name: user.last_name,
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            date_joined: timestamp(user.date_joined),
            last_login: user.last_login.map(timestamp),
            groups: profile.groups,
            permissions: profile.permissions,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_read_like_drf() {
        let at = Utc.with_ymd_and_hms(2024, 9, 3, 5, 44, 30).unwrap();
        assert_eq!(timestamp(at), "2024-09-03T05:44:30Z");
        let with_micros = at + chrono::Duration::microseconds(120_000);
        assert_eq!(timestamp(with_micros), "2024-09-03T05:44:30.120000Z");
    }
}
