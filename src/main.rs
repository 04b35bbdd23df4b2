//! Wiring only: configuration, logging, and the chosen command.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::Duration;
use clap::Parser;

use mentor_scheduler::auth::jwt::JwtKeys;
use mentor_scheduler::auth::Principal;
use mentor_scheduler::cli::{Cli, Command};
use mentor_scheduler::clock::SystemClock;
use mentor_scheduler::config::Settings;
use mentor_scheduler::startup::{jwt_secret, shutdown_signal, Application};
use mentor_scheduler::{db, email, graphql, seed, telemetry};

/// The service allocates many small, short-lived values per request; mimalloc serves them faster than
/// the system allocator (see `bench/slots-load.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    telemetry::init(settings.server.log_format);

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            db::Db::connect(&settings).await?.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token {
            sub,
            role,
            email,
            name,
            tz,
            ttl_hours,
        } => {
            let principal = Principal {
                user_id: sub,
                role: role.parse().map_err(anyhow::Error::msg).context("--role")?,
                email,
                name,
                time_zone: tz.parse().map_err(anyhow::Error::msg).context("--tz")?,
                phone: None,
            };
            let keys = JwtKeys::new(
                &jwt_secret(&settings)?,
                settings.auth.jwt_issuer.clone(),
                settings.auth.jwt_audience.clone(),
            );
            println!("{}", keys.mint(&principal, Duration::hours(ttl_hours))?);
            Ok(())
        }
        Command::SeedDemo => {
            print!("{}", seed::seed_demo(&settings).await?);
            Ok(())
        }
        Command::EmailPreview { name, part } => {
            print!("{}", email::preview(&settings, name.as_deref(), &part)?);
            Ok(())
        }
    }
}
