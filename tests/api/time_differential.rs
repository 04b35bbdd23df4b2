//! Differential test of the README's "Time rules": thousands of random weekly patterns in zones that are
//! hard on purpose, windows across every 2027 offset change, random durations and viewer zones; the
//! slots `availableSlots` returns are compared with `tests/oracle/slots_oracle.py`, an oracle written
//! from the README's words on its own zone database (Python's `zoneinfo` on the pinned `tzdata`
//! package, the IANA release chrono-tz embeds).
//!
//! A fixed seed (`TIME_DIFF_SEED`, default below) and case count (`TIME_DIFF_CASES`, default 2000);
//! `TIME_DIFF_ONLY=<id>` queries one case of that run. The first case that differs is printed in
//! full (and the smallest one too), and a failing run keeps its cases in a JSON file for the oracle to
//! be run on by hand.
//!
//! Needs `python3` and `pip install -r tests/oracle/requirements.txt`; without them the test says it
//! is skipped, unless `REQUIRE_ORACLE=1` (as in CI), when it fails instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};
use mentor_scheduler::auth::Role;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::helpers::schedule::WEEKDAYS;
use crate::helpers::{Backend, TestApp};
use crate::node::{may_run, repo};

const DEFAULT_SEED: u64 = 20_270_314;
const DEFAULT_CASES: usize = 2000;
/// Mentors queried concurrently, each with its own share of the cases.
const MENTORS: usize = 6;
/// The server's "now": before every window, with a horizon (366 days) reaching 2027-12-26.
const NOW: &str = "2026-12-25T00:00:00Z";
const HORIZON_DAYS: i64 = 366;

/// Zones with offset changes in 2027 that are hard on purpose: 30- and 45-minute offsets and steps,
/// negative DST (Dublin), DST at midnight (Havana, Santiago, Beirut, Cairo at 24:00), two-hour DST
/// (Troll), Ramadan (Casablanca), Lord Howe's 30-minute DST, Gaza, Chatham, St John's.
const CHANGING: &[&str] = &[
    "Australia/Adelaide",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Europe/Dublin",
    "America/Havana",
    "Antarctica/Troll",
    "Africa/Casablanca",
    "Asia/Gaza",
    "America/Santiago",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Africa/Cairo",
    "Asia/Beirut",
    "Asia/Jerusalem",
    "Pacific/Easter",
    "America/Nuuk",
    "America/Scoresbysund",
    "Pacific/Norfolk",
    "Europe/Chisinau",
    "America/Miquelon",
];
/// Zones without a change in 2027 (some had one not long ago), with odd offsets.
const FIXED: &[&str] = &[
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Australia/Eucla",
    "America/Asuncion",
    "Pacific/Apia",
    "Asia/Tehran",
    "Pacific/Marquesas",
    "America/Sao_Paulo",
    "Pacific/Kiritimati",
    "UTC",
];
const DURATIONS: &[i64] = &[
    15, 20, 25, 30, 40, 45, 50, 60, 70, 75, 90, 100, 105, 120, 135, 150, 165, 180, 200, 210, 240,
];

const SCHEDULE: &str = "mutation($i: WeeklyScheduleInput!) { setWeeklySchedule(input: $i) { blocks { weekday start end } } }";
const SLOTS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!, $d: Int, $tz: TimeZone) { availableSlots(mentorId: $m, from: $from, to: $to, durationMinutes: $d, timeZone: $tz) { start end } }";

fn oracle_script() -> PathBuf {
    repo().join("tests/oracle/slots_oracle.py")
}

/// Why the oracle cannot run here, if it cannot.
async fn missing_prerequisite() -> Option<String> {
    match Command::new("python3")
        .arg(oracle_script())
        .arg("--check")
        .output()
        .await
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "the oracle cannot run ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("`python3` is not available ({e})")),
    }
}

