//! `seed-demo`: a demo mentor with weekday availability and a demo student, ready to query.

use std::sync::Arc;

use chrono::{Duration, Utc, Weekday};

use crate::auth::jwt::JwtKeys;
use crate::auth::{Principal, Role};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::domain::weekly::TimeRange;
use crate::service::availability::WeeklyScheduleInput;
use crate::startup::{connect_services, jwt_secret};

pub const DEMO_MENTOR_ID: &str = "cldemomentor00000000000001";
pub const DEMO_STUDENT_ID: &str = "cldemostudent0000000000001";

pub async fn seed_demo(settings: &Settings) -> anyhow::Result<String> {
    let services = connect_services(settings, Arc::new(SystemClock)).await?;
    let mentor = Principal {
        user_id: DEMO_MENTOR_ID.into(),
        role: Role::Mentor,
        email: "maya.mentor@example.com".into(),
        name: "Maya Mentor".into(),
        time_zone: "Europe/London".parse().map_err(anyhow::Error::msg)?,
        phone: None,
    };
    let student = Principal {
        user_id: DEMO_STUDENT_ID.into(),
        role: Role::Student,
        email: "sam.student@example.com".into(),
        name: "Sam Student".into(),
        time_zone: "America/New_York".parse().map_err(anyhow::Error::msg)?,
        phone: None,
    };
    for p in [&mentor, &student] {
        services
            .users
            .sync_from_claims(p)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let range = |s: &str, e: &str| {
        TimeRange::new(
            s.parse().expect("static time"),
            e.parse().expect("static time"),
            "seed",
        )
    };
    let mut blocks = Vec::new();
    for day in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        blocks.push((day, range("09:00", "12:00")?));
        blocks.push((day, range("14:00", "17:00")?));
    }
    blocks.push((Weekday::Sat, range("10:00", "13:00")?));
    let input = WeeklyScheduleInput {
        zone: mentor.time_zone,
        blocks,
        buffer_minutes: Some(15),
        minimum_notice_minutes: Some(120),
        horizon_days: Some(28),
    };
    services
        .availability
        .set_weekly_schedule(&mentor, input)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let keys = JwtKeys::new(
        &jwt_secret(settings)?,
        settings.auth.jwt_issuer.clone(),
        settings.auth.jwt_audience.clone(),
    );
    let mentor_token = keys.mint(&mentor, Duration::days(30))?;
    let student_token = keys.mint(&student, Duration::days(30))?;
    let from = Utc::now().format("%Y-%m-%dT00:00:00Z");
    let to = (Utc::now() + Duration::days(7)).format("%Y-%m-%dT00:00:00Z");
    let body = serde_json::json!({
        "query": format!("{{ availableSlots(mentorId: \"{DEMO_MENTOR_ID}\", from: \"{from}\", to: \"{to}\", durationMinutes: 60) {{ start end }} }}")
    });
    Ok(format!(
        "Demo data is ready.\n\nmentor  {DEMO_MENTOR_ID} (Europe/London)\n  token: {mentor_token}\nstudent {DEMO_STUDENT_ID} (America/New_York)\n  token: {student_token}\n\n\
         Try, with the server running:\n\ncurl -s http://{addr}/graphql -H 'content-type: application/json' \\\n  -H 'authorization: Bearer {student_token}' \\\n  -d '{body}'\n",
        addr = settings.server.bind_addr
    ))
}
