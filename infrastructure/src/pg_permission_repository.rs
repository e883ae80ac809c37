//! `PermissionRepository` over PostgreSQL.

use anyhow::Context;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::admin::{NewPermission, Page, Permission};
use domain::ports::{CreatePermissionError, PermissionRepository};
use domain::{AuditEvent, RepositoryError};

use crate::db::{PgPool, Step, TxError, connection, settle};
use crate::schema::permissions;
use crate::tx;

#[derive(Clone)]
pub struct PgPermissionRepository {
    pool: PgPool,
}

impl PgPermissionRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = permissions, check_for_backend(diesel::pg::Pg))]
struct PermissionRow {
    id: i64,
    name: String,
    app_label: String,
    codename: String,
}

impl From<PermissionRow> for Permission {
    fn from(row: PermissionRow) -> Self {
        Permission {
            id: row.id,
            name: row.name,
            app_label: row.app_label,
            codename: row.codename,
        }
    }
}

impl PermissionRepository for PgPermissionRepository {
    async fn list(&self, offset: i64, limit: i64) -> Result<Page<Permission>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = permissions::table
            .count()
            .get_result(&mut conn)
            .await
            .step("while counting permissions")?;
        let rows: Vec<PermissionRow> = permissions::table
            .select(PermissionRow::as_select())
            .order((permissions::app_label, permissions::codename))
            .offset(offset)
            .limit(limit)
            .load(&mut conn)
            .await
            .step("while reading a page of permissions")?;
        Ok(Page {
            count,
            items: rows.into_iter().map(Permission::from).collect(),
        })
    }

    async fn get(&self, id: i64) -> Result<Option<Permission>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<PermissionRow> = permissions::table
            .find(id)
            .select(PermissionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .step("while reading a permission")?;
        Ok(row.map(Permission::from))
    }

    async fn create(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> Result<Permission, CreatePermissionError> {
        let mut conn = connection(&self.pool).await?;
        let result = conn
            .transaction(async |conn| {
                let row: PermissionRow = diesel::insert_into(permissions::table)
                    .values((
                        permissions::name.eq(&permission.name),
                        permissions::app_label.eq(&permission.app_label),
                        permissions::codename.eq(&permission.codename),
                    ))
                    .returning(PermissionRow::as_returning())
                    .get_result(conn)
                    .await
                    .context("while inserting the permission")?;
                tx::record(conn, &audit.clone().detail("id", row.id)).await?;
                Ok(Permission::from(row))
            })
            .await
            .map_err(|error: TxError<CreatePermissionError>| {
                error.unique(|constraint| {
                    (constraint == "permissions_app_label_codename_key")
                        .then_some(CreatePermissionError::Duplicate)
                })
            });
        settle(result, "while creating a permission")?
    }

    async fn delete(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let deleted: Option<(String, String)> = diesel::delete(permissions::table.find(id))
                .returning((permissions::app_label, permissions::codename))
                .get_result(conn)
                .await
                .optional()
                .context("while deleting the permission")?;
            let Some((app_label, codename)) = deleted else {
                return Ok(false);
            };
            let code = format!("{app_label}.{codename}");
            tx::record(conn, &audit.clone().detail("permission", code)).await?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while deleting a permission")
    }
}
