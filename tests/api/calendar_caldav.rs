//! CalDAV accounts against a real Radicale: connecting (discovery, the calendar list, clear
//! refusals, the password sealed at rest), busy time with recurrences, exceptions, all-day and
//! floating events, changes and removals through sync tokens (a stale token reads everything
//! again), sessions written as objects with their invite's `UID` and moved with ETags, the
//! two-way rules and conflicts, a revoked password, and Google with CalDAV at once.

use mentor_scheduler::auth::Role;
use mentor_scheduler::domain::calendar::CalendarProvider;
use mentor_scheduler::entity::{calendar_connection, external_calendar};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};

use crate::helpers::booking::{book, request, tutor_and_student, TUTOR};
use crate::helpers::busy::{span, utc_of as utc};
use crate::helpers::radicale::{connect_caldav, vevent, Radicale, PASSWORD, USER};
use crate::helpers::TestApp;

const UPDATE_SYNC: &str =
    "mutation($i: CalendarSyncSettingsInput!) { updateCalendarSync(input: $i) { state } }";
const WHEN: &str =
    "query($id: ID!) { booking(id: $id) { sessions { id start status sequence cancelReason } } }";
const RESCHEDULE: &str =
    "mutation($id: ID!, $s: DateTime!) { rescheduleSession(id: $id, start: $s) { id sequence } }";
const CANCEL_SESSION: &str = "mutation($id: ID!) { cancelSession(id: $id) { id status } }";
const CONFLICTS: &str =
    "query { calendarConflicts(openOnly: true) { edges { node { kind provider } } } }";

/// `mentor`'s busy blocks read from CalDAV, as (start, end) in UTC, in order.
async fn caldav_busy(app: &TestApp, mentor: &str) -> Vec<(String, String)> {
    crate::helpers::busy::blocks(app, mentor, "caldav").await
}

async fn sync(app: &TestApp, mentor: &str) {
    crate::helpers::busy::sync(app, mentor, CalendarProvider::Caldav).await
}

async fn status(app: &TestApp, mentor: &str) -> Value {
    app.ok(
        mentor,
        "{ calendarStatus(provider: CALDAV) { connected state lastError accountEmail pushActive frequencyMinutes calendars { id name primary countsAsBusy receivesSessions } } }",
        json!({}),
    )
    .await["calendarStatus"]
        .clone()
}

async fn connect(app: &TestApp, dav: &Radicale, mentor: &str) -> Value {
    let answer = connect_caldav(app, mentor, &dav.url, USER, PASSWORD).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["connectCalDav"].clone()
}

