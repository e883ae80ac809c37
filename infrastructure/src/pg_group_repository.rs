//! `GroupRepository` over PostgreSQL.

use anyhow::Context;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::admin::{Group, GroupChanges, Page};
use domain::authorization::Authority;
use domain::ports::{CreateGroupError, GroupRepository, UpdateGroupError};
use domain::{AuditEvent, RepositoryError};

use crate::db::{PgPool, Step, TxError, connection, settle};
use crate::schema::groups;
use crate::sql::GROUP_PERMISSIONS;
use crate::tx;

#[derive(Clone)]
pub struct PgGroupRepository {
    pool: PgPool,
}

impl PgGroupRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

type GroupRow = (i64, String, Vec<String>);

fn group((id, name, permissions): GroupRow) -> Group {
    Group {
        id,
        name,
        permissions,
    }
}

async fn load(conn: &mut AsyncPgConnection, id: i64) -> anyhow::Result<Option<Group>> {
    let row: Option<GroupRow> = groups::table
        .find(id)
        .select((
            groups::id,
            groups::name,
            sql::<Array<Text>>(GROUP_PERMISSIONS),
        ))
        .first(conn)
        .await
        .optional()
        .context("while reading the group")?;
    Ok(row.map(group))
}

/// Makes `codes` the group's permissions; `Err` names the codes that match nothing.
async fn set_permissions(
    conn: &mut AsyncPgConnection,
    group: i64,
    codes: &[String],
) -> anyhow::Result<Result<(), Vec<String>>> {
    let ids = match tx::permission_ids(conn, codes).await? {
        Ok(ids) => ids,
        Err(unknown) => return Ok(Err(unknown)),
    };
    tx::replace_links(conn, &tx::GROUP_PERMISSIONS, group, &ids).await?;
    Ok(Ok(()))
}

impl GroupRepository for PgGroupRepository {
    async fn list(&self, offset: i64, limit: i64) -> Result<Page<Group>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = groups::table
            .count()
            .get_result(&mut conn)
            .await
            .step("while counting groups")?;
        let rows: Vec<GroupRow> = groups::table
            .select((
                groups::id,
                groups::name,
                sql::<Array<Text>>(GROUP_PERMISSIONS),
            ))
            .order((groups::name, groups::id))
            .offset(offset)
            .limit(limit)
            .load(&mut conn)
            .await
            .step("while reading a page of groups")?;
        Ok(Page {
            count,
            items: rows.into_iter().map(group).collect(),
        })
    }

    async fn get(&self, id: i64) -> Result<Option<Group>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        load(&mut conn, id).await.step("while reading a group")
    }

    async fn create(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> Result<Group, CreateGroupError> {
        let mut conn = connection(&self.pool).await?;
        let result = conn
            .transaction(async |conn| {
                let id: i64 = diesel::insert_into(groups::table)
                    .values(groups::name.eq(&name))
                    .returning(groups::id)
                    .get_result(conn)
                    .await
                    .context("while inserting the group")?;
                set_permissions(conn, id, &permissions)
                    .await?
                    .map_err(|unknown| {
                        TxError::Refused(CreateGroupError::UnknownPermissions(unknown))
                    })?;
                tx::record(conn, &audit.clone().detail("id", id)).await?;
                Ok(load(conn, id).await?.context("the new group vanished")?)
            })
            .await
            .map_err(|error: TxError<CreateGroupError>| {
                error.unique(|constraint| {
                    (constraint == "groups_name_key").then_some(CreateGroupError::DuplicateName)
                })
            });
        settle(result, "while creating a group")?
    }

    async fn update(
        &self,
        id: i64,
        changes: GroupChanges,
        authority: &Authority,
        audit: AuditEvent,
    ) -> Result<Option<Group>, UpdateGroupError> {
        let mut conn = connection(&self.pool).await?;
        let result = conn
            .transaction(async |conn| {
                // The row lock queues concurrent edits of the group: what it gains is
                // judged against its permissions as the previous edit left them.
                let locked: Option<i64> = groups::table
                    .find(id)
                    .select(groups::id)
                    .for_update()
                    .first(conn)
                    .await
                    .optional()
                    .context("while locking the group")?;
                if locked.is_none() {
                    return Ok(None);
                }
                if let Some(wanted) = &changes.permissions
                    && !authority.is_superuser()
                {
                    let current = load(conn, id)
                        .await?
                        .map(|g| g.permissions)
                        .unwrap_or_default();
                    if !authority.may_grant(wanted.iter().filter(|p| !current.contains(p))) {
                        return Err(TxError::Refused(UpdateGroupError::BeyondGrant));
                    }
                }
                if let Some(name) = &changes.name {
                    diesel::update(groups::table.find(id))
                        .set(groups::name.eq(name))
                        .execute(conn)
                        .await
                        .context("while renaming the group")?;
                }
                if let Some(codes) = &changes.permissions {
                    set_permissions(conn, id, codes).await?.map_err(|unknown| {
                        TxError::Refused(UpdateGroupError::UnknownPermissions(unknown))
                    })?;
                }
                tx::record(conn, &audit).await?;
                Ok(load(conn, id).await?)
            })
            .await
            .map_err(|error: TxError<UpdateGroupError>| {
                error.unique(|constraint| {
                    (constraint == "groups_name_key").then_some(UpdateGroupError::DuplicateName)
                })
            });
        settle(result, "while updating a group")?
    }

    async fn delete(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let name: Option<String> = diesel::delete(groups::table.find(id))
                .returning(groups::name)
                .get_result(conn)
                .await
                .optional()
                .context("while deleting the group")?;
            let Some(name) = name else { return Ok(false) };
            tx::record(conn, &audit.clone().detail("name", name)).await?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while deleting a group")
    }
}
