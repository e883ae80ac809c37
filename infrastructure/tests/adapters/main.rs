//! The adapters against real PostgreSQL and Redis: one test binary.

mod contract;
mod django_import;
mod pg_api_keys;
mod pg_audit;
mod pg_repositories;
mod redis_throttle;
mod store_errors;
mod tls;
