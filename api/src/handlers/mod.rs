//! HTTP handlers: request → command → use case → response. No business rules here.

pub(crate) mod accounts;
pub(crate) mod admin_groups;
pub(crate) mod admin_users;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod credentials;
pub(crate) mod djoser;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod jwks;
pub(crate) mod me;
pub(crate) mod metrics;
pub(crate) mod register;
pub(crate) mod sessions;
pub(crate) mod tokens;
