//! Black-box HTTP tests: the real application on port 0 over a fresh database each, in one test binary.

mod common;

mod admin_groups;
mod admin_users;
mod aliases_djoser;
mod audit;
mod auth_cache;
mod django_passwords;
mod email_addresses;
mod email_flows;
mod http_conventions;
mod metrics;
mod operations;
mod register_and_me;
mod round_trips;
mod self_description;
mod sessions;
mod signing_keys;
mod slow_bodies;
mod switch_from_django;
mod throttle;
mod tls;
mod token_attacks;
mod token_auth_and_v1;
mod tokens;
