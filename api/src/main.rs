//! The `gatehouse` binary.

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match api::cli::run(api::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gatehouse: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
