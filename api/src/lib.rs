//! Gatehouse's HTTP edge (actix-web) and the `gatehouse` command line: routes,
//! handlers, extractors, error mapping and the composition root.

pub mod auth;
pub mod body;
pub mod cli;
pub mod errors;
pub mod handlers;
pub mod middleware;
pub mod pagination;
pub mod representation;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod throttle;