async fn run_oracle(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(oracle_script())
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "slots_oracle.py {args:?} exited with {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} does not parse")),
        _ => default,
    }
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One weekday's blocks, in minutes from midnight, as the generator drew them (unsorted, unmerged).
fn draw_day(rng: &mut StdRng) -> Vec<(u32, u32)> {
    let count = *[0, 0, 1, 1, 1, 2, 2, 2, 3, 4].choose(rng).unwrap();
    let mut blocks: Vec<(u32, u32)> = Vec::new();
    for _ in 0..count {
        let quarter = |rng: &mut StdRng, lo: u32, hi: u32| 15 * rng.gen_range(lo / 15..=hi / 15);
        let (start, end) = match rng.gen_range(0..10) {
            // Inside the hours where zones change their offsets: 00:00-04:00, short blocks.
            0..=2 => {
                let s = quarter(rng, 0, 225);
                (s, (s + quarter(rng, 15, 180)).min(1440))
            }
            // Ending at 24:00.
            3 => (quarter(rng, 0, 1425), 1440),
            // Starting at 00:00 (touches the day before's 24:00).
            4 => (0, quarter(rng, 15, 600)),
            // Touching or overlapping a block already drawn.
            5 if !blocks.is_empty() => {
                let &(ps, pe) = blocks.choose(rng).unwrap();
                let s = if rng.gen_bool(0.5) {
                    pe.min(1425)
                } else {
                    quarter(rng, ps, pe.min(1425))
                };
                (s, (s + quarter(rng, 15, 240)).min(1440))
            }
            // Late evening, often across the night.
            6 => {
                let s = quarter(rng, 1200, 1425);
                (s, (s + quarter(rng, 15, 240)).min(1440))
            }
            // Anywhere, any length.
            _ => {
                let s = quarter(rng, 0, 1425);
                (s, (s + quarter(rng, 15, 720)).min(1440))
            }
        };
        blocks.push((start, end));
    }
    blocks
}

/// Whether the day's blocks, merged where they overlap or touch, cover the whole day (a schedule open
/// around the clock all week has no block start: its grid restarts each Monday).
fn covers_whole_day(blocks: &[(u32, u32)]) -> bool {
    let mut sorted = blocks.to_vec();
    sorted.sort();
    let mut reach = 0;
    for (s, e) in sorted {
        if s > reach {
            return false;
        }
        reach = reach.max(e);
    }
    reach == 1440
}

/// Blocks with edges in, around or across the wall-clock hours that `change` skips or repeats, on the
/// weekday it happens: where the README's gap and overlap rules apply.
fn draw_at_change(rng: &mut StdRng, change: &Change) -> Vec<(usize, (u32, u32))> {
    let local = |offset: i64| (change.at + Duration::seconds(offset)).naive_utc();
    let (first, last) = (
        local(change.before.min(change.after)),
        local(change.before.max(change.after)),
    );
    let weekday = first.weekday().num_days_from_monday() as usize;
    let lo = first.hour() * 60 + first.minute();
    let hi = if last.date() == first.date() {
        last.hour() * 60 + last.minute()
    } else {
        1440
    };
    // Quarter hours from 15 minutes before the change's hours to 15 minutes after them.
    let points: Vec<u32> = (lo.saturating_sub(15) / 15..=((hi + 15).min(1440)) / 15)
        .map(|q| q * 15)
        .collect();
    let length = |rng: &mut StdRng| 15 * rng.gen_range(1..=16);
    let mut blocks = Vec::new();
    match rng.gen_range(0..6) {
        // Both edges there (a block wholly inside the gap, or inside the overlap).
        0 => {
            let a = *points.choose(rng).unwrap();
            let b = *points.choose(rng).unwrap();
            if a != b {
                blocks.push((a.min(b), a.max(b)));
            }
        }
        // Starting there.
        1 => {
            let a = (*points.choose(rng).unwrap()).min(1425);
            blocks.push((a, (a + length(rng)).min(1440)));
        }
        // Ending there.
        2 => {
            let b = (*points.choose(rng).unwrap()).max(15);
            blocks.push((b.saturating_sub(length(rng)), b));
        }
        // Across it.
        3 => blocks.push((lo.saturating_sub(length(rng)), (hi + length(rng)).min(1440))),
        // One block ending there and another starting there: apart on the wall clock, they may meet
        // at the gap.
        _ => {
            let mut two = [*points.choose(rng).unwrap(), *points.choose(rng).unwrap()];
            two.sort();
            let [a, b] = two;
            if a > 0 && b < 1440 && a < b {
                blocks.push((a.saturating_sub(length(rng)), a));
                blocks.push((b, (b + length(rng)).min(1440)));
            }
        }
    }
    let mut blocks: Vec<(usize, (u32, u32))> = blocks.into_iter().map(|b| (weekday, b)).collect();
    // A change at midnight: the day before ends at 24:00, which is then the change's first hour.
    if lo == 0 && rng.gen_bool(0.7) {
        blocks.push(((weekday + 6) % 7, (15 * rng.gen_range(64..=95), 1440)));
    }
    blocks
}

