//! Bookings to test with: a mentor with a schedule and a student, booking requests, and what a
//! booking recorded.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::domain_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::schedule::set_schedule;
use super::TestApp;

pub const TUTOR: &str = "ckbookingmentor0000000001";
pub const STUDENT: &str = "ckbookingstudent000000001";
pub const OTHER_STUDENT: &str = "ckbookingstudent000000002";
pub const CREATE: &str = "mutation($i: CreateBookingInput!) { createBooking(input: $i) { id type frequency status paymentStatus recurrenceRule weeks timeZone durationMinutes startDate endDate subject goals mentor { id name } student { id } sessions { id start end status sequence joinUrl } } }";

/// A London mentor free 09:00-17:00 every weekday, and a London student; returns their tokens.
/// The clock is Monday 2026-01-05 00:00 UTC (London is on GMT, so local = UTC).
pub async fn tutor_and_student(app: &TestApp) -> (String, String) {
    let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
    let weekdays = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"}))
        .collect();
    set_schedule(app, &mentor, "Europe/London", Value::Array(weekdays)).await;
    let student = app.user(STUDENT, Role::Student, "Europe/London").await;
    (mentor, student)
}

pub fn request(slots: &[&str], weeks: Value) -> Value {
    let frequency = ["ONCE_WEEKLY", "TWICE_WEEKLY", "THRICE_WEEKLY"][slots.len().clamp(1, 3) - 1];
    json!({
        "mentorId": TUTOR,
        "frequency": frequency,
        "slots": slots,
        "subject": "Algebra",
        "goals": ["factorise quadratics"],
        "weeks": weeks,
    })
}

pub async fn book(app: &TestApp, token: &str, input: Value) -> Value {
    app.ok(token, CREATE, json!({ "i": input })).await["createBooking"].clone()
}

pub fn starts(booking: &Value) -> Vec<String> {
    booking["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_string())
        .collect()
}

pub async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    domain_event::Entity::find()
        .filter(domain_event::Column::Kind.eq(kind))
        .all(app.services.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect()
}
