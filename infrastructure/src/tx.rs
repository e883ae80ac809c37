//! Pieces of transactions that several repositories write, each written once: the
//! per-user lock, session revocation, API-key removal, one-time tokens, queued emails,
//! audit events, link tables and name lookups. Each runs inside the caller's
//! transaction and says what it was doing when it fails.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{AuditEvent, EmailKind, NewOneTimeToken, TokenPurpose};
use uuid::Uuid;

use crate::email::Outbox;
use crate::email::composer::Recipient;
use crate::schema::{
    api_tokens, audit_events, group_permissions, groups, one_time_tokens, permissions,
    refresh_tokens, users,
};
use crate::sql::PERMISSION_CODE;

/// Serialises every write to one user's sessions and credentials (rotation,
/// revocation, password changes, new sessions and keys) for the rest of the
/// transaction. Under READ COMMITTED an `UPDATE … WHERE family_id = …` cannot see a
/// successor inserted by a rotation that commits after the statement began; taking
/// this lock first makes the revocation wait for that rotation and then see its row.
pub(crate) async fn lock_user(conn: &mut AsyncPgConnection, user_id: i64) -> anyhow::Result<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(user_id)
        .execute(conn)
        .await
        .context("while locking the user's sessions")?;
    Ok(())
}

pub(crate) async fn user_exists(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> anyhow::Result<bool> {
    diesel::select(diesel::dsl::exists(users::table.find(user_id)))
        .get_result(conn)
        .await
        .context("while looking for the user")
}

/// Whether the user is active and `hash` is still his password hash.
pub(crate) async fn still_signed_in_as(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hash: &str,
) -> anyhow::Result<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .find(user_id)
            .filter(users::password.eq(hash))
            .filter(users::is_active),
    ))
    .get_result(conn)
    .await
    .context("while checking the user's password is unchanged")
}

/// Revokes the live tokens of one family and of the sessions opened from it, and from
/// those, and so on (they are the same user's); the caller holds the user's lock.
pub(crate) async fn revoke_family(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> anyhow::Result<usize> {
    // UNION, not UNION ALL: the walk stops at families it has already seen.
    diesel::sql_query(
        "WITH RECURSIVE ended (family_id) AS ( \
             SELECT $1::uuid \
             UNION \
             SELECT t.family_id FROM refresh_tokens t \
             JOIN ended e ON t.parent_family_id = e.family_id \
         ) \
         UPDATE refresh_tokens SET revoked_at = $2 \
         WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM ended)",
    )
    .bind::<diesel::sql_types::Uuid, _>(family_id)
    .bind::<diesel::sql_types::Timestamptz, _>(at)
    .execute(conn)
    .await
    .context("while revoking a session and the sessions opened from it")
}

/// The user's tokens in this family that are not revoked and, with `at`, not expired
/// then: what makes a session live.
pub(crate) fn live_tokens(
    user_id: i64,
    family_id: Uuid,
    at: Option<DateTime<Utc>>,
) -> refresh_tokens::BoxedQuery<'static, Pg> {
    let mut live = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(at) = at {
        live = live.filter(refresh_tokens::expires_at.gt(at));
    }
    live
}

/// Whether the session is live (`live_tokens`).
pub(crate) async fn session_live(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    family_id: Uuid,
    at: Option<DateTime<Utc>>,
) -> anyhow::Result<bool> {
    diesel::select(diesel::dsl::exists(live_tokens(user_id, family_id, at)))
        .get_result(conn)
        .await
        .context("while checking the session is live")
}

/// Takes the user's lock and revokes his live tokens, but those of session `keep`.
pub(crate) async fn revoke_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    keep: Option<Uuid>,
    at: DateTime<Utc>,
) -> anyhow::Result<u64> {
    lock_user(conn, user_id).await?;
    let live = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null());
    let revoked = match keep {
        Some(family) => {
            diesel::update(live.filter(refresh_tokens::family_id.ne(family)))
                .set(refresh_tokens::revoked_at.eq(at))
                .execute(conn)
                .await
        }
        None => {
            diesel::update(live)
                .set(refresh_tokens::revoked_at.eq(at))
                .execute(conn)
                .await
        }
    }
    .context("while revoking the user's sessions")?;
    Ok(revoked as u64)
}

/// Deletes every API key of the user; the caller holds the user's lock.
pub(crate) async fn delete_api_keys(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> anyhow::Result<()> {
    diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id)))
        .execute(conn)
        .await
        .context("while deleting the user's API keys")?;
    Ok(())
}

/// Stores a one-time token for `user_id` after retiring his unused ones of the same
/// purpose, so only the newest link works.
pub(crate) async fn store_token(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    token: &NewOneTimeToken,
) -> anyhow::Result<()> {
    retire_tokens(conn, user_id, token.purpose, token.created_at).await?;
    diesel::insert_into(one_time_tokens::table)
        .values((
            one_time_tokens::token_hash.eq(&token.digest),
            one_time_tokens::user_id.eq(user_id),
            one_time_tokens::purpose.eq(token.purpose.as_str()),
            one_time_tokens::created_at.eq(token.created_at),
            one_time_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .await
        .context("while storing a one-time token")?;
    Ok(())
}

/// Marks the user's unused tokens of `purpose` used: their links stop working.
pub(crate) async fn retire_tokens(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    purpose: TokenPurpose,
    at: DateTime<Utc>,
) -> anyhow::Result<usize> {
    diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(user_id))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(at))
    .execute(conn)
    .await
    .context("while retiring one-time tokens")
}

