//! CalDAV discovery against a real Radicale server: from the server's URL to the account's
//! calendars (principal, calendar home, the calendars taking events with their ctag and sync
//! token), and clear answers for a wrong password, a server that is not CalDAV, and a bad URL.

use mentor_scheduler::config::Secret;
use mentor_scheduler::integrations::calendar::caldav::discovery::DiscoveryError;
use mentor_scheduler::integrations::calendar::caldav::{Account, CalDav};

use crate::helpers::radicale::{Radicale, PASSWORD, USER};

fn alice() -> Account {
    Account {
        username: USER.into(),
        password: Secret::new(PASSWORD),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_the_accounts_calendars_that_take_events() {
    let Some(server) = Radicale::start().await else {
        return;
    };
    server
        .make_calendar(USER, PASSWORD, "work", "Work", &["VEVENT"])
        .await;
    server
        .make_calendar(
            USER,
            PASSWORD,
            "family",
            "Family & friends",
            &["VEVENT", "VTODO"],
        )
        .await;
    server
        .make_calendar(USER, PASSWORD, "tasks", "Tasks", &["VTODO"])
        .await;
    // Someone else's calendar on the same server is not the account's.
    server
        .make_calendar("bob", "bobs-password", "bobs", "Bob's", &["VEVENT"])
        .await;

    // From the bare server URL (Radicale answers the principal at its root) and from a deeper one.
    for start in [server.url.clone(), format!("{}/alice/", server.url)] {
        let found = CalDav::new(true, "mentors.test")
            .discover(&start, &alice())
            .await
            .unwrap();
        assert_eq!(found.principal.path(), "/alice/");
        assert_eq!(found.home.path(), "/alice/");
        let mut names: Vec<(String, String)> = found
            .calendars
            .iter()
            .map(|c| (c.url.path().to_string(), c.name.clone()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("/alice/family/".to_string(), "Family & friends".to_string()),
                ("/alice/work/".to_string(), "Work".to_string()),
            ]
        );
        assert!(
            found
                .calendars
                .iter()
                .all(|c| c.ctag.is_some() && c.sync_token.is_some()),
            "{:?}",
            found.calendars
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_a_stranger_server_and_a_bad_url_are_told_apart() {
    let Some(server) = Radicale::start().await else {
        return;
    };
    let wrong = Account {
        username: USER.into(),
        password: Secret::new("not-it"),
    };
    let e = CalDav::new(true, "mentors.test")
        .discover(&server.url, &wrong)
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::BadCredentials), "{e:?}");

    // An HTTP server that is not CalDAV: a plain web server's 404s and 405s.
    let plain = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, plain).await.unwrap() });
    let e = CalDav::new(true, "mentors.test")
        .discover(&format!("http://{address}/"), &alice())
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::NotCalDav(_)), "{e:?}");

    for bad in [
        "",
        "ftp://example.com/",
        "not a url",
        "mailto:alice@example.com",
    ] {
        let e = CalDav::new(true, "mentors.test")
            .discover(bad, &alice())
            .await
            .unwrap_err();
        assert!(matches!(e, DiscoveryError::BadUrl(_)), "{bad}: {e:?}");
    }
    // Nothing listening.
    let port = crate::helpers::free_port();
    let e = CalDav::new(true, "mentors.test")
        .discover(&format!("http://127.0.0.1:{port}/"), &alice())
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Unreachable(_)), "{e:?}");
}

