//! Who may use the admin API: Django's `IsAdminUser` + `DjangoModelPermissions`. The
//! caller must be active staff holding the model permission of the action (a
//! superuser holds all). It is checked once, before a request body is even read (DRF
//! checks permissions first), and the `Grant` it yields is what the admin use case
//! takes: a use case's signature names the permission it needs, so a grant for another
//! action does not compile.

use std::marker::PhantomData;

use domain::authorization::{Action, Authority, Model, ModelPermission};
use domain::ports::UserRepository;
use domain::{AuditEvent, AuditKind, UserId};

use crate::use_cases::admin_users::AdminError;
use crate::{Caller, ClientInfo, Deps, Gatehouse};

/// A model permission an admin use case needs, as a type.
pub trait Permit: Send + Sync + 'static {
    const PERMISSION: ModelPermission;
}

macro_rules! permits {
    ($($(#[$doc:meta])* $name:ident = $action:ident $model:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl Permit for $name {
            const PERMISSION: ModelPermission = ModelPermission::new(Action::$action, Model::$model);
        }
    )*};
}

permits! {
    /// `auth.view_user`
    ViewUser = View User;
    /// `auth.add_user`
    AddUser = Add User;
    /// `auth.change_user`
    ChangeUser = Change User;
    /// `auth.delete_user`
    DeleteUser = Delete User;
    /// `auth.view_group`
    ViewGroup = View Group;
    /// `auth.add_group`
    AddGroup = Add Group;
    /// `auth.change_group`
    ChangeGroup = Change Group;
    /// `auth.delete_group`
    DeleteGroup = Delete Group;
    /// `auth.view_permission`
    ViewPermission = View Permission;
    /// `auth.add_permission`
    AddPermission = Add Permission;
    /// `auth.delete_permission`
    DeletePermission = Delete Permission;
    /// `auth.view_auditevent`
    ViewAuditEvent = View AuditEvent;
}

/// Proof that the caller, as the store knew him when it was issued, holds `P`; with
/// his `Authority`, for the rules about granting and about whom he may manage.
pub struct Grant<P: Permit> {
    caller: UserId,
    client: ClientInfo,
    authority: Authority,
    permit: PhantomData<fn() -> P>,
}

impl<P: Permit> std::fmt::Debug for Grant<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("permission", &P::PERMISSION.code())
            .field("caller", &self.caller)
            .field("superuser", &self.authority.is_superuser())
            .finish_non_exhaustive()
    }
}

impl<P: Permit> Grant<P> {
    pub(crate) fn caller(&self) -> UserId {
        self.caller
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// An audit event of this admin's action, happening at `at`.
    pub(crate) fn event(&self, kind: AuditKind, at: chrono::DateTime<chrono::Utc>) -> AuditEvent {
        AuditEvent::new(kind, at)
            .from(self.client.ip.clone(), self.client.user_agent.clone())
            .actor(self.caller)
    }
}

impl<D: Deps> Gatehouse<D> {
    /// The caller's grant for `P`, read afresh from the store: `Forbidden` unless he is
    /// active staff holding `P`'s permission.
    #[tracing::instrument(skip_all, fields(permission = %P::PERMISSION, caller = %caller.user.id))]
    pub async fn authorize<P: Permit>(&self, caller: Caller<'_>) -> Result<Grant<P>, AdminError> {
        let profile = self
            .adapters
            .users
            .profile(caller.user.id)
            .await?
            .ok_or(AdminError::Forbidden)?;
        let user = &profile.user;
        if !user.is_active || !user.is_staff {
            return Err(AdminError::Forbidden);
        }
        let grant = Grant {
            caller: user.id,
            client: caller.client.clone(),
            authority: Authority::of(user.is_superuser, profile.permissions),
            permit: PhantomData,
        };
        if !grant.authority.may_grant([&P::PERMISSION.code()]) {
            return Err(AdminError::Forbidden);
        }
        Ok(grant)
    }
}
