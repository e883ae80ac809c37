//! The contract's harness over the in-memory fakes of `application::testing`.

use std::collections::BTreeSet;

use application::testing::{
    InMemoryAccounts, InMemoryApiKeys, InMemoryAudit, InMemoryGroups, InMemoryOneTimeTokens,
    InMemoryPermissions, InMemorySessions, InMemoryStore, InMemoryUserAdmin, InMemoryUsers,
};
use domain::{OneTimeTokenRecord, User, UserId};
use uuid::Uuid;

use super::{Harness, Mail};

pub struct Memory(InMemoryStore);

impl Harness for Memory {
    type Users = InMemoryUsers;
    type Sessions = InMemorySessions;
    type ApiKeys = InMemoryApiKeys;
    type OneTimeTokens = InMemoryOneTimeTokens;
    type Accounts = InMemoryAccounts;
    type UserAdmin = InMemoryUserAdmin;
    type Groups = InMemoryGroups;
    type Permissions = InMemoryPermissions;
    type Audit = InMemoryAudit;

    async fn start() -> Self {
        Memory(InMemoryStore::default())
    }

    fn users(&self) -> InMemoryUsers {
        self.0.users()
    }

    fn sessions(&self) -> InMemorySessions {
        self.0.sessions()
    }

    fn api_keys(&self) -> InMemoryApiKeys {
        self.0.api_keys_port()
    }

    fn one_time_tokens(&self) -> InMemoryOneTimeTokens {
        self.0.one_time_tokens()
    }

    fn accounts(&self) -> InMemoryAccounts {
        self.0.accounts()
    }

    fn user_admin(&self) -> InMemoryUserAdmin {
        self.0.user_admin()
    }

    fn groups(&self) -> InMemoryGroups {
        self.0.groups()
    }

    fn permissions(&self) -> InMemoryPermissions {
        self.0.permissions()
    }

    fn audit(&self) -> InMemoryAudit {
        self.0.audit()
    }

    async fn mails_to(&self, user: &User) -> Vec<Mail> {
        self.0.sent_to(user.id).iter().map(Mail::of).collect()
    }

    async fn one_time_tokens_of(&self, user: UserId) -> Vec<OneTimeTokenRecord> {
        self.0.one_time_tokens_of(user)
    }

    async fn live_refresh_tokens_of(&self, user: UserId) -> BTreeSet<Uuid> {
        self.0
            .tokens_of(user)
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| t.jti)
            .collect()
    }
}