fn draw_pattern(rng: &mut StdRng, change: Option<&Change>) -> Value {
    let mut days: Vec<Vec<(u32, u32)>> = (0..7).map(|_| draw_day(rng)).collect();
    if rng.gen_bool(0.04) {
        // Days open around the clock, one after another: an interval days long, whose grid (for a
        // step that does not divide a day, or across a change) is laid from its start days before.
        let first = rng.gen_range(0..7);
        for day in first..first + rng.gen_range(2..=7) {
            days[day % 7] = vec![(0, 1440)];
        }
    }
    if let Some(change) = change {
        let blocks = draw_at_change(rng, change);
        if rng.gen_bool(0.5) {
            for (weekday, _) in &blocks {
                days[*weekday].clear();
            }
        }
        for (weekday, block) in blocks {
            days[weekday].push(block);
        }
    }
    // Open around the clock all week, half of the times it comes up: no block start at all.
    if days.iter().all(|d| covers_whole_day(d)) && rng.gen_bool(0.5) {
        days[rng.gen_range(0..7)].clear();
    }
    let mut blocks: Vec<Value> = days
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            d.iter().map(
                move |&(s, e)| json!({"weekday": WEEKDAYS[i], "start": hhmm(s), "end": hhmm(e)}),
            )
        })
        .collect();
    blocks.shuffle(rng);
    Value::Array(blocks)
}

/// A window of at most 90 days, mostly short and around `change` (the mentor zone's) or another zone's.
fn draw_window(
    rng: &mut StdRng,
    change: Option<&Change>,
    anywhere: &[Change],
) -> (DateTime<Utc>, DateTime<Utc>) {
    let year_start: DateTime<Utc> = "2027-01-01T00:00:00Z".parse().unwrap();
    let length = match rng.gen_range(0..20) {
        0..=4 => Duration::hours(rng.gen_range(2..=30)),
        5..=10 => Duration::days(rng.gen_range(1..=4)),
        11..=14 => Duration::days(rng.gen_range(5..=14)),
        15..=17 => Duration::days(rng.gen_range(15..=89)),
        _ => Duration::days(90),
    };
    let now: DateTime<Utc> = NOW.parse().unwrap();
    let around = match rng.gen_range(0..40) {
        0..=27 if change.is_some() => change.map(|c| c.at),
        0..=35 => anywhere.choose(rng).map(|c| c.at),
        // The first instant slots may start at, or the last.
        36 => Some(now),
        37 => Some(now + Duration::days(HORIZON_DAYS)),
        _ => None,
    };
    let from = match around {
        // The change somewhere inside the window, or just outside it.
        Some(at) => {
            let before = rng.gen_range(-60..=length.num_minutes() + 60);
            at - Duration::minutes(before)
        }
        None => {
            // Some windows start before "now", some reach past the horizon.
            year_start - Duration::days(14) + Duration::minutes(rng.gen_range(0..=379 * 24 * 60))
        }
    };
    // Mostly on the quarter hour, sometimes on any minute or second.
    let from = match rng.gen_range(0..10) {
        0..=5 => from.duration_trunc(Duration::minutes(15)).unwrap(),
        6..=7 => from.duration_trunc(Duration::minutes(1)).unwrap(),
        8 => from.duration_trunc(Duration::hours(1)).unwrap(),
        _ => from + Duration::seconds(rng.gen_range(0..60)),
    };
    let to = from + length;
    let to = if rng.gen_bool(0.3) && length > Duration::hours(2) {
        to - Duration::minutes(rng.gen_range(1..60))
    } else {
        to
    };
    (from, to)
}

fn draw_duration(rng: &mut StdRng) -> i64 {
    if rng.gen_bool(0.85) {
        *DURATIONS.choose(rng).unwrap()
    } else {
        rng.gen_range(15..=240)
    }
}

