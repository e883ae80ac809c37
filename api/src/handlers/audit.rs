//! Admin: the audit trail (`/auth/audit/`).

use actix_web::{HttpRequest, HttpResponse, web};
use application::ValidationErrors;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use domain::{AuditKind, AuditQuery, AuditRecord, UserId};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::errors::{ApiError, Detail, ErrorBody};
use crate::pagination::{Paginated, query_pairs, respond_page};
use crate::representation::timestamp;
use crate::startup::AppState;

/// A security event: who did what, when, from where, to whom.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEventResponse {
    pub(crate) id: i64,
    #[schema(format = DateTime)]
    pub(crate) occurred_at: String,
    #[schema(example = "login.succeeded")]
    pub(crate) event_type: &'static str,
    /// The user who acted.
    pub(crate) actor: Option<i64>,
    /// The user acted on.
    pub(crate) subject_user: Option<i64>,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub(crate) details: Map<String, Value>,
}

impl From<AuditRecord> for AuditEventResponse {
    fn from(record: AuditRecord) -> Self {
        let event = record.event;
        AuditEventResponse {
            id: record.id,
            occurred_at: timestamp(event.at),
            event_type: event.kind.as_str(),
            actor: event.actor.map(|id| id.0),
            subject_user: event.subject.map(|id| id.0),
            ip: event.ip,
            user_agent: event.user_agent,
            details: event.details,
        }
    }
}

/// Django's `DateTimeField` input: ISO 8601 with an offset, or without one (UTC), or a
/// bare date (its midnight, UTC); years 1 to 9999, as Python's `datetime`.
fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    parse_any_time(raw).filter(|at| (1..=9999).contains(&at.year()))
}

fn parse_any_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

/// The filters: `?user=` (actor or subject), `?actor=`, `?subject_user=`,
/// `?event_type=` (comma-separated or repeated), `?occurred_at_after=`,
/// `?occurred_at_before=` (both inclusive). Empty values filter nothing.
fn audit_filters(pairs: &[(String, String)]) -> Result<AuditQuery, ApiError> {
    let value = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    };
    let mut errors = ValidationErrors::new();
    let mut id = |name: &str| {
        let raw = value(name)?;
        match raw.parse::<i64>() {
            Ok(id) => Some(UserId(id)),
            Err(_) => {
                errors.add(name, "Enter a number.");
                None
            }
        }
    };
    let user = id("user");
    let actor = id("actor");
    let subject = id("subject_user");
    let mut kinds = Vec::new();
    for raw in pairs
        .iter()
        .filter(|(k, _)| k == "event_type")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        match AuditKind::parse(raw) {
            Some(kind) => kinds.push(kind),
            None => errors.add(
                "event_type",
                format!("Select a valid choice. {raw} is not one of the available choices."),
            ),
        }
    }
    let mut time = |name: &str| {
        let raw = value(name)?;
        let parsed = parse_time(raw);
        if parsed.is_none() {
            errors.add(name, "Enter a valid date/time.");
        }
        parsed
    };
    let since = time("occurred_at_after");
    let until = time("occurred_at_before");
    errors.into_result().map_err(ApiError::Validation)?;
    Ok(AuditQuery {
        user,
        actor,
        subject,
        kinds,
        since,
        until,
        offset: 0,
        limit: 0,
    })
}

/// `GET /auth/audit/` — `?page= ?page_size= ?user= ?actor= ?subject_user=
/// ?event_type= ?occurred_at_after= ?occurred_at_before=`, newest first.
///
/// # Responses
/// 200 `{count, next, previous, results: [{id, occurred_at, event_type, actor,
/// subject_user, ip, user_agent, details}]}`; 400 for a bad filter; 404 `Invalid
/// page.`; 401; 403 without staff status and `auth.view_auditevent`.
#[utoipa::path(
    get, path = "/auth/audit/", tag = "audit", operation_id = "audit_list",
    summary = "The audit trail, newest first, a page at a time",
    params(
        ("page" = Option<String>, Query, description = "A page number from 1, or `last`"),
        ("page_size" = Option<i64>, Query, description = "Default 20, at most 100"),
        ("user" = Option<i64>, Query, description = "Events where this user is the actor or the subject"),
        ("actor" = Option<i64>, Query),
        ("subject_user" = Option<i64>, Query),
        ("event_type" = Option<String>, Query, description = "Event types, comma-separated (or the parameter repeated)"),
        ("occurred_at_after" = Option<String>, Query, description = "ISO 8601 date or date-time, inclusive"),
        ("occurred_at_before" = Option<String>, Query, description = "ISO 8601 date or date-time, inclusive"),
    ),
    responses(
        (status = 200, description = "A page of events", body = Paginated<AuditEventResponse>),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 403, description = "Not staff with `auth.view_auditevent`", body = Detail),
        (status = 404, description = "`Invalid page.`", body = Detail),
    ),
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let filters = audit_filters(&query_pairs(&req)?)?;
    respond_page::<AuditRecord, AuditEventResponse>(&req, async |offset, limit| {
        let query = AuditQuery {
            offset,
            limit,
            ..filters.clone()
        };
        Ok(state.gatehouse.audit_events(&grant, query).await?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn times_read_as_django_reads_them() {
        let noon = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        for raw in [
            "2026-03-01T12:00:00Z",
            "2026-03-01T13:00:00+01:00",
            "2026-03-01T12:00:00",
            "2026-03-01 12:00:00.000",
            "2026-03-01T12:00",
        ] {
            assert_eq!(parse_time(raw), Some(noon), "{raw}");
        }
        assert_eq!(
            parse_time("2026-03-01"),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
        );
        for raw in [
            "yesterday",
            "2026-13-01",
            "1700000000",
            "2026-03-01T25:00",
            "-5000-01-01",
            "+12026-01-01T00:00:00Z",
            "0000-01-01",
        ] {
            assert_eq!(parse_time(raw), None, "{raw}");
        }
    }

    #[test]
    fn filters_are_read_and_bad_ones_named() {
        let query = audit_filters(&pairs(&[
            ("user", "7"),
            ("event_type", "login.failed,logout"),
            ("event_type", "password.reset"),
            ("occurred_at_after", "2026-01-01"),
            ("actor", ""),
        ]))
        .unwrap();
        assert_eq!(query.user, Some(UserId(7)));
        assert_eq!(query.actor, None);
        assert_eq!(
            query.kinds,
            vec![
                AuditKind::LoginFailed,
                AuditKind::Logout,
                AuditKind::PasswordReset
            ]
        );
        assert!(query.since.is_some() && query.until.is_none());

        let Err(ApiError::Validation(errors)) = audit_filters(&pairs(&[
            ("user", "me"),
            ("event_type", "login"),
            ("occurred_at_before", "soon"),
        ])) else {
            panic!("bad filters were accepted");
        };
        assert_eq!(errors.messages("user"), ["Enter a number."]);
        assert_eq!(
            errors.messages("event_type"),
            ["Select a valid choice. login is not one of the available choices."]
        );
        assert_eq!(
            errors.messages("occurred_at_before"),
            ["Enter a valid date/time."]
        );
    }
}
