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
        let found = CalDav::default().discover(&start, &alice()).await.unwrap();
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
    let e = CalDav::default()
        .discover(&server.url, &wrong)
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::BadCredentials), "{e:?}");

    // An HTTP server that is not CalDAV: a plain web server's 404s and 405s.
    let plain = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, plain).await.unwrap() });
    let e = CalDav::default()
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
        let e = CalDav::default().discover(bad, &alice()).await.unwrap_err();
        assert!(matches!(e, DiscoveryError::BadUrl), "{bad}: {e:?}");
    }
    // Nothing listening.
    let port = crate::helpers::free_port();
    let e = CalDav::default()
        .discover(&format!("http://127.0.0.1:{port}/"), &alice())
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Unreachable(_)), "{e:?}");
}
