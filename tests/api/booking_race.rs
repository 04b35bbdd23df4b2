//! The guarantee: however many students race for overlapping times, one wins and the database holds
//! exactly the winner's sessions.

use futures::future::join_all;
use mentor_scheduler::auth::Role;
use mentor_scheduler::domain::booking::SessionStatus;
use mentor_scheduler::entity::session;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::booking::{request, tutor_and_student, CREATE, TUTOR};
use crate::on_both_backends;

const RACERS: usize = 50;

on_both_backends! {
    async fn fifty_students_racing_for_overlapping_times_get_one_booking(app) {
        tutor_and_student(&app).await;
        let mut tokens = Vec::new();
        for i in 0..RACERS {
            tokens.push(app.user(&format!("racer-{i:02}"), Role::Student, "UTC").await);
        }
        // Each wants a twice-weekly booking; every pair overlaps every other on Monday (09:00,
        // 09:15, 09:30 ... starts within the same hour or its buffer).
        let requests = tokens.iter().enumerate().map(|(i, token)| {
            let monday = format!("2026-01-05T09:{:02}:00Z", (i % 4) * 15);
            let thursday = format!("2026-01-08T{:02}:00:00Z", 9 + (i % 7));
            let body = json!({"query": CREATE, "variables": {"i": request(&[&monday, &thursday], json!(4))}});
            let request = app.client.post(app.url("/graphql")).bearer_auth(token).json(&body);
            async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        });
        let answers = join_all(requests).await;
        let winners: Vec<_> = answers.iter().filter(|a| a.get("errors").is_none()).collect();
        assert_eq!(winners.len(), 1, "exactly one winner");
        for a in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_eq!(a["errors"][0]["extensions"]["code"], "CONFLICT", "{a}");
        }
        let winner = &winners[0]["data"]["createBooking"];
        let rows = session::Entity::find()
            .filter(session::Column::MentorId.eq(TUTOR))
            .all(app.services.db.conn())
            .await
            .unwrap();
        assert_eq!(rows.len(), 8);
        assert!(rows.iter().all(|r| r.booking_id == winner["id"].as_str().unwrap()));
    }
}

/// PostgreSQL itself refuses overlapping live sessions of one mentor, even from code that skips the
/// service's lock; a cancelled session frees its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_overlapping_sessions_by_constraint() {
    let Some(app) = crate::helpers::TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        crate::helpers::say_skipped(
            "booking_race::postgres_refuses_overlapping_sessions_by_constraint",
        );
        return;
    };
    let (_, student) = tutor_and_student(&app).await;
    crate::helpers::booking::book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(1)))
        .await;
    let conn = app.services.db.conn();
    let existing = session::Entity::find()
        .filter(session::Column::MentorId.eq(TUTOR))
        .one(conn)
        .await
        .unwrap()
        .unwrap();
    let mut clash = existing.clone();
    clash.id = "clash".into();
    clash.week_index = 99;
    clash.start_at = existing.start_at + chrono::Duration::minutes(30);
    clash.end_at = existing.end_at + chrono::Duration::minutes(30);
    let error = session::Entity::insert(session::ActiveModel::from(clash.clone()))
        .exec_without_returning(conn)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("sessions_no_overlap"), "{error}");
    let mut cancelled: session::ActiveModel = existing.into();
    cancelled.status = sea_orm::Set(SessionStatus::Cancelled);
    session::Entity::update(cancelled).exec(conn).await.unwrap();
    session::Entity::insert(session::ActiveModel::from(clash))
        .exec_without_returning(conn)
        .await
        .unwrap();
}
