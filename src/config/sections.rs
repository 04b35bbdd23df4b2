//! The settings, one section per part of the service. Each field names its variable; `.env.example`
//! lists them all with their defaults. A section that only exists when configured (Redis, SMTP) is
//! an `Option`; the calendar and payment providers will be too.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::sms::quiet::QuietHours;
use std::time::Duration;

use super::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The process and where it is reached.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `BIND_ADDR`: where the API listens (port 0 picks a free one).
    pub bind_addr: SocketAddr,
    /// `DATA_DIR`: the embedded database, the development JWT key, the `.eml` outbox.
    pub data_dir: PathBuf,
    /// `PUBLIC_BASE_URL`: where browsers reach this service (`/join` links, email tracking); default
    /// `http://BIND_ADDR`.
    pub public_base_url: String,
    /// `DASHBOARD_URL`: where the dashboard lives; links in emails point under it.
    pub dashboard_url: String,
    /// `SHUTDOWN_GRACE_SECONDS`: how long shutdown waits for requests and jobs in flight.
    pub shutdown_grace: Duration,
    /// `LOG_FORMAT`: `pretty` or `json`. Levels come from `RUST_LOG`.
    pub log_format: LogFormat,
}

/// The HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `MAX_BODY_BYTES`: request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS`: origins whose pages may call the API (default: the origin of
    /// `DASHBOARD_URL`; `none` = no other origin).
    pub cors_allowed_origins: Vec<String>,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`: a request's headers must arrive within this (also how long an
    /// idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// `HTTP_BODY_TIMEOUT_SECONDS`: a request body must arrive whole within this (408 otherwise).
    pub body_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS`: a whole request (body, work, answer) gets this long.
    pub request_timeout: Duration,
    /// `GRAPHIQL_ASSETS_DIR`: the npm packages GraphiQL's page loads (`npm ci --prefix web/graphiql`
    /// installs them under `web/graphiql/node_modules`, the default).
    pub graphiql_assets_dir: PathBuf,
    /// `RATE_LIMIT_PER_SECOND` and `RATE_LIMIT_BURST`: requests one caller (a signed-in user, else an
    /// address) may make; `None` (a rate of 0) = no limit.
    pub rate_limit: Option<RateLimitSettings>,
}

/// Requests per caller: a steady rate and the burst allowed above it.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    pub per_second: std::num::NonZeroU32,
    pub burst: std::num::NonZeroU32,
}

/// GraphQL's limits.
#[derive(Debug, Clone, Copy)]
pub struct GraphqlSettings {
    /// `GRAPHQL_MAX_DEPTH`: nesting of one operation.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: the cost budget of one HTTP request (shared by a batch) or one
    /// subscription.
    pub max_complexity: usize,
    /// `GRAPHQL_MAX_BATCH`: operations in one batched request.
    pub max_batch: usize,
    /// `GRAPHQL_MAX_QUERY_BYTES`: the longest document, refused before it is parsed.
    pub max_query_bytes: usize,
}

/// GraphQL over WebSocket.
#[derive(Debug, Clone, Copy)]
pub struct WebSocketSettings {
    /// `WS_KEEPALIVE_SECONDS`: server ping interval.
    pub keepalive: Duration,
    /// `WS_INIT_TIMEOUT_SECONDS`: how long a socket may wait before `connection_init`.
    pub init_timeout: Duration,
    /// `WS_MAX_SUBSCRIPTIONS`: open subscriptions per socket.
    pub max_subscriptions: usize,
    /// `WS_MAX_SOCKETS_PER_USER`: open sockets per user on one node.
    pub max_sockets_per_user: usize,
    /// `WS_SEND_TIMEOUT_SECONDS`: a socket whose client does not take a message within this is
    /// dropped.
    pub send_timeout: Duration,
    /// `WS_MAX_MESSAGES_PER_SECOND`: messages a socket's client may send a second (bursts of twice
    /// that); past it the server stops reading the socket until the pace allows, so a flood slows
    /// its sender down instead of the server.
    pub max_messages_per_second: u32,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`; default: SQLite at `$DATA_DIR/mentor.db`.
    pub url: Secret,
    /// `DB_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// `DB_LIVE_CONNECTIONS`: at most this many serve subscriptions at once (default a quarter, at
    /// least one), so live traffic cannot starve queries and mutations.
    pub live_connections: u32,
}

impl DatabaseSettings {
    pub fn is_sqlite(&self) -> bool {
        self.url.expose().starts_with("sqlite:")
    }
}