/// Puts an iCalendar object at `/alice/work/{name}` (as a client would: `If-None-Match: *`).
async fn put(server: &Radicale, name: &str, ics: &str) {
    let answer = reqwest::Client::new()
        .put(format!("{}/{USER}/work/{name}", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .header("Content-Type", "text/calendar; charset=utf-8")
        .header("If-None-Match", "*")
        .body(ics.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        201,
        "{}",
        answer.text().await.unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurring_events_read_from_radicale_expand_with_their_exceptions() {
    use mentor_scheduler::domain::calendar::EventTime;
    use mentor_scheduler::integrations::calendar::caldav::ics::{events_of, Names};

    let Some(server) = Radicale::start().await else {
        return;
    };
    server
        .make_calendar(USER, PASSWORD, "work", "Work", &["VEVENT"])
        .await;
    // Mondays 09:00 in London from 16 March 2026, four times, the second one skipped and the third
    // moved to 11:00; a free event; a cancelled one.
    put(&server, "weekly.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;TZID=Europe/London:20260316T090000\r\nDTEND;TZID=Europe/London:20260316T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/London:20260323T090000\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260301T000000Z\r\nRECURRENCE-ID;TZID=Europe/London:20260330T090000\r\nDTSTART;TZID=Europe/London:20260330T110000\r\nDTEND;TZID=Europe/London:20260330T120000\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n").await;
    put(&server, "free.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:free-1\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260317T090000Z\r\nDTEND:20260317T100000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").await;
    put(&server, "cancelled.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:gone-1\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260318T090000Z\r\nDTEND:20260318T100000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").await;

    let from: chrono::DateTime<chrono::Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
    let to: chrono::DateTime<chrono::Utc> = "2026-05-01T00:00:00Z".parse().unwrap();
    let calendar = url::Url::parse(&format!("{}/{USER}/work/", server.url)).unwrap();
    let objects = CalDav::new(true, "mentors.test")
        .objects_between(&calendar, &alice(), from, to)
        .await
        .unwrap();
    assert_eq!(objects.len(), 3);
    assert!(objects.iter().all(|o| o.etag.is_some()));
    let mut busy = Vec::new();
    for o in &objects {
        let names = Names {
            path: &o.href,
            key: "k",
            invite_domain: "mentors.test",
            zone_budget: &std::cell::Cell::new(4),
        };
        for e in events_of(&o.ics, &names, chrono_tz::Europe::London, from, to).unwrap() {
            if e.cancelled || e.transparent {
                continue;
            }
            if let Some(EventTime::At { start, end }) = e.when {
                busy.push((start.to_rfc3339(), end.to_rfc3339()));
            }
        }
    }
    busy.sort();
    assert_eq!(
        busy,
        vec![
            (
                "2026-03-16T09:00:00+00:00".to_string(),
                "2026-03-16T10:00:00+00:00".to_string()
            ),
            // After the clocks change: 11:00 BST is 10:00 UTC (moved), 09:00 BST is 08:00 UTC.
            (
                "2026-03-30T10:00:00+00:00".to_string(),
                "2026-03-30T11:00:00+00:00".to_string()
            ),
            (
                "2026-04-06T08:00:00+00:00".to_string(),
                "2026-04-06T09:00:00+00:00".to_string()
            ),
        ]
    );
}

fn event(uid: &str, start: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_conditional_and_sync_tokens_report_changes_and_removals() {
    use mentor_scheduler::integrations::calendar::caldav::write::Written;
    use mentor_scheduler::integrations::calendar::ProviderError;

    let Some(server) = Radicale::start().await else {
        return;
    };
    server
        .make_calendar(USER, PASSWORD, "work", "Work", &["VEVENT"])
        .await;
    let dav = CalDav::new(true, "mentors.test");
    let calendar = url::Url::parse(&format!("{}/{USER}/work/", server.url)).unwrap();
    let object = calendar.join("session-1.ics").unwrap();

    // The first round: a token, nothing yet.
    let first = dav.changes_since(&calendar, &alice(), None).await.unwrap();
    assert!(first.changed.is_empty() && first.removed.is_empty());
    let token = first.token.expect("Radicale offers sync-collection");

    // Created once: a retried create (If-None-Match: *) is refused, not a second object.
    let Written::Done { etag: Some(etag) } = dav
        .put(
            &object,
            &alice(),
            &event("session-1", "20260316T090000Z"),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("created with an ETag")
    };
    assert_eq!(
        dav.put(
            &object,
            &alice(),
            &event("session-1", "20260316T090000Z"),
            None
        )
        .await
        .unwrap(),
        Written::Conflict
    );

    // Someone changes it meanwhile: our change on the old ETag is refused (412), not written over.
    let Written::Done { etag: Some(theirs) } = dav
        .put(
            &object,
            &alice(),
            &event("session-1", "20260316T100000Z"),
            Some(&etag),
        )
        .await
        .unwrap()
    else {
        panic!("their change")
    };
    assert_eq!(
        dav.put(
            &object,
            &alice(),
            &event("session-1", "20260316T110000Z"),
            Some(&etag)
        )
        .await
        .unwrap(),
        Written::Conflict
    );
    let now = dav
        .objects(&calendar, &alice(), &[object.path().to_string()])
        .await
        .unwrap();
    assert!(
        now[0].ics.contains("20260316T100000Z"),
        "their version stands: {}",
        now[0].ics
    );

    // The sync token reports the object changed; then, deleted on the current ETag, removed.
    let round = dav
        .changes_since(&calendar, &alice(), Some(&token))
        .await
        .unwrap();
    assert_eq!(
        round
            .changed
            .iter()
            .map(|(h, _)| h.as_str())
            .collect::<Vec<_>>(),
        vec![object.path()]
    );
    let token = round.token.unwrap();
    assert_eq!(
        dav.delete(&object, &alice(), Some(&etag)).await.unwrap(),
        Written::Conflict,
        "an old ETag deletes nothing"
    );
    assert!(matches!(
        dav.delete(&object, &alice(), Some(&theirs)).await.unwrap(),
        Written::Done { .. }
    ));
    assert!(
        matches!(
            dav.delete(&object, &alice(), None).await.unwrap(),
            Written::Done { .. }
        ),
        "already gone is done"
    );
    let round = dav
        .changes_since(&calendar, &alice(), Some(&token))
        .await
        .unwrap();
    assert_eq!(round.removed, vec![object.path().to_string()]);
    assert!(round.changed.is_empty());

    // A token the server does not know: read everything again.
    let stale = dav.changes_since(&calendar, &alice(), Some("http://radicale.org/ns/sync/0000000000000000000000000000000000000000000000000000000000000000")).await;
    assert!(
        matches!(stale, Err(ProviderError::SyncTokenExpired)),
        "{stale:?}"
    );
}