fn error_of(answer: &Value) -> (String, String) {
    let e = &answer["errors"][0];
    (
        e["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        e["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn first_session(app: &TestApp, token: &str, booking: &Value) -> Value {
    app.ok(token, WHEN, json!({ "id": booking })).await["booking"]["sessions"][0].clone()
}

/// The session objects in `work` (ours carry `X-MENTOR-SESSION`).
async fn session_objects(dav: &Radicale) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for name in dav.names("work").await {
        if let Some(o) = dav.get("work", &name).await {
            if o.ics.contains("X-MENTOR-SESSION") {
                found.push((name, o.ics));
            }
        }
    }
    found
}

crate::with_radicale! {
    async fn connecting_discovers_calendars_and_reads_recurring_all_day_and_floating_busy_time(app, dav) {
        // A New York mentor. Weekly Tuesdays 10:00 New York from 6 January, three times, the
        // second skipped (EXDATE) and the third moved to 14:00 (RECURRENCE-ID).
        let mentor = app.user(TUTOR, Role::Mentor, "America/New_York").await;
        dav.put("work", "weekly.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
            BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=America/New_York:20260106T100000\r\nDTEND;TZID=America/New_York:20260106T110000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE;TZID=America/New_York:20260113T100000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=America/New_York:20260120T100000\r\nDTSTART;TZID=America/New_York:20260120T140000\r\nDTEND;TZID=America/New_York:20260120T150000\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n").await;
        // All day on 8 January: the mentor's whole day (New York midnight to midnight).
        dav.put("work", "allday.ics", &vevent("day-1", "VALUE=DATE:20260108", "VALUE=DATE:20260109", "")).await;
        // Floating 09:00-10:00 on 9 January: the mentor's 09:00.
        dav.put("work", "floating.ics", &vevent("float-1", "20260109T090000", "20260109T100000", "")).await;
        // Free, cancelled: not busy.
        dav.put("work", "free.ics", &vevent("free-1", "20260107T150000Z", "20260107T160000Z", "TRANSP:TRANSPARENT\r\n")).await;
        dav.put("work", "gone.ics", &vevent("gone-1", "20260107T170000Z", "20260107T180000Z", "STATUS:CANCELLED\r\n")).await;
        // The family calendar does not count until the mentor says so.
        dav.put("family", "party.ics", &vevent("party-1", "20260110T180000Z", "20260110T200000Z", "")).await;

        let connected = connect(&app, &dav, &mentor).await;
        assert_eq!(connected["provider"], "CALDAV");
        assert_eq!(connected["connected"], true, "{connected}");
        assert_eq!(connected["accountEmail"], USER);
        let calendars = connected["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 2, "{connected}");
        let primary: Vec<&Value> = calendars.iter().filter(|c| c["primary"] == true).collect();
        assert_eq!(primary.len(), 1);
        assert_eq!(primary[0]["countsAsBusy"], true);
        assert_eq!(primary[0]["receivesSessions"], true);
        let work = calendars.iter().find(|c| c["name"] == "Work").unwrap()["id"].clone();
        let family = calendars.iter().find(|c| c["name"] == "Family").unwrap()["id"].clone();
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "CALDAV", "busyCalendarIds": [work], "sessionCalendarId": work } })).await;
        app.jobs.drain().await.unwrap();

        let s = status(&app, &mentor).await;
        assert_eq!((s["state"].as_str(), s["pushActive"].as_bool()), (Some("IDLE"), Some(false)), "{s}");
        assert_eq!(s["frequencyMinutes"], 5, "CalDAV is polled every 5 minutes by default");
        assert_eq!(
            caldav_busy(&app, TUTOR).await,
            vec![
                span("2026-01-06T15:00:00Z", "2026-01-06T16:00:00Z"),
                span("2026-01-08T05:00:00Z", "2026-01-09T05:00:00Z"),
                span("2026-01-09T14:00:00Z", "2026-01-09T15:00:00Z"),
                span("2026-01-20T19:00:00Z", "2026-01-20T20:00:00Z"),
            ]
        );
        // The family calendar counts once chosen.
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "CALDAV", "busyCalendarIds": [work, family] } })).await;
        app.jobs.drain().await.unwrap();
        assert!(caldav_busy(&app, TUTOR).await.contains(&span("2026-01-10T18:00:00Z", "2026-01-10T20:00:00Z")));

        // The password is sealed at rest: the row holds no trace of it.
        let row = calendar_connection::Entity::find()
            .filter(calendar_connection::Column::MentorId.eq(TUTOR))
            .one(app.services.db.conn())
            .await
            .unwrap()
            .unwrap();
        let sealed = row.access_token.clone().unwrap();
        assert!(!sealed.contains(PASSWORD) && !sealed.contains(USER), "{sealed}");
        assert!(row.refresh_token.is_none());
    }

    async fn bad_credentials_and_servers_that_are_not_caldav_are_refused_clearly(app, dav) {
        let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
        let wrong = connect_caldav(&app, &mentor, &dav.url, USER, "not-the-password").await;
        assert_eq!(error_of(&wrong), ("BAD_USER_INPUT".into(), "password".into()), "{wrong}");
        // This service's own address answers, but not CalDAV.
        let not_dav = connect_caldav(&app, &mentor, &app.url("/health"), USER, PASSWORD).await;
        assert_eq!(error_of(&not_dav), ("BAD_USER_INPUT".into(), "serverUrl".into()), "{not_dav}");
        let nothing = connect_caldav(&app, &mentor, "http://127.0.0.1:9/", USER, PASSWORD).await;
        assert_eq!(error_of(&nothing), ("BAD_USER_INPUT".into(), "serverUrl".into()), "{nothing}");
        for (url, user, password, field) in [
            ("not a url", USER, PASSWORD, "serverUrl"),
            ("ftp://example.com/", USER, PASSWORD, "serverUrl"),
            (dav.url.as_str(), "", PASSWORD, "username"),
            (dav.url.as_str(), "a:b", PASSWORD, "username"),
            (dav.url.as_str(), USER, "", "password"),
        ] {
            let refused = connect_caldav(&app, &mentor, url, user, password).await;
            assert_eq!(error_of(&refused), ("BAD_USER_INPUT".into(), field.into()), "{url} {user}: {refused}");
        }
        let long = "x".repeat(5000);
        let refused = connect_caldav(&app, &mentor, &dav.url, USER, &long).await;
        assert!(refused.get("errors").is_some(), "{refused}");
        // CalDAV has no OAuth consent to start.
        let oauth = app.gql(Some(&mentor), "mutation { connectCalendar(provider: CALDAV) { authorizationUrl } }", json!({})).await;
        assert_eq!(error_of(&oauth), ("BAD_USER_INPUT".into(), "provider".into()), "{oauth}");
        assert!(oauth["errors"][0]["message"].as_str().unwrap().contains("connectCalDav"), "{oauth}");
        // Students do not connect calendars; nothing was kept.
        let student = app.user("caldav-student-1", Role::Student, "Europe/London").await;
        let forbidden = connect_caldav(&app, &student, &dav.url, USER, PASSWORD).await;
        assert_eq!(error_of(&forbidden).0, "FORBIDDEN", "{forbidden}");
        assert_eq!(status(&app, &mentor).await["connected"], false);
        assert!(caldav_busy(&app, TUTOR).await.is_empty());
    }

    async fn changes_and_removals_come_through_the_sync_token_and_a_stale_one_reads_again(app, dav) {
        let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
        dav.put("work", "a.ics", &vevent("a", "20260106T090000Z", "20260106T100000Z", "")).await;
        dav.put("work", "weekly.ics", &vevent("w", "20260107T090000Z", "20260107T100000Z", "RRULE:FREQ=WEEKLY;COUNT=3\r\n")).await;
        dav.put("work", "b.ics", &vevent("b", "20260108T090000Z", "20260108T100000Z", "")).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(caldav_busy(&app, TUTOR).await.len(), 5);
        let token_before = external_calendar::Entity::find().filter(external_calendar::Column::CountsAsBusy.eq(true)).one(app.services.db.conn()).await.unwrap().unwrap().sync_token;
        assert!(token_before.is_some());
        // Nothing changed: the same token, the same busy time.
        sync(&app, TUTOR).await;
        let token_again = external_calendar::Entity::find().filter(external_calendar::Column::CountsAsBusy.eq(true)).one(app.services.db.conn()).await.unwrap().unwrap().sync_token;
        assert_eq!(token_before, token_again);
        // The weekly event moves to 11:00 and loses a week; `a` is deleted; `c` is new.
        dav.put("work", "weekly.ics", &vevent("w", "20260107T110000Z", "20260107T120000Z", "RRULE:FREQ=WEEKLY;COUNT=2\r\n")).await;
        assert_eq!(dav.delete("work", "a.ics").await, 200);
        dav.put("work", "c.ics", &vevent("c", "20260109T090000Z", "20260109T100000Z", "")).await;
        sync(&app, TUTOR).await;
        assert_eq!(
            caldav_busy(&app, TUTOR).await,
            vec![
                span("2026-01-07T11:00:00Z", "2026-01-07T12:00:00Z"),
                span("2026-01-08T09:00:00Z", "2026-01-08T10:00:00Z"),
                span("2026-01-09T09:00:00Z", "2026-01-09T10:00:00Z"),
                span("2026-01-14T11:00:00Z", "2026-01-14T12:00:00Z"),
            ]
        );
        // A token the server no longer knows: everything is read again, and nothing is lost.
        let calendar = external_calendar::Entity::find().filter(external_calendar::Column::CountsAsBusy.eq(true)).one(app.services.db.conn()).await.unwrap().unwrap();
        let mut stale: external_calendar::ActiveModel = calendar.into();
        stale.sync_token = Set(Some("http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000".into()));
        stale.update(app.services.db.conn()).await.unwrap();
        dav.put("work", "d.ics", &vevent("d", "20260112T090000Z", "20260112T100000Z", "")).await;
        sync(&app, TUTOR).await;
        assert_eq!(caldav_busy(&app, TUTOR).await.len(), 5);
        assert!(caldav_busy(&app, TUTOR).await.contains(&span("2026-01-12T09:00:00Z", "2026-01-12T10:00:00Z")));
        assert_eq!(status(&app, &mentor).await["state"], "IDLE");
    }

    async fn a_server_with_only_a_ctag_is_read_again_when_it_moves(app, dav) {
        // Radicale offers sync tokens; the connection is made to hold a ctag instead, as a server
        // without `sync-collection` would give it.
        let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
        dav.put("work", "a.ics", &vevent("a", "20260106T090000Z", "20260106T100000Z", "")).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        let ctag = |text: &str| {
            let start = text.find("getctag>").unwrap() + "getctag>".len();
            text[start..start + text[start..].find('<').unwrap()].to_string()
        };
        let propfind = || async {
            reqwest::Client::new()
                .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), dav.calendar_url("work"))
                .basic_auth(USER, Some(PASSWORD))
                .header("Depth", "0")
                .body(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>"#)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        let calendar = external_calendar::Entity::find().filter(external_calendar::Column::CountsAsBusy.eq(true)).one(app.services.db.conn()).await.unwrap().unwrap();
        let held = format!("ctag:{}", ctag(&propfind().await));
        let mut as_ctag: external_calendar::ActiveModel = calendar.clone().into();
        as_ctag.sync_token = Set(Some(held.clone()));
        as_ctag.update(app.services.db.conn()).await.unwrap();
        // Nothing changed: the ctag is the same, the token stays, nothing is read again.
        sync(&app, TUTOR).await;
        let kept = external_calendar::Entity::find_by_id((calendar.connection_id.clone(), calendar.calendar_id.clone())).one(app.services.db.conn()).await.unwrap().unwrap();
        assert_eq!(kept.sync_token.as_deref(), Some(held.as_str()));
        assert_eq!(kept.full_read_at, calendar.full_read_at, "no whole read");
        // A change moves the ctag: the calendar is read whole, and the new event is busy.
        dav.put("work", "b.ics", &vevent("b", "20260107T090000Z", "20260107T100000Z", "")).await;
        sync(&app, TUTOR).await;
        assert_eq!(caldav_busy(&app, TUTOR).await, vec![span("2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"), span("2026-01-07T09:00:00Z", "2026-01-07T10:00:00Z")]);
    }

    async fn sessions_are_objects_with_the_invite_uid_moved_with_etags_and_deleted(app, dav) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let objects = session_objects(&dav).await;
        assert_eq!(objects.len(), 1, "{objects:?}");
        let (name, ics) = &objects[0];
        let session_id = booking["sessions"][0]["id"].as_str().unwrap();
        // The invite's UID: `{session id}@{EMAIL_FROM's domain}` (the default sender here).
        assert!(ics.contains(&format!("UID:{session_id}@empoweredlearnings.example\r\n")), "{ics}");
        assert!(ics.contains("DTSTART:20260106T100000Z"), "{ics}");
        assert!(!ics.contains("ATTENDEE"), "no invitations from the server: {ics}");
        // Our own session is never busy time.
        sync(&app, TUTOR).await;
        assert!(caldav_busy(&app, TUTOR).await.is_empty());
        // The mentor adds an alarm to it in their calendar app (a new ETag); the session moves:
        // the move reads the object again and keeps the alarm.
        let before = dav.get("work", name).await.unwrap();
        let with_alarm = before.ics.replace("END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:soon\r\nEND:VALARM\r\nEND:VEVENT");
        dav.put("work", name, &with_alarm).await;
        app.ok(&student, RESCHEDULE, json!({ "id": session_id, "s": "2026-01-06T13:00:00Z" })).await;
        app.jobs.drain().await.unwrap();
        let moved = dav.get("work", name).await.unwrap();
        assert_ne!(moved.etag, before.etag);
        assert!(moved.ics.contains("DTSTART:20260106T130000Z"), "{}", moved.ics);
        assert!(moved.ics.contains("SEQUENCE:1"), "{}", moved.ics);
        assert!(moved.ics.contains("TRIGGER:-PT15M"), "the mentor's alarm is kept: {}", moved.ics);
        assert_eq!(session_objects(&dav).await.len(), 1, "moved, not duplicated");
        // Reading our own move back changes nothing.
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let now = first_session(&app, &student, &booking["id"]).await;
        assert_eq!((utc(&now["start"]), now["status"].as_str()), ("2026-01-06T13:00:00+00:00".to_string(), Some("SCHEDULED")));
        // Cancelled: the object goes.
        app.ok(&student, CANCEL_SESSION, json!({ "id": session_id })).await;
        app.jobs.drain().await.unwrap();
        assert!(session_objects(&dav).await.is_empty());
        assert!(dav.get("work", name).await.is_none());
    }

    async fn a_session_deleted_in_the_calendar_is_cancelled_and_one_moved_follows(app, dav) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        sync(&app, TUTOR).await;
        let (name, ics) = session_objects(&dav).await.remove(0);
        // Moved in the mentor's calendar app (outside weekly hours, their own choice): followed.
        let moved = ics.replace("DTSTART:20260106T100000Z", "DTSTART:20260106T180000Z").replace("DTEND:20260106T110000Z", "DTEND:20260106T190000Z");
        assert_ne!(moved, ics);
        dav.put("work", &name, &moved).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let now = first_session(&app, &student, &booking["id"]).await;
        assert_eq!((utc(&now["start"]), now["sequence"].as_i64()), ("2026-01-06T18:00:00+00:00".to_string(), Some(1)), "{now}");
        // Deleted there (the sync token reports it removed): cancelled as the mentor.
        dav.delete("work", &name).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let now = first_session(&app, &mentor, &booking["id"]).await;
        assert_eq!((now["status"].as_str(), now["cancelReason"].as_str()), (Some("CANCELLED"), Some("removed from CalDAV")), "{now}");
        let told = crate::helpers::notify::inbox(&app, &student).await;
        assert!(told.iter().any(|n| n["type"] == "SESSION_CANCELLED"), "{told:?}");
    }

    async fn restore_event_puts_a_deleted_session_back_and_ask_raises_conflicts(app, dav) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "CALDAV", "onSessionEventDeleted": "RESTORE_EVENT", "onSessionEventMoved": "ASK" } })).await;
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        sync(&app, TUTOR).await;
        let (name, ics) = session_objects(&dav).await.remove(0);
        dav.delete("work", &name).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let back = session_objects(&dav).await;
        assert_eq!(back.len(), 1, "written again");
        assert!(back[0].1.contains("DTSTART:20260106T100000Z"));
        assert_eq!(first_session(&app, &student, &booking["id"]).await["status"], "SCHEDULED");
        // Moved with ASK: a conflict, the session stays.
        let (name, ics2) = back.into_iter().next().unwrap();
        let _ = ics;
        dav.put("work", &name, &ics2.replace("DTSTART:20260106T100000Z", "DTSTART:20260106T150000Z").replace("DTEND:20260106T110000Z", "DTEND:20260106T160000Z")).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let conflicts = app.ok(&mentor, CONFLICTS, json!({})).await;
        let edges = conflicts["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{conflicts}");
        assert_eq!((edges[0]["node"]["kind"].as_str(), edges[0]["node"]["provider"].as_str()), (Some("SESSION_EVENT_MOVED"), Some("CALDAV")));
        assert_eq!(utc(&first_session(&app, &student, &booking["id"]).await["start"]), "2026-01-06T10:00:00+00:00");
    }

    async fn restore_event_moves_a_moved_session_event_back_and_ask_raises_a_deletion_conflict(app, dav) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        app.ok(&mentor, UPDATE_SYNC, json!({ "i": { "provider": "CALDAV", "onSessionEventDeleted": "ASK", "onSessionEventMoved": "RESTORE_EVENT" } })).await;
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        sync(&app, TUTOR).await;
        let (name, ics) = session_objects(&dav).await.remove(0);
        dav.put("work", &name, &ics.replace("DTSTART:20260106T100000Z", "DTSTART:20260106T150000Z").replace("DTEND:20260106T110000Z", "DTEND:20260106T160000Z")).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let back = dav.get("work", &name).await.unwrap();
        assert!(back.ics.contains("DTSTART:20260106T100000Z"), "moved back: {}", back.ics);
        assert_eq!(utc(&first_session(&app, &student, &booking["id"]).await["start"]), "2026-01-06T10:00:00+00:00");
        // Deleted with ASK: a conflict, the session stays.
        dav.delete("work", &name).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let conflicts = app.ok(&mentor, CONFLICTS, json!({})).await;
        let edges = conflicts["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{conflicts}");
        assert_eq!(edges[0]["node"]["kind"], "SESSION_EVENT_DELETED");
        assert_eq!(first_session(&app, &student, &booking["id"]).await["status"], "SCHEDULED");
    }

    async fn busy_time_over_a_session_is_a_conflict_that_closes_itself(app, dav) {
        let (mentor, student) = tutor_and_student(&app).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        dav.put("work", "dentist.ics", &vevent("dentist", "20260106T103000Z", "20260106T113000Z", "")).await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let conflicts = app.ok(&mentor, CONFLICTS, json!({})).await;
        let edges = conflicts["calendarConflicts"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{conflicts}");
        assert_eq!(edges[0]["node"]["kind"], "BUSY_OVER_SESSION");
        dav.delete("work", "dentist.ics").await;
        sync(&app, TUTOR).await;
        app.jobs.drain().await.unwrap();
        let open = app.ok(&mentor, CONFLICTS, json!({})).await;
        assert!(open["calendarConflicts"]["edges"].as_array().unwrap().is_empty(), "{open}");
    }

    async fn a_revoked_password_asks_the_mentor_to_reconnect_and_keeps_busy_time(app, dav) {
        let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
        dav.put("work", "a.ics", &vevent("a", "20260106T090000Z", "20260106T100000Z", "")).await;
        connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(caldav_busy(&app, TUTOR).await.len(), 1);
        dav.change_password("a-new-app-password");
        sync(&app, TUTOR).await;
        let s = status(&app, &mentor).await;
        assert_eq!(s["state"], "RECONNECT_REQUIRED", "{s}");
        assert!(s["lastError"].as_str().unwrap().contains("password"), "{s}");
        assert_eq!(caldav_busy(&app, TUTOR).await.len(), 1, "busy time already read stays");
        // Connecting again with the new password: back to work, settings kept.
        let again = connect_caldav(&app, &mentor, &dav.url, USER, "a-new-app-password").await;
        assert!(again.get("errors").is_none(), "{again}");
        app.jobs.drain().await.unwrap();
        assert_eq!(status(&app, &mentor).await["state"], "IDLE");
    }
}

