//! Gatehouse's HTTP edge (actix-web) and the `gatehouse` command line: routes,
//! handlers, extractors, error mapping and the composition root.

mod auth;
mod body;
pub mod cli;
mod endpoint;
mod errors;
mod forwarded;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod handlers;
mod middleware;
mod openapi;
mod pagination;
mod representation;
mod routes;
pub mod settings;
pub mod startup;
mod telemetry;
mod throttle;