/// Marks one token used; `false` when it already was, or has expired by `at`.
pub(crate) async fn consume_token(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let updated = diesel::update(
        one_time_tokens::table
            .find(id)
            .filter(one_time_tokens::used_at.is_null())
            .filter(one_time_tokens::expires_at.gt(at)),
    )
    .set(one_time_tokens::used_at.eq(at))
    .execute(conn)
    .await
    .context("while consuming a one-time token")?;
    Ok(updated == 1)
}

/// Queues `kind` to the user, as he is named inside the transaction.
pub(crate) async fn email_user(
    outbox: &Outbox,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    kind: &EmailKind,
) -> anyhow::Result<()> {
    let (username, email): (String, String) = users::table
        .find(user_id)
        .select((users::username, users::email))
        .first(conn)
        .await
        .context("while reading the recipient of an email")?;
    let to = Recipient {
        id: user_id,
        username: &username,
        email: &email,
    };
    outbox
        .enqueue(conn, kind, &to)
        .await
        .context("while queueing an email")
}

/// The widths of the audit columns: what a client sends is cut to fit, never refused.
const MAX_IP_CHARS: usize = 45;
const MAX_USER_AGENT_CHARS: usize = 512;

fn cut(value: &Option<String>, max: usize) -> Option<String> {
    value.as_ref().map(|v| v.chars().take(max).collect())
}

/// Records an audit event.
pub(crate) async fn record(conn: &mut AsyncPgConnection, event: &AuditEvent) -> anyhow::Result<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::occurred_at.eq(event.at),
            audit_events::event_type.eq(event.kind.as_str()),
            audit_events::actor_id.eq(event.actor.map(|id| id.0)),
            audit_events::subject_user_id.eq(event.subject.map(|id| id.0)),
            audit_events::ip.eq(cut(&event.ip, MAX_IP_CHARS)),
            audit_events::user_agent.eq(cut(&event.user_agent, MAX_USER_AGENT_CHARS)),
            audit_events::details.eq(serde_json::Value::Object(event.details.clone())),
        ))
        .execute(conn)
        .await
        .with_context(|| format!("while recording the audit event {}", event.kind))?;
    Ok(())
}

/// A many-to-many link table: the owner's column and the linked row's column.
pub(crate) struct Links {
    table: &'static str,
    owner: &'static str,
    target: &'static str,
}

pub(crate) const USER_GROUPS: Links = Links {
    table: "user_groups",
    owner: "user_id",
    target: "group_id",
};
pub(crate) const USER_PERMISSIONS: Links = Links {
    table: "user_permissions",
    owner: "user_id",
    target: "permission_id",
};
pub(crate) const GROUP_PERMISSIONS: Links = Links {
    table: "group_permissions",
    owner: "group_id",
    target: "permission_id",
};

/// Makes `targets` the only rows linked to `owner`.
pub(crate) async fn replace_links(
    conn: &mut AsyncPgConnection,
    links: &Links,
    owner: i64,
    targets: &[i64],
) -> anyhow::Result<()> {
    let Links {
        table,
        owner: owner_column,
        target,
    } = links;
    diesel::sql_query(format!("DELETE FROM {table} WHERE {owner_column} = $1"))
        .bind::<BigInt, _>(owner)
        .execute(conn)
        .await
        .with_context(|| format!("while clearing {table}"))?;
    diesel::sql_query(format!(
        "INSERT INTO {table} ({owner_column}, {target}) SELECT $1, unnest($2::bigint[])"
    ))
    .bind::<BigInt, _>(owner)
    .bind::<Array<BigInt>, _>(targets)
    .execute(conn)
    .await
    .with_context(|| format!("while filling {table}"))?;
    Ok(())
}

/// The ids of the rows `names` name, or the names that name nothing.
fn resolved(names: &[String], found: Vec<(i64, String)>) -> Result<Vec<i64>, Vec<String>> {
    let unknown: Vec<String> = names
        .iter()
        .filter(|name| !found.iter().any(|(_, f)| f == *name))
        .cloned()
        .collect();
    match unknown.is_empty() {
        true => Ok(found.into_iter().map(|(id, _)| id).collect()),
        false => Err(unknown),
    }
}

/// The ids of the named groups, or the names that match no group. The rows stay
/// share-locked to the end of the transaction: no rename, edit or deletion of these
/// groups lands between this lookup and the commit.
pub(crate) async fn group_ids(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> anyhow::Result<Result<Vec<i64>, Vec<String>>> {
    let found: Vec<(i64, String)> = groups::table
        .filter(groups::name.eq_any(names))
        .select((groups::id, groups::name))
        .for_share()
        .load(conn)
        .await
        .context("while looking up groups by name")?;
    Ok(resolved(names, found))
}

/// The permissions (`app_label.codename`) the groups with these ids grant.
pub(crate) async fn permissions_of_groups(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> anyhow::Result<Vec<String>> {
    permissions::table
        .filter(
            permissions::id.eq_any(
                group_permissions::table
                    .filter(group_permissions::group_id.eq_any(ids))
                    .select(group_permissions::permission_id),
            ),
        )
        .select(sql::<Text>(PERMISSION_CODE))
        .load(conn)
        .await
        .context("while reading the permissions of groups")
}

/// The ids of the `app_label.codename` permissions, or the codes that match none.
pub(crate) async fn permission_ids(
    conn: &mut AsyncPgConnection,
    codes: &[String],
) -> anyhow::Result<Result<Vec<i64>, Vec<String>>> {
    let found: Vec<(i64, String)> = permissions::table
        .filter(
            sql::<Bool>(PERMISSION_CODE)
                .sql(" = ANY(")
                .bind::<Array<Text>, _>(codes.to_vec())
                .sql(")"),
        )
        .select((permissions::id, sql::<Text>(PERMISSION_CODE)))
        .load(conn)
        .await
        .context("while looking up permissions by code")?;
    Ok(resolved(codes, found))
}