fn draw_cases(seed: u64, count: usize, changes: &BTreeMap<String, Vec<Change>>) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let every_zone: Vec<&str> = CHANGING.iter().chain(FIXED).copied().collect();
    let all_changes: Vec<Change> = changes.values().flatten().copied().collect();
    (0..count)
        .map(|id| {
            let zone = if rng.gen_bool(0.85) {
                *CHANGING.choose(&mut rng).unwrap()
            } else {
                *FIXED.choose(&mut rng).unwrap()
            };
            let viewer = *every_zone.choose(&mut rng).unwrap();
            // One of the zone's changes: the window is mostly around it, and half the time the
            // pattern has blocks at its hours on purpose.
            let change = changes[zone].choose(&mut rng);
            let targeted = change.filter(|_| rng.gen_bool(0.5));
            let blocks = draw_pattern(&mut rng, targeted);
            let (from, to) = draw_window(&mut rng, change, &all_changes);
            json!({
                "id": id,
                "zone": zone,
                "blocks": blocks,
                "from": utc(from),
                "to": utc(to),
                "durationMinutes": draw_duration(&mut rng),
                "timeZone": viewer,
                "now": NOW,
                "bufferMinutes": 0,
                "minimumNoticeMinutes": 0,
                "horizonDays": HORIZON_DAYS,
            })
        })
        .collect()
}

/// A change of a zone's UTC offset (seconds east of UTC before and after), from the oracle.
#[derive(Clone, Copy, Debug)]
struct Change {
    at: DateTime<Utc>,
    before: i64,
    after: i64,
}

/// What the API answered for one case: the stored weekly pattern and the slots.
#[derive(Clone, Default)]
struct Answer {
    blocks: Vec<Value>,
    slots: Vec<(String, String)>,
}

