//! What clients see of a user: the fields of SPEC §4, never the password.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::UserProfile;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: String,
    pub last_login: Option<String>,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
}

/// DRF's `DateTimeField` output: ISO 8601 with microseconds and `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
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
