//! The transactional outbox (SPEC §7). A state change and the email it causes are
//! written in one transaction; a worker inside `gatehouse serve` delivers the rows.
//!
//! Delivery: the worker claims due rows with `FOR UPDATE SKIP LOCKED` and leases them
//! (pushes `next_attempt_at` past the lease) in a short transaction, so several
//! instances never take the same row and no connection is held while talking SMTP.
//! A delivered row keeps its recipient and subject but loses its bodies (and so the
//! link). A failed attempt is retried with exponential backoff, within bounds, and
//! what the failure says about the message decides for how long: a message refused
//! for good (SMTP 5xx, an unusable address) is failed at once, one refused for now
//! (4xx) after `max_attempts` refusals; a mail server that cannot be reached says
//! nothing about the message, so an outage costs no message, until the message is
//! older than `max_delivery_time`. A failed row keeps its bodies, for an operator to
//! requeue it. A worker that dies mid-send leaves its rows to be retried when the
//! lease ends (at least once, never lost).

use std::sync::Arc;
use std::time::Duration;

use ::metrics::{counter, gauge};
use application::metrics;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{MailFailure, Mailer};
use domain::{EmailKind, EmailMessage, RepositoryError};
use tokio::sync::Notify;

use crate::db::{PgPool, connection, store_error};
use crate::email::composer::{EmailComposer, Recipient};
use crate::schema::email_outbox;

/// What enqueues messages: the templates, and a bell that wakes this instance's
/// worker when a transaction that queued a message has committed.
#[derive(Clone)]
pub struct Outbox {
    composer: Arc<EmailComposer>,
    bell: Arc<Notify>,
}

impl Outbox {
    pub fn new(composer: EmailComposer) -> Self {
        Self {
            composer: Arc::new(composer),
            bell: Arc::new(Notify::new()),
        }
    }

    /// Renders and inserts a message inside the caller's transaction.
    pub(crate) async fn enqueue(
        &self,
        conn: &mut AsyncPgConnection,
        kind: &EmailKind,
        to: &Recipient<'_>,
    ) -> QueryResult<()> {
        let message = self.composer.render(kind, to);
        diesel::insert_into(email_outbox::table)
            .values((
                email_outbox::recipient.eq(&message.to),
                email_outbox::subject.eq(&message.subject),
                email_outbox::body_text.eq(&message.text),
                email_outbox::body_html.eq(&message.html),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Tells the worker that committed messages are waiting.
    pub(crate) fn ring(&self) {
        self.bell.notify_one();
    }
}

/// How the worker delivers (`email.max_retry_interval`, `email.max_attempts`,
/// `email.max_delivery_time`; the rest are fixed).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct OutboxSettings {
    /// How often the worker looks for due messages when nothing rang.
    #[serde(skip)]
    pub poll_interval: Duration,
    /// The longest wait between two attempts of one message.
    #[serde(
        rename = "max_retry_interval",
        deserialize_with = "application::config::duration"
    )]
    pub max_backoff: Duration,
    /// How long a claimed message is left to its worker before another may retry it.
    #[serde(skip)]
    pub lease: Duration,
    /// Messages claimed at once.
    #[serde(skip)]
    pub batch: i64,
    /// Refusals (4xx replies) after which a message is failed.
    pub max_attempts: u32,
    /// How long after it was queued a message may still be retried.
    #[serde(deserialize_with = "application::config::duration")]
    pub max_delivery_time: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            lease: Duration::from_secs(60),
            batch: 10,
            max_attempts: 10,
            max_delivery_time: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

#[derive(Queryable)]
struct Claimed {
    id: i64,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    attempts: i32,
    refusals: i32,
}

/// Delivers the outbox through a `Mailer`.
pub struct OutboxWorker<M: Mailer> {
    pool: PgPool,
    mailer: M,
    bell: Arc<Notify>,
    settings: OutboxSettings,
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s… up to `max`.
fn backoff(attempts: i32, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Duration::from_secs(1u64 << exponent).min(max)
}

impl<M: Mailer> OutboxWorker<M> {
    pub fn new(pool: PgPool, mailer: M, outbox: &Outbox, settings: OutboxSettings) -> Self {
        Self {
            pool,
            mailer,
            bell: outbox.bell.clone(),
            settings,
        }
    }