async fn ask(app: &TestApp, mentor: &str, token: &str, case: &Value) -> Answer {
    let input = json!({
        "timeZone": case["zone"],
        "blocks": case["blocks"],
        "bufferMinutes": case["bufferMinutes"],
        "minimumNoticeMinutes": case["minimumNoticeMinutes"],
        "horizonDays": case["horizonDays"],
    });
    let stored = app.ok(token, SCHEDULE, json!({"i": input})).await;
    let blocks = stored["setWeeklySchedule"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!([b["weekday"], b["start"], b["end"]]))
        .collect();
    let vars = json!({"m": mentor, "from": case["from"], "to": case["to"], "d": case["durationMinutes"], "tz": case["timeZone"]});
    let body = app.gql(Some(token), SLOTS, vars).await;
    assert!(
        body.get("errors").is_none(),
        "case {} refused: {body}\n{}",
        case["id"],
        serde_json::to_string_pretty(case).unwrap()
    );
    let slots = body["data"]["availableSlots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().to_string(),
                s["end"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Answer { blocks, slots }
}

fn listing(slots: &[(String, String)]) -> String {
    const SHOWN: usize = 300;
    let mut out: Vec<String> = slots
        .iter()
        .take(SHOWN)
        .map(|(s, e)| format!("  {s} .. {e}"))
        .collect();
    if slots.len() > SHOWN {
        out.push(format!(
            "  ... and {} more (all in the kept files)",
            slots.len() - SHOWN
        ));
    }
    if out.is_empty() {
        out.push("  (none)".into());
    }
    out.join("\n")
}

fn report(case: &Value, got: &Answer, want: &Answer) -> String {
    let g: BTreeSet<_> = got.slots.iter().cloned().collect();
    let w: BTreeSet<_> = want.slots.iter().cloned().collect();
    let only_api: Vec<_> = g.difference(&w).cloned().collect();
    let only_oracle: Vec<_> = w.difference(&g).cloned().collect();
    let mut out = format!(
        "case {id}: mentor zone {zone}, viewer {viewer}, window {from} .. {to}, {d} minutes\n\
         --- the case\n{case}\n",
        id = case["id"],
        zone = case["zone"],
        viewer = case["timeZone"],
        from = case["from"],
        to = case["to"],
        d = case["durationMinutes"],
        case = serde_json::to_string_pretty(case).unwrap(),
    );
    if got.blocks != want.blocks {
        out += &format!(
            "--- stored weekly pattern differs\n  API:    {}\n  oracle: {}\n",
            Value::Array(got.blocks.clone()),
            Value::Array(want.blocks.clone())
        );
    }
    out += &format!(
        "--- only from the API ({})\n{}\n--- only from the oracle ({})\n{}\n",
        only_api.len(),
        listing(&only_api),
        only_oracle.len(),
        listing(&only_oracle)
    );
    if only_api.is_empty() && only_oracle.is_empty() {
        out += "--- the same slots, in another order\n";
    }
    out += &format!(
        "--- the API's slots ({})\n{}\n--- the oracle's slots ({})\n{}\n",
        got.slots.len(),
        listing(&got.slots),
        want.slots.len(),
        listing(&want.slots)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_match_an_independent_oracle_in_hard_zones() {
    const NAME: &str = "time_differential::slots_match_an_independent_oracle_in_hard_zones";
    if !may_run(NAME, "REQUIRE_ORACLE", missing_prerequisite().await) {
        return;
    }
    let started = Instant::now();
    let seed: u64 = env_or("TIME_DIFF_SEED", DEFAULT_SEED);
    let count: usize = env_or("TIME_DIFF_CASES", DEFAULT_CASES);
    let only: Option<u64> = std::env::var("TIME_DIFF_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());

    // Every offset change of 2027 (and the last days of 2026), from the oracle's zone database.
    let every_zone: Vec<&str> = CHANGING.iter().chain(FIXED).copied().collect();
    let mut args = vec![
        "--transitions",
        "2026-12-18T00:00:00Z",
        "2028-01-01T00:00:00Z",
    ];
    args.extend(&every_zone);
    let table: Value = serde_json::from_str(&run_oracle(&args).await).unwrap();
    let changes: BTreeMap<String, Vec<Change>> = every_zone
        .iter()
        .map(|z| {
            let list = table[*z]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| Change {
                    at: c["at"].as_str().unwrap().parse().unwrap(),
                    before: c["before"].as_i64().unwrap(),
                    after: c["after"].as_i64().unwrap(),
                })
                .collect();
            (z.to_string(), list)
        })
        .collect();
    for z in CHANGING {
        assert!(!changes[*z].is_empty(), "{z} has no offset change in 2027");
    }

    let mut cases = draw_cases(seed, count, &changes);
    if let Some(id) = only {
        cases.retain(|c| c["id"] == id);
    }

    // The API, with `MENTORS` mentors working through their shares of the cases at once.
    // Thousands of requests as one mentor: the caller's rate limit is off (it is not what is tested).
    let app = Arc::new(
        TestApp::spawn_with(Backend::Sqlite, &[("RATE_LIMIT_PER_SECOND", "0")])
            .await
            .unwrap(),
    );
    app.clock.set(NOW.parse().unwrap());
    let cases = Arc::new(cases);
    let mut tasks = Vec::new();
    for m in 0..MENTORS {
        let (app, cases) = (app.clone(), cases.clone());
        tasks.push(tokio::spawn(async move {
            let mentor = format!("cktimediffmentor{m:09}");
            let token = app.user(&mentor, Role::Mentor, "UTC").await;
            let mut answers = Vec::new();
            for (i, case) in cases.iter().enumerate().skip(m).step_by(MENTORS) {
                answers.push((i, ask(&app, &mentor, &token, case).await));
            }
            answers
        }));
    }
    let mut got = vec![Answer::default(); cases.len()];
    for task in tasks {
        for (i, answer) in task.await.unwrap() {
            got[i] = answer;
        }
    }
    let api_time = started.elapsed();

    // The oracle, on the same cases.
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    let expected_file = dir.path().join("expected.json");
    std::fs::write(&cases_file, serde_json::to_vec(&*cases).unwrap()).unwrap();
    let oracle_started = Instant::now();
    run_oracle(&[
        cases_file.to_str().unwrap(),
        expected_file.to_str().unwrap(),
    ])
    .await;
    let oracle_time = oracle_started.elapsed();
    let expected: Value = serde_json::from_slice(&std::fs::read(&expected_file).unwrap()).unwrap();
    let want: Vec<Answer> = expected["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Answer {
            blocks: r["blocks"].as_array().unwrap().clone(),
            slots: r["slots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s[0].as_str().unwrap().to_string(),
                        s[1].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
        })
        .collect();
    assert_eq!(want.len(), cases.len(), "the oracle answered every case");

    // What the run covered.
    let mut covered: BTreeMap<(String, DateTime<Utc>), usize> = BTreeMap::new();
    for case in cases.iter() {
        let zone = case["zone"].as_str().unwrap();
        let from: DateTime<Utc> = case["from"].as_str().unwrap().parse().unwrap();
        let to: DateTime<Utc> = case["to"].as_str().unwrap().parse().unwrap();
        for &Change { at, .. } in &changes[zone] {
            if from <= at && at < to {
                *covered.entry((zone.to_string(), at)).or_default() += 1;
            }
        }
    }
    let all_changes: usize = CHANGING.iter().map(|z| changes[*z].len()).sum();
    let met = |key: &str| -> (u64, usize) {
        let counts = expected["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["stats"][key].as_u64().unwrap());
        (counts.clone().sum(), counts.filter(|&n| n > 0).count())
    };
    let met = [
        "edgesInGap",
        "edgesInOverlap",
        "emptyBlocks",
        "joinedBlocks",
        "joinedAtGap",
        "slotsAtNow",
        "slotsAtHorizon",
    ]
    .map(|key| {
        let (n, in_cases) = met(key);
        format!("{key} {n} ({in_cases} cases)")
    })
    .join(", ");
    let slots: usize = want.iter().map(|a| a.slots.len()).sum();
    let summary = format!(
        "{NAME}: seed {seed}, {} cases, {slots} slots, {}/{all_changes} offset changes of 2027 inside a window \
         (fewest cases on one: {}); met in windows: {met}; API {:.1?}, oracle {:.1?} (tzdata {})",
        cases.len(),
        covered.len(),
        covered.values().min().copied().unwrap_or(0),
        api_time,
        oracle_time,
        expected["tzdata"].as_str().unwrap_or("?"),
    );

    let differing: Vec<usize> = (0..cases.len())
        .filter(|&i| got[i].slots != want[i].slots || got[i].blocks != want[i].blocks)
        .collect();
    if let Some(&first) = differing.first() {
        // The run's cases (for the oracle to be run on by hand), and the differing ones with both answers.
        let kept = std::env::temp_dir().join(format!("time_differential-{seed}-cases.json"));
        let kept_differing =
            std::env::temp_dir().join(format!("time_differential-{seed}-differing.json"));
        let dump: Vec<Value> = differing
            .iter()
            .map(|&i| json!({"case": cases[i], "api": got[i].slots, "oracle": want[i].slots}))
            .collect();
        std::fs::write(&kept, serde_json::to_vec(&*cases).unwrap()).unwrap();
        std::fs::write(&kept_differing, serde_json::to_vec_pretty(&dump).unwrap()).unwrap();
        // The smallest differing case: fewest blocks, then shortest window.
        let size = |i: usize| {
            let c = &cases[i];
            let from: DateTime<Utc> = c["from"].as_str().unwrap().parse().unwrap();
            let to: DateTime<Utc> = c["to"].as_str().unwrap().parse().unwrap();
            (c["blocks"].as_array().unwrap().len(), to - from)
        };
        let smallest = *differing.iter().min_by_key(|&&i| size(i)).unwrap();
        let ids: Vec<u64> = differing
            .iter()
            .map(|&i| cases[i]["id"].as_u64().unwrap())
            .collect();
        let mut message = format!(
            "{} of {} cases differ from the oracle, ids {:?}{}\n{summary}\n\
             kept: {} (the differing cases with both answers); the oracle on every case: \
             python3 tests/oracle/slots_oracle.py {} expected.json\n\n=== the first\n{}",
            differing.len(),
            cases.len(),
            &ids[..ids.len().min(40)],
            if differing.len() > 40 { " ..." } else { "" },
            kept_differing.display(),
            kept.display(),
            report(&cases[first], &got[first], &want[first]),
        );
        if smallest != first {
            message += &format!(
                "\n=== the smallest\n{}",
                report(&cases[smallest], &got[smallest], &want[smallest])
            );
        }
        message += &format!(
            "\nTo repeat one case: TIME_DIFF_SEED={seed} TIME_DIFF_CASES={} TIME_DIFF_ONLY=<id> cargo test --test api time_differential -- --nocapture",
            count
        );
        panic!("{message}");
    }
    // Shown with --nocapture.
    println!("{summary}");
}