/// The platform's tokens.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `JWT_SECRET`: HS256 key; absent = development mode with a generated key under `$DATA_DIR`.
    pub jwt_secret: Option<Secret>,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`: checked when set.
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
}

/// The background job runner of this process.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// `JOB_WORKERS`: jobs run at once in this process; 0 = none (jobs then run only through
    /// `JobRunner::drain`, as in tests, or in another process on the same database).
    pub workers: usize,
    /// `JOB_POLL_INTERVAL_MS`: how often an idle runner looks for due jobs.
    pub poll_interval: Duration,
    /// `JOB_LEASE_SECONDS`: how long a claim lasts without news from its worker (renewed every
    /// third of it while the job runs): a dead worker's jobs run again this long after it died.
    pub lease: Duration,
    /// `JOB_RETENTION_HOURS` (default 168): finished jobs are deleted this long after they
    /// finished; `0` keeps them. Dead jobs are kept until an admin clears them.
    pub retention: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
pub struct SlotSettings {
    /// `SLOT_CACHE_SECONDS`: a mentor's slot inputs are kept in memory at most this long; every change
    /// through the service drops them at once, on every node. 0 = read the database every time.
    pub cache_ttl: Duration,
}

/// Present when `REDIS_URL` is set: the event bus across nodes.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL` (a secret: it may hold a password).
    pub url: Secret,
    /// `REDIS_CHANNEL_PREFIX`: this deployment's channels are `{prefix}{topic}`.
    pub channel_prefix: String,
}

/// Present when `SMTP_URL` is set; otherwise emails are `.eml` files under `$DATA_DIR/outbox/`.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `SMTP_URL`: `smtp://user:pass@host:587?tls=required`, `smtps://host:465`, `smtp://host:25`
    /// (a secret: it may hold a password).
    pub url: Secret,
    /// `SMTP_TLS_CA_FILE`: PEM certificates to trust besides the system's roots.
    pub tls_ca_file: Option<PathBuf>,
}

/// Branding of every email.
#[derive(Debug, Clone)]
pub struct BrandSettings {
    /// `BRAND_NAME`.
    pub name: String,
    /// `BRAND_PRIMARY_COLOR`, `BRAND_ACCENT_COLOR`: `#rrggbb`.
    pub primary_color: String,
    pub accent_color: String,
    /// `BRAND_LOGO_URL`.
    pub logo_url: Option<String>,
    /// `BRAND_FOOTER`.
    pub footer: String,
    /// `BRAND_SUPPORT_EMAIL`.
    pub support_email: String,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub smtp: Option<SmtpSettings>,
    /// `EMAIL_FROM`: the sender and invite organizer; its domain names `Message-ID`s and `UID`s.
    pub from: String,
    /// `EMAIL_MAX_ATTEMPTS`: tries before an email that keeps failing temporarily is `FAILED`.
    pub max_attempts: i32,
    /// `EMAIL_DIGEST_WINDOW_SECONDS`: non-urgent emails for one user within this go out as one digest.
    pub digest_window: Duration,
    /// `EMAIL_WEBHOOK_TOKEN`: what the provider webhooks must carry; absent = they answer 404.
    pub webhook_token: Option<Secret>,
    /// `SENDGRID_WEBHOOK_PUBLIC_KEY`: the Event Webhook's verification key (base64 DER, as SendGrid
    /// shows it); absent = SendGrid's webhook answers 404.
    pub sendgrid_public_key: Option<String>,
    /// `SNS_CERT_HOST_PATTERN`: the hosts (`host`, or `host:port` when the URL names a port) SNS
    /// signing certificates and subscription links may be on; Amazon's SNS hosts by default.
    pub sns_cert_host_pattern: String,
    /// `SNS_CERT_CA_FILE`: a PEM CA trusted besides the system's roots when fetching certificates.
    pub sns_cert_ca_file: Option<PathBuf>,
    /// `SNS_TOPIC_ARNS`: the topics accepted (comma-separated); empty accepts any.
    pub sns_topic_arns: Vec<String>,
    pub brand: BrandSettings,
}

/// The built-in meeting provider.
#[derive(Debug, Clone)]
pub struct MeetingSettings {
    /// `MEETING_BASE_URL`: one unguessable room per session under it.
    pub base_url: String,
}

/// Calendar sync: where tokens are sealed, and each provider, present only when configured.
#[derive(Debug, Clone)]
pub struct CalendarSettings {
    /// `CALENDAR_TOKEN_KEY`: the AES-256 keys that seal OAuth tokens at rest, `id:base64[,id:base64]`,
    /// the current one first. Unset: a key generated under `DATA_DIR` (development).
    pub token_key: Option<Secret>,
    /// Google Calendar; `None` without `GOOGLE_CLIENT_ID` ("not configured").
    pub google: Option<GoogleSettings>,
    /// Outlook / Microsoft 365 through Microsoft Graph; `None` without `MICROSOFT_CLIENT_ID`.
    pub microsoft: Option<MicrosoftSettings>,
    pub caldav: CalDavSettings,
}

/// CalDAV accounts (iCloud, Fastmail, Nextcloud...): nothing to register, so on by default.
#[derive(Debug, Clone)]
pub struct CalDavSettings {
    /// `CALDAV_ENABLED` (default `true`): whether mentors may connect CalDAV accounts.
    pub enabled: bool,
    /// `CALDAV_ALLOW_LOCAL` (default `false`): lets servers on this machine or a private network,
    /// and plain http, be used (development, tests). Off, a server must be https and reach only
    /// public addresses (a typed-in URL must not reach this service's own network).
    pub allow_local: bool,
}