/// Without `CALDAV_ALLOW_LOCAL`, a server on this machine (or any private address), or plain
/// http, is refused before anything is asked of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_private_networks_are_refused_unless_allowed() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let mentor = app.user(TUTOR, Role::Mentor, "Europe/London").await;
    for url in [
        app.url("/"),
        "https://127.0.0.1:5232/".to_string(),
        "https://169.254.169.254/latest/".to_string(),
        "https://[::1]/".to_string(),
        "https://localhost:5232/".to_string(),
    ] {
        let refused = connect_caldav(&app, &mentor, &url, USER, PASSWORD).await;
        assert_eq!(
            error_of(&refused),
            ("BAD_USER_INPUT".into(), "serverUrl".into()),
            "{url}: {refused}"
        );
        let why = refused["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            why.contains("https") || why.contains("public"),
            "{url}: {why}"
        );
    }
}

mod with_google {
    use super::*;
    use crate::helpers::fake_google::{self, FakeGoogle};

    /// Busy time comes from both accounts; sessions go to the calendar chosen.
    async fn both(app: TestApp, google: FakeGoogle, dav: Radicale) {
        let (mentor, student) = tutor_and_student(&app).await;
        google.put_event(
            fake_google::ACCOUNT,
            fake_google::timed("g1", "2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"),
        );
        dav.put(
            "work",
            "c1.ics",
            &vevent("c1", "20260106T110000Z", "20260106T120000Z", ""),
        )
        .await;
        crate::helpers::google::connect(&app, &mentor).await;
        let caldav = connect(&app, &dav, &mentor).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(
            caldav_busy(&app, TUTOR).await,
            vec![span("2026-01-06T11:00:00Z", "2026-01-06T12:00:00Z")]
        );
        let slots = app.ok(&student, "query($m: ID!) { availableSlots(mentorId: $m, from: \"2026-01-06T08:00:00Z\", to: \"2026-01-06T13:00:00Z\") { start } }", json!({ "m": TUTOR })).await;
        let starts: Vec<String> = slots["availableSlots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| utc(&s["start"]))
            .collect();
        assert!(
            !starts.contains(&"2026-01-06T09:00:00+00:00".to_string()),
            "{starts:?}"
        );
        assert!(
            !starts.contains(&"2026-01-06T11:00:00+00:00".to_string()),
            "{starts:?}"
        );
        // Google, connected first, keeps the sessions; then the mentor picks the CalDAV calendar.
        book(&app, &student, request(&["2026-01-05T09:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(
            google.writes().iter().filter(|w| w.0 == "insert").count(),
            1
        );
        assert!(session_objects(&dav).await.is_empty());
        let work = caldav["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Work")
            .unwrap()["id"]
            .clone();
        app.ok(
            &mentor,
            UPDATE_SYNC,
            json!({ "i": { "provider": "CALDAV", "sessionCalendarId": work } }),
        )
        .await;
        app.jobs.drain().await.unwrap();
        book(&app, &student, request(&["2026-01-07T09:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(session_objects(&dav).await.len(), 1);
        assert_eq!(
            google.writes().iter().filter(|w| w.0 == "insert").count(),
            1
        );
    }

    async fn start(backend: crate::helpers::Backend) -> Option<(TestApp, FakeGoogle, Radicale)> {
        let dav = Radicale::start().await?;
        dav.make_calendar(USER, PASSWORD, "work", "Work", &["VEVENT"])
            .await;
        let google = FakeGoogle::start().await;
        let mut settings = google.settings();
        settings.push(("CALDAV_ALLOW_LOCAL".into(), "true".into()));
        let app = crate::helpers::spawn_reachable(backend, settings).await?;
        Some((app, google, dav))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_and_caldav_at_once_sqlite() {
        if let Some((app, google, dav)) = start(crate::helpers::Backend::Sqlite).await {
            both(app, google, dav).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn google_and_caldav_at_once_postgres() {
        match start(crate::helpers::Backend::Postgres).await {
            Some((app, google, dav)) => both(app, google, dav).await,
            None => crate::helpers::say_skipped("google_and_caldav_at_once_postgres"),
        }
    }
}

/// A proxy in front of Radicale that, the first time a change with `If-Match` comes through,
/// edits that object first, as the mentor's calendar app might in between our read and our write:
/// the change then meets a `412`. Returns the proxy's URL and how many `412`s went back.
async fn meddling_proxy(
    upstream: String,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let refused = Arc::new(AtomicUsize::new(0));
    let meddled = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let (counted, upstream_url) = (refused.clone(), upstream.clone());
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (http, upstream, meddled, refused) = (
            http.clone(),
            upstream_url.clone(),
            meddled.clone(),
            counted.clone(),
        );
        async move {
            let url = format!("{upstream}{}", uri.path());
            if method == Method::PUT
                && headers.contains_key("if-match")
                && !meddled.swap(true, Ordering::SeqCst)
            {
                let current = http
                    .get(&url)
                    .basic_auth(USER, Some(PASSWORD))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let edited =
                    current.replacen("END:VEVENT", "X-EDITED-BY-MENTOR:yes\r\nEND:VEVENT", 1);
                let put = http
                    .put(&url)
                    .basic_auth(USER, Some(PASSWORD))
                    .header("Content-Type", "text/calendar")
                    .body(edited)
                    .send()
                    .await
                    .unwrap();
                assert!(put.status().is_success());
            }
            let mut request = http.request(method, &url).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let answer = request.send().await.unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            if status == StatusCode::PRECONDITION_FAILED {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            let mut back = HeaderMap::new();
            for (name, value) in answer.headers() {
                if name != "transfer-encoding" && name != "content-length" {
                    back.insert(name.clone(), value.clone());
                }
            }
            (status, back, answer.bytes().await.unwrap())
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(handler)).await });
    (format!("http://{address}"), refused)
}

crate::with_radicale! {
    async fn a_concurrent_edit_meets_412_and_the_move_reads_again_keeping_it(app, dav) {
        let (proxy, refused) = meddling_proxy(dav.url.clone()).await;
        let (mentor, student) = tutor_and_student(&app).await;
        let answer = connect_caldav(&app, &mentor, &proxy, USER, PASSWORD).await;
        assert!(answer.get("errors").is_none(), "{answer}");
        app.jobs.drain().await.unwrap();
        let booking = book(&app, &student, request(&["2026-01-06T10:00:00Z"], json!(1))).await;
        app.jobs.drain().await.unwrap();
        let session_id = booking["sessions"][0]["id"].as_str().unwrap();
        app.ok(&student, RESCHEDULE, json!({ "id": session_id, "s": "2026-01-06T13:00:00Z" })).await;
        app.jobs.drain().await.unwrap();
        assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 1, "the first change met the edit");
        let (_, ics) = session_objects(&dav).await.remove(0);
        assert!(ics.contains("DTSTART:20260106T130000Z"), "moved: {ics}");
        assert!(ics.contains("X-EDITED-BY-MENTOR:yes"), "the edit is kept, not overwritten: {ics}");
    }
}
