//! The command line: `serve` (default), `migrate`, `schema`, `token`, `seed-demo`, `email-preview`.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mentor-scheduler",
    version,
    about = "Scheduling and notification backend of a tutoring platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Mint a development JWT, signed with JWT_SECRET or the development key.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long, default_value = "student")]
        role: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
    /// Create a demo mentor (with availability) and a demo student; print their tokens and a query.
    SeedDemo,
    /// Render an email template with sample data and the configured branding (no name: list them).
    EmailPreview {
        /// The template, as named under templates/email/ (e.g. booking_confirmation_student).
        name: Option<String>,
        /// What to print: html, text or subject.
        #[arg(long, default_value = "html")]
        part: String,
    },
}