    /// Delivers until `stop` resolves; errors are logged and retried, never fatal.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let delivered = match self.deliver_due().await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "outbox: delivery round failed"
                    );
                    0
                }
            };
            if delivered > 0 {
                continue;
            }
            tokio::select! {
                () = &mut stop => return,
                () = self.bell.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Claims the due messages, sends them and records each outcome; returns how many
    /// were claimed.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let claimed = self.claim().await?;
        for message in &claimed {
            // A slow server may have used up the lease of the rest of the batch: renew it
            // for this message, and leave the message alone if another worker took it.
            if !self.renew_lease(message).await? {
                continue;
            }
            let email = EmailMessage {
                to: message.recipient.clone(),
                subject: message.subject.clone(),
                text: message.body_text.clone(),
                html: message.body_html.clone(),
            };
            let outcome = self.mailer.send(&email).await;
            let failed = self.record(message, outcome.as_ref().err()).await?;
            let result = match (&outcome, failed) {
                (Ok(()), _) => "sent",
                (Err(_), true) => "failed",
                (Err(_), false) => "retry",
            };
            counter!(metrics::OUTBOX_DELIVERIES, "result" => result).increment(1);
            match outcome {
                Ok(()) => {
                    tracing::info!(outbox_id = message.id, subject = %message.subject, "email delivered")
                }
                Err(error) if failed => tracing::error!(
                    outbox_id = message.id,
                    attempts = message.attempts,
                    error = %error,
                    cause = %error.source,
                    "email not delivered; given up (email_outbox.failed_at is set)"
                ),
                Err(error) => tracing::warn!(
                    outbox_id = message.id,
                    attempts = message.attempts,
                    error = %error,
                    cause = %error.source,
                    "email not delivered; will retry"
                ),
            }
        }
        Ok(claimed.len())
    }

    /// `now() + duration`, computed by the database: one clock for every instance.
    fn from_now(
        duration: Duration,
    ) -> diesel::expression::SqlLiteral<diesel::sql_types::Timestamptz> {
        let millis = u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .min(i32::MAX as u64);
        diesel::dsl::sql(&format!("now() + interval '{millis} milliseconds'"))
    }

    async fn renew_lease(&self, message: &Claimed) -> anyhow::Result<bool> {
        let mut conn = connection(&self.pool).await?;
        let renewed = diesel::update(
            email_outbox::table
                .find(message.id)
                .filter(email_outbox::attempts.eq(message.attempts))
                .filter(email_outbox::sent_at.is_null())
                .filter(email_outbox::failed_at.is_null()),
        )
        .set(email_outbox::next_attempt_at.eq(Self::from_now(self.settings.lease)))
        .execute(&mut conn)
        .await?;
        Ok(renewed == 1)
    }

    async fn claim(&self) -> anyhow::Result<Vec<Claimed>> {
        let mut conn = connection(&self.pool).await?;
        let lease_until = Self::from_now(self.settings.lease);
        let batch = self.settings.batch;
        let claimed = conn
            .transaction(async |conn| {
                let due: Vec<Claimed> = email_outbox::table
                    .filter(email_outbox::sent_at.is_null())
                    .filter(email_outbox::failed_at.is_null())
                    .filter(email_outbox::next_attempt_at.le(diesel::dsl::now))
                    .order(email_outbox::id)
                    .limit(batch)
                    .select((
                        email_outbox::id,
                        email_outbox::recipient,
                        email_outbox::subject,
                        email_outbox::body_text,
                        email_outbox::body_html,
                        email_outbox::attempts,
                        email_outbox::refusals,
                    ))
                    .for_update()
                    .skip_locked()
                    .load(conn)
                    .await?;
                if due.is_empty() {
                    // An idle poll writes nothing (and so empties no cache).
                    return Ok(due);
                }
                let ids: Vec<i64> = due.iter().map(|m| m.id).collect();
                diesel::update(email_outbox::table.filter(email_outbox::id.eq_any(&ids)))
                    .set((
                        email_outbox::attempts.eq(email_outbox::attempts + 1),
                        email_outbox::next_attempt_at.eq(lease_until),
                    ))
                    .execute(conn)
                    .await?;
                Ok::<_, diesel::result::Error>(
                    due.into_iter()
                        .map(|m| Claimed {
                            attempts: m.attempts + 1,
                            ..m
                        })
                        .collect(),
                )
            })
            .await?;
        Ok(claimed)
    }

    /// Records an attempt's outcome; returns whether the message is now failed.
    async fn record(
        &self,
        message: &Claimed,
        failure: Option<&domain::ports::MailError>,
    ) -> anyhow::Result<bool> {
        let mut conn = connection(&self.pool).await?;
        // Only while this worker's claim stands (no other worker re-claimed it since).
        let row = email_outbox::table
            .find(message.id)
            .filter(email_outbox::attempts.eq(message.attempts));
        let Some(error) = failure else {
            diesel::update(row)
                .set((
                    email_outbox::sent_at.eq(diesel::dsl::now),
                    email_outbox::body_text.eq(""),
                    email_outbox::body_html.eq(""),
                    email_outbox::last_error.eq(None::<String>),
                ))
                .execute(&mut conn)
                .await?;
            return Ok(false);
        };
        let refusals = match error.failure {
            MailFailure::Rejected | MailFailure::Deferred => message.refusals.saturating_add(1),
            MailFailure::Unavailable => message.refusals,
        };
        let max_attempts = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let give_up = error.failure == MailFailure::Rejected || refusals >= max_attempts;
        let retry_at = Self::from_now(backoff(message.attempts, self.settings.max_backoff));
        let reason = format!("{error}: {}", error.source);
        let reason: String = reason.chars().take(500).collect();
        let failed = diesel::update(row)
            .set((
                email_outbox::next_attempt_at.eq(retry_at),
                email_outbox::last_error.eq(reason),
                email_outbox::refusals.eq(refusals),
                email_outbox::failed_at.eq(self.failed_at(give_up)),
            ))
            .returning(email_outbox::failed_at.is_not_null())
            .get_result::<bool>(&mut conn)
            .await
            .optional()?;
        Ok(failed.unwrap_or(false))
    }

    /// `now()` when the message is given up: when `give_up`, or when it was queued
    /// longer than `max_delivery_time` ago (the database's clock, like the leases').
    fn failed_at(
        &self,
        give_up: bool,
    ) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>
    {
        if give_up {
            return diesel::dsl::sql("now()");
        }
        let seconds = self.settings.max_delivery_time.as_secs();
        diesel::dsl::sql(&format!(
            "CASE WHEN created_at <= now() - interval '{seconds} seconds' THEN now() END"
        ))
    }
}

/// Sets the backlog gauges from the table now (when `/metrics` is read): the messages
/// neither delivered nor given up, and how long the oldest of them has waited.
pub async fn record_backlog(pool: &PgPool) -> Result<(), RepositoryError> {
    let mut conn = connection(pool).await?;
    let (waiting, oldest): (i64, Option<DateTime<Utc>>) = email_outbox::table
        .filter(email_outbox::sent_at.is_null())
        .filter(email_outbox::failed_at.is_null())
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(email_outbox::created_at),
        ))
        .get_result(&mut conn)
        .await
        .map_err(|error| {
            store_error(anyhow::Error::new(error).context("while counting the outbox"))
        })?;
    let age = oldest.map_or(0.0, |oldest| {
        (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
    });
    gauge!(metrics::OUTBOX_BACKLOG).set(waiting as f64);
    gauge!(metrics::OUTBOX_OLDEST).set(age);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let max = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|a| backoff(a, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(10_000, max), max);
    }
}
