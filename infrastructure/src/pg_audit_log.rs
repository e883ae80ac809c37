//! `AuditLog` over PostgreSQL. The events of changes are written by the repository
//! making the change, in its transaction (`tx::record`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::admin::Page;
use domain::ports::AuditLog;
use domain::{AuditEvent, AuditKind, AuditQuery, AuditRecord, RepositoryError, UserId};

use crate::db::{PgPool, Step, connection};
use crate::schema::audit_events;
use crate::tx;

#[derive(Clone)]
pub struct PgAuditLog {
    pool: PgPool,
}

impl PgAuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: i64,
    occurred_at: DateTime<Utc>,
    event_type: String,
    actor_id: Option<i64>,
    subject_user_id: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: serde_json::Value,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = RepositoryError;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        let kind = AuditKind::parse(&row.event_type).ok_or_else(|| {
            RepositoryError::Unexpected(
                format!("unknown audit event type {:?}", row.event_type).into(),
            )
        })?;
        let details = match row.details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        Ok(AuditRecord {
            id: row.id,
            event: AuditEvent {
                kind,
                at: row.occurred_at,
                actor: row.actor_id.map(UserId),
                subject: row.subject_user_id.map(UserId),
                ip: row.ip,
                user_agent: row.user_agent,
                details,
            },
        })
    }
}

/// The matching events, as a boxed query both the page and the count start from.
fn matching(query: &AuditQuery) -> audit_events::BoxedQuery<'static, diesel::pg::Pg> {
    let mut q = audit_events::table.into_boxed();
    if let Some(user) = query.user {
        q = q.filter(
            audit_events::actor_id
                .eq(user.0)
                .or(audit_events::subject_user_id.eq(user.0)),
        );
    }
    if let Some(actor) = query.actor {
        q = q.filter(audit_events::actor_id.eq(actor.0));
    }
    if let Some(subject) = query.subject {
        q = q.filter(audit_events::subject_user_id.eq(subject.0));
    }
    if !query.kinds.is_empty() {
        let names: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
        q = q.filter(audit_events::event_type.eq_any(names));
    }
    if let Some(since) = query.since {
        q = q.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = query.until {
        q = q.filter(audit_events::occurred_at.le(until));
    }
    q
}

impl AuditLog for PgAuditLog {
    async fn record(&self, event: AuditEvent) -> Result<(), RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        tx::record(&mut conn, &event)
            .await
            .step("while recording an audit event")
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let rows: Vec<AuditRow> = matching(query)
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .offset(query.offset)
            .limit(query.limit)
            .select(AuditRow::as_select())
            .load(&mut conn)
            .await
            .step("while listing audit events")?;
        let count: i64 = matching(query)
            .count()
            .get_result(&mut conn)
            .await
            .step("while counting audit events")?;
        let items = rows
            .into_iter()
            .map(AuditRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Page { count, items })
    }
}
