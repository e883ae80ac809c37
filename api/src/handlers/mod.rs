//! HTTP handlers: request → command → use case → response. No business rules here.

pub mod accounts;
pub mod admin_groups;
pub mod admin_users;
pub mod api_keys;
pub mod audit;
pub mod credentials;
pub mod djoser;
pub mod health;
pub mod jwks;
pub mod me;
pub mod register;
pub mod sessions;
pub mod tokens;