/// An app registered on the Microsoft identity platform, and the endpoints it talks to (tests
/// point them at a fake).
#[derive(Debug, Clone)]
pub struct MicrosoftSettings {
    /// `MICROSOFT_CLIENT_ID` (the app registration's id).
    pub client_id: String,
    /// `MICROSOFT_CLIENT_SECRET`: required with a client id.
    pub client_secret: Secret,
    /// `MICROSOFT_TENANT` (default `common`: work, school and personal accounts).
    pub tenant: String,
    /// `MICROSOFT_REDIRECT_URI`: default `{PUBLIC_BASE_URL}/calendar/oauth/outlook/callback`.
    pub redirect_uri: String,
    /// `MICROSOFT_AUTH_URL` (default `https://login.microsoftonline.com`): the identity platform,
    /// under which `{tenant}/oauth2/v2.0/authorize` and `…/token` are.
    pub auth_url: String,
    /// `MICROSOFT_GRAPH_URL` (default `https://graph.microsoft.com/v1.0`).
    pub graph_url: String,
    /// Where Graph posts change and lifecycle notifications:
    /// `{PUBLIC_BASE_URL}/calendar/webhook/outlook`, then the subscription's channel id.
    pub webhook_url: String,
}

/// A Google OAuth client and the endpoints it talks to (tests point them at a fake).
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// `GOOGLE_CLIENT_ID`.
    pub client_id: String,
    /// `GOOGLE_CLIENT_SECRET`: required with a client id.
    pub client_secret: Secret,
    /// `GOOGLE_REDIRECT_URI`: default `{PUBLIC_BASE_URL}/calendar/oauth/google/callback`.
    pub redirect_uri: String,
    /// `GOOGLE_SCOPES`: space-separated; default the product's (calendar, calendar.events,
    /// meetings.space.created).
    pub scopes: Vec<String>,
    /// `GOOGLE_AUTH_URL`, `GOOGLE_TOKEN_URL`, `GOOGLE_REVOKE_URL`, `GOOGLE_CALENDAR_API_URL`.
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
    pub calendar_api_url: String,
    /// Where Google posts pushes: `{PUBLIC_BASE_URL}/calendar/webhook` (Google takes only https
    /// addresses; with an http one, watches are refused and calendars are polled).
    pub webhook_url: String,
}

/// Payments: the weekly charge of regular bookings, through Stripe when configured.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Stripe; `None` without `STRIPE_SECRET_KEY` (payments off: regular bookings are confirmed at
    /// once, `NOT_REQUIRED`).
    pub stripe: Option<StripeSettings>,
    /// `PAYMENT_HOLD_MINUTES` (default 30): how long unpaid sessions are held.
    pub hold: Duration,
    /// `PAYMENT_CURRENCY` (default `usd`): lowercase ISO 4217, for mentors without a price of their own.
    pub currency: String,
    /// `PAYMENT_DEFAULT_PRICE_MINOR` (default 4000): the price per session, in minor units.
    pub default_price_minor: i64,
}

/// A Stripe account and where its API is (tests point it at a fake).
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `STRIPE_SECRET_KEY`.
    pub secret_key: Secret,
    /// `STRIPE_WEBHOOK_SECRET`: the endpoint's `whsec_…` secret, or several comma-separated while
    /// one is rolled.
    pub webhook_secrets: Vec<Secret>,
    /// `STRIPE_API_URL`: default `https://api.stripe.com`.
    pub api_url: String,
}

/// Texts: Twilio when configured (else files under `DATA_DIR/sms/`), and when not to send them.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// Twilio; `None` without `TWILIO_ACCOUNT_SID`.
    pub twilio: Option<TwilioSettings>,
    /// `SMS_QUIET_HOURS` (default `21:00-08:00`, in each recipient's zone; empty = none): texts
    /// written then wait for the end, except about a session starting within the hour.
    pub quiet_hours: Option<QuietHours>,
    /// `SMS_MAX_ATTEMPTS` (default 5): tries before a text that keeps failing is `FAILED`.
    pub max_attempts: i32,
}

/// A Twilio account, who sends, and where its API is (tests point it at a fake).
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `TWILIO_ACCOUNT_SID` (`AC…`).
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: the API's password and the key of Twilio's webhook signatures.
    pub auth_token: Secret,
    /// `TWILIO_FROM`: the number (or short code, or sender id) texts come from…
    pub from: Option<String>,
    /// …or `TWILIO_MESSAGING_SERVICE_SID` (`MG…`): Twilio picks the sender from the service.
    pub messaging_service_sid: Option<String>,
    /// `TWILIO_API_URL`: default `https://api.twilio.com`.
    pub api_url: String,
}
