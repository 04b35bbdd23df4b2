//! Creating bookings: every occurrence checked, all or nothing, trials, DST, listings, bad input.

use mentor_scheduler::auth::Role;
use mentor_scheduler::entity::session;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::booking::{
    book, events, request, starts, tutor_and_student, CREATE, OTHER_STUDENT, STUDENT, TUTOR,
};
use crate::helpers::schedule::set_schedule;
use crate::helpers::TestApp;
use crate::on_both_backends;

pub async fn sessions_in_db(app: &TestApp) -> u64 {
    session::Entity::find()
        .filter(session::Column::MentorId.eq(TUTOR))
        .count(app.services.db.conn())
        .await
        .unwrap()
}

const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { availableSlots(mentorId: $m, from: $from, to: $to) { start } }";

on_both_backends! {
    async fn twice_weekly_books_every_occurrence_with_its_own_room(app) {
        let (_, student) = tutor_and_student(&app).await;
        let booking = book(&app, &student, request(&["2026-01-05T09:00:00Z", "2026-01-08T14:00:00Z"], json!(4))).await;
        assert_eq!(booking["status"], "CONFIRMED");
        assert_eq!(booking["paymentStatus"], "NOT_REQUIRED", "payments are off: nothing to pay");
        assert_eq!(booking["type"], "REGULAR");
        assert_eq!(booking["weeks"], 4);
        assert_eq!(booking["mentor"]["id"], TUTOR);
        assert_eq!(booking["student"]["id"], STUDENT);
        assert_eq!(booking["goals"], json!(["factorise quadratics"]));
        assert_eq!(
            starts(&booking),
            [
                "2026-01-05T09:00:00+00:00", "2026-01-08T14:00:00+00:00",
                "2026-01-12T09:00:00+00:00", "2026-01-15T14:00:00+00:00",
                "2026-01-19T09:00:00+00:00", "2026-01-22T14:00:00+00:00",
                "2026-01-26T09:00:00+00:00", "2026-01-29T14:00:00+00:00",
            ]
        );
        assert_eq!(booking["startDate"], "2026-01-05T09:00:00+00:00");
        assert_eq!(booking["endDate"], "2026-01-29T15:00:00+00:00");
        assert_eq!(
            booking["recurrenceRule"],
            "DTSTART;TZID=Europe/London:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\n\
             DTSTART;TZID=Europe/London:20260108T140000\nRRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=4"
        );
        // Every session has its own room, and the API only shows the /join link.
        let rooms: std::collections::HashSet<String> = session::Entity::find()
            .all(app.services.db.conn())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.meeting_url)
            .collect();
        assert_eq!(rooms.len(), 8);
        for s in booking["sessions"].as_array().unwrap() {
            let url = s["joinUrl"].as_str().unwrap();
            assert!(url.contains(&format!("/join/{}?token=", s["id"].as_str().unwrap())), "{url}");
            assert!(!rooms.iter().any(|r| url.contains(r.as_str())));
        }
        // The booked hours (and their buffer) are gone from the slots.
        let data = app.ok(&student, SLOTS, json!({"m": TUTOR, "from": "2026-01-12T00:00:00Z", "to": "2026-01-13T00:00:00Z"})).await;
        let offered: Vec<&str> = data["availableSlots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap()).collect();
        assert_eq!(offered.first(), Some(&"2026-01-12T11:00:00+00:00"), "{offered:?}");
        let created = events(&app, "BOOKING_CREATED").await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["session_ids"].as_array().unwrap().len(), 8);
    }

    async fn one_clash_in_week_three_books_nothing_and_names_it(app) {
        let (_, student) = tutor_and_student(&app).await;
        app.busy(TUTOR, "2026-01-19T09:30:00Z", "2026-01-19T10:00:00Z").await;
        let error = app
            .fails(Some(&student), CREATE, json!({"i": request(&["2026-01-05T09:00:00Z", "2026-01-08T14:00:00Z"], json!(4))}), "CONFLICT")
            .await;
        assert_eq!(
            error["extensions"]["clashes"],
            json!([{"start": "2026-01-19T09:00:00Z", "end": "2026-01-19T10:00:00Z", "slot": 0, "week": 2, "reason": "MENTOR_BUSY"}])
        );
        assert_eq!(sessions_in_db(&app).await, 0);
        assert!(events(&app, "BOOKING_CREATED").await.is_empty());
    }

    async fn every_rule_is_checked_for_every_occurrence(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        // A day off in week 2, via an override.
        app.ok(&mentor, "mutation { setDateOverride(date: \"2026-01-13\", blocks: []) { mentorId } }", json!({})).await;
        let first = book(&app, &app.user(OTHER_STUDENT, Role::Student, "UTC").await, request(&["2026-01-07T10:00:00Z"], json!(1))).await;
        assert_eq!(starts(&first).len(), 1);
        let cases = [
            // (first occurrence, weeks, the clashes as (week, reason))
            ("2026-01-06T09:00:00Z", 2, vec![(1, "OUTSIDE_AVAILABILITY")]),
            ("2026-01-05T01:00:00Z", 1, vec![(0, "TOO_SOON")]),
            // 10:00-11:00 is taken on the 7th and its 15-minute buffer reaches 11:15; the 14th is free.
            ("2026-01-07T11:00:00Z", 2, vec![(0, "SESSION_TAKEN")]),
            // Runs past 17:00 both weeks.
            ("2026-01-09T16:30:00Z", 2, vec![(0, "OUTSIDE_AVAILABILITY"), (1, "OUTSIDE_AVAILABILITY")]),
        ];
        for (slot, weeks, expected) in cases {
            let error = app.fails(Some(&student), CREATE, json!({"i": request(&[slot], json!(weeks))}), "CONFLICT").await;
            let got: Vec<(u64, String)> = error["extensions"]["clashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["week"].as_u64().unwrap(), c["reason"].as_str().unwrap().to_string()))
                .collect();
            let expected: Vec<(u64, String)> = expected.into_iter().map(|(w, r)| (w, r.to_string())).collect();
            assert_eq!(got, expected, "{slot}");
        }
        // Beyond the 28-day horizon.
        let error = app.fails(Some(&student), CREATE, json!({"i": request(&["2026-02-03T09:00:00Z"], json!(1))}), "CONFLICT").await;
        assert_eq!(error["extensions"]["clashes"][0]["reason"], "BEYOND_HORIZON");
        assert_eq!(sessions_in_db(&app).await, 1);
    }

    async fn a_trial_is_one_free_session_once_per_mentor(app) {
        let (_, student) = tutor_and_student(&app).await;
        let mut input = request(&["2026-01-06T10:00:00Z"], json!(4));
        input["type"] = json!("TRIAL");
        input["durationMinutes"] = json!(30);
        let trial = book(&app, &student, input.clone()).await;
        assert_eq!(trial["type"], "TRIAL");
        assert_eq!(trial["paymentStatus"], "FREE");
        assert_eq!(starts(&trial), ["2026-01-06T10:00:00+00:00"]);
        assert_eq!(trial["sessions"][0]["end"], "2026-01-06T10:30:00+00:00");
        input["slots"] = json!(["2026-01-07T10:00:00Z"]);
        let again = app.fails(Some(&student), CREATE, json!({"i": input.clone()}), "CONFLICT").await;
        assert!(again["message"].as_str().unwrap().contains("trial"), "{again}");
        // Once the first trial is cancelled, another may be booked.
        app.ok(&student, "mutation($id: ID!) { cancelBooking(id: $id) { status } }", json!({"id": trial["id"]})).await;
        book(&app, &student, input.clone()).await;
        // A trial cannot be ongoing or more than once a week.
        input["weeks"] = Value::Null;
        let e = app.fails(Some(&student), CREATE, json!({"i": input.clone()}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "input.weeks");
    }

    async fn only_students_book_and_only_real_mentors(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let input = request(&["2026-01-06T10:00:00Z"], json!(1));
        app.fails(Some(&mentor), CREATE, json!({"i": input.clone()}), "FORBIDDEN").await;
        app.fails(None, CREATE, json!({"i": input.clone()}), "UNAUTHENTICATED").await;
        let mut unknown = input.clone();
        unknown["mentorId"] = json!("nobody");
        app.fails(Some(&student), CREATE, json!({"i": unknown}), "NOT_FOUND").await;
        let mut not_a_mentor = input;
        not_a_mentor["mentorId"] = json!(STUDENT);
        app.fails(Some(&student), CREATE, json!({"i": not_a_mentor}), "NOT_FOUND").await;
        assert_eq!(sessions_in_db(&app).await, 0);
    }

    async fn bad_booking_input_names_the_field_and_writes_nothing(app) {
        let (_, student) = tutor_and_student(&app).await;
        let base = request(&["2026-01-06T10:00:00Z"], json!(2));
        let with = |k: &str, v: Value| {
            let mut i = base.clone();
            i[k] = v;
            i
        };
        let cases = [
            (with("frequency", json!("TWICE_WEEKLY")), "input.slots"),
            (with("slots", json!(["2026-01-06T10:00:30Z"])), "input.slots[0]"),
            (with("weeks", json!(0)), "input.weeks"),
            (with("weeks", json!(53)), "input.weeks"),
            (with("durationMinutes", json!(0)), "input.durationMinutes"),
            (with("durationMinutes", json!(-60)), "input.durationMinutes"),
            (with("subject", json!("   ")), "input.subject"),
            (with("subject", json!("x".repeat(201))), "input.subject"),
            (with("goals", json!([""])), "input.goals[0]"),
            (
                request(&["2026-01-06T10:00:00Z", "2026-01-13T11:00:00Z"], json!(2)),
                "input.slots",
            ),
            (
                request(&["2026-01-06T10:00:00Z", "2026-01-06T10:30:00Z"], json!(2)),
                "input.slots",
            ),
        ];
        for (input, field) in cases {
            let e = app.fails(Some(&student), CREATE, json!({"i": input}), "BAD_USER_INPUT").await;
            assert_eq!(e["extensions"]["field"], field, "{e}");
        }
        // Malformed values never reach the service.
        for (k, v) in [
            ("slots", json!(["tomorrow"])),
            ("frequency", json!("DAILY")),
            ("type", json!("FREE")),
            ("frequency", Value::Null),
            ("mentorId", Value::Null),
        ] {
            app.fails(Some(&student), CREATE, json!({"i": with(k, v)}), "BAD_USER_INPUT").await;
        }
        assert_eq!(sessions_in_db(&app).await, 0);
    }

    async fn weekly_sessions_keep_the_mentor_wall_clock_across_dst(app) {
        // A New York mentor, 09:00 Monday and Wednesday; the US springs forward on 2026-03-08,
        // London three weeks later. A London student sees the instant move an hour, then back.
        app.clock.set("2026-03-01T12:00:00Z".parse().unwrap());
        let mentor = app.user(TUTOR, Role::Mentor, "America/New_York").await;
        let days = ["MONDAY", "WEDNESDAY"].iter().map(|d| json!({"weekday": d, "start": "09:00", "end": "12:00"})).collect();
        set_schedule(&app, &mentor, "America/New_York", Value::Array(days)).await;
        let student = app.user(STUDENT, Role::Student, "Europe/London").await;
        let booking = book(&app, &student, request(&["2026-03-02T14:00:00Z", "2026-03-04T14:00:00Z"], json!(5))).await;
        assert_eq!(booking["timeZone"], "America/New_York");
        assert_eq!(
            starts(&booking),
            [
                "2026-03-02T14:00:00+00:00", "2026-03-04T14:00:00+00:00",
                "2026-03-09T13:00:00+00:00", "2026-03-11T13:00:00+00:00",
                "2026-03-16T13:00:00+00:00", "2026-03-18T13:00:00+00:00",
                "2026-03-23T13:00:00+00:00", "2026-03-25T13:00:00+00:00",
                "2026-03-30T14:00:00+01:00", "2026-04-01T14:00:00+01:00",
            ]
        );
        // The mentor sees 09:00 every time, in their own offset.
        let data = app.ok(&mentor, "query($id: ID!) { booking(id: $id) { sessions { start } } }", json!({"id": booking["id"]})).await;
        let mentor_view = starts(&data["booking"]);
        assert!(mentor_view.iter().all(|s| s.contains("T09:00:00-0")), "{mentor_view:?}");
        assert_eq!(mentor_view[2], "2026-03-09T09:00:00-04:00");
    }

    async fn listings_are_per_caller_and_paginated(app) {
        let (mentor, student) = tutor_and_student(&app).await;
        let other = app.user(OTHER_STUDENT, Role::Student, "UTC").await;
        let a = book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(2))).await;
        let b = book(&app, &student, request(&["2026-01-06T09:00:00Z"], json!(2))).await;
        let c = book(&app, &other, request(&["2026-01-07T09:00:00Z"], json!(2))).await;
        let q = "query($f: Int, $a: String) { bookings(first: $f, after: $a) { edges { cursor node { id student { id name } mentor { id } } } pageInfo { hasNextPage endCursor } } }";
        let ids = |d: &Value| d["bookings"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect::<Vec<_>>();
        // Newest first; a student sees their own only.
        let page = app.ok(&student, q, json!({"f": 1})).await;
        assert_eq!(ids(&page), [b["id"].clone()]);
        assert_eq!(page["bookings"]["pageInfo"]["hasNextPage"], true);
        let cursor = page["bookings"]["pageInfo"]["endCursor"].clone();
        let page = app.ok(&student, q, json!({"f": 1, "a": cursor})).await;
        assert_eq!(ids(&page), [a["id"].clone()]);
        assert_eq!(page["bookings"]["pageInfo"]["hasNextPage"], false);
        // The mentor sees all three, with each student nested.
        let page = app.ok(&mentor, q, json!({"f": 10})).await;
        assert_eq!(ids(&page), [c["id"].clone(), b["id"].clone(), a["id"].clone()]);
        assert_eq!(page["bookings"]["edges"][0]["node"]["student"]["name"], format!("User {OTHER_STUDENT}"));
        // Someone else's booking is null, as an unknown one is: ids cannot be probed.
        let theirs = app.gql(Some(&other), "query($id: ID!) { booking(id: $id) { id } }", json!({"id": a["id"]})).await;
        assert_eq!(theirs, json!({"data": {"booking": null}}));
        let none = app.ok(&other, "query { booking(id: \"nope\") { id } }", json!({})).await;
        assert!(none["booking"].is_null());
        // Sessions in a window, by start, across pages.
        let sq = "query($from: DateTime, $to: DateTime, $f: Int, $a: String) { sessions(from: $from, to: $to, first: $f, after: $a) { edges { node { start booking { id } } } pageInfo { hasNextPage endCursor } } }";
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = app.ok(&mentor, sq, json!({"from": "2026-01-06T00:00:00Z", "to": "2026-01-14T00:00:00Z", "f": 2, "a": after})).await;
            for e in page["sessions"]["edges"].as_array().unwrap() {
                seen.push(e["node"]["start"].as_str().unwrap().to_string());
            }
            if page["sessions"]["pageInfo"]["hasNextPage"] == false { break; }
            after = page["sessions"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, ["2026-01-06T09:00:00+00:00", "2026-01-07T09:00:00+00:00", "2026-01-12T09:00:00+00:00", "2026-01-13T09:00:00+00:00"]);
        // Page sizes and cursors are checked.
        for (vars, field) in [
            (json!({"f": 0}), "first"),
            (json!({"f": 101}), "first"),
            (json!({"f": 5, "a": "zz"}), "after"),
        ] {
            let e = app.fails(Some(&student), q, vars, "BAD_USER_INPUT").await;
            assert_eq!(e["extensions"]["field"], field);
        }
        let e = app.fails(Some(&student), sq, json!({"from": "2026-01-06T00:00:00Z", "to": "2026-01-05T00:00:00Z"}), "BAD_USER_INPUT").await;
        assert_eq!(e["extensions"]["field"], "to");
    }

    async fn nested_users_bookings_and_sessions_cost_the_same_few_queries_for_any_page(app) {
        let (mentor, _) = tutor_and_student(&app).await;
        let q = "{ bookings(first: 50) { edges { node { id mentor { name } student { name timeZone } sessions { start booking { subject student { id } } } } } } }";
        let mut counts = Vec::new();
        for (round, students) in [(0, 2), (1, 6)] {
            for i in 0..students {
                let token = app.user(&format!("n1-{round}-{i}"), Role::Student, "UTC").await;
                let slot = format!("2026-01-{:02}T{:02}:00:00Z", 5 + 2 * round + i / 3, 9 + 2 * (i % 3));
                book(&app, &token, request(&[&slot], json!(3))).await;
            }
            let (data, statements) = app.ok_counting(&mentor, q, json!({})).await;
            counts.push(statements);
            let edges = data["bookings"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), [2, 8][round]);
            assert_eq!(edges[0]["node"]["sessions"].as_array().unwrap().len(), 3);
        }
        // One query per kind and level (bookings; their users; their sessions; the sessions'
        // bookings; those bookings' users), whether the page holds 2 bookings or 8. On a busy
        // machine a loader's batch can split in two (its timer fires between two loads), so a level
        // may cost one more; a query per booking would cost 8 more.
        assert!(counts.iter().all(|c| (5..=7).contains(c)), "{counts:?}");
    }
}
