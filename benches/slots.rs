//! The slot engine on a busy mentor: 4 weeks, 3 blocks a day, 500 busy intervals.
//! Run: `cargo bench --bench slots`. Target: under 100 microseconds per call.

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use mentor_scheduler::domain::interval::Interval;
use mentor_scheduler::domain::settings::BookingRules;
use mentor_scheduler::domain::slots::{
    available_slots, blocked_time, slots_outside, DailyIntervals, Schedule, SlotQuery,
};
use mentor_scheduler::domain::time::WEEKDAYS;
use mentor_scheduler::domain::weekly::{DateOverrides, TimeRange, WeeklyPattern};

fn busy_mentor() -> (Schedule, Vec<Interval>, SlotQuery, DateTime<Utc>) {
    let range =
        |s: &str, e: &str| TimeRange::new(s.parse().unwrap(), e.parse().unwrap(), "bench").unwrap();
    let days = WEEKDAYS;
    let blocks = days.iter().flat_map(|d| {
        [
            (*d, range("08:00", "11:00")),
            (*d, range("12:00", "15:00")),
            (*d, range("16:00", "20:00")),
        ]
    });
    let schedule = Schedule {
        zone: "America/New_York".parse().unwrap(),
        weekly: WeeklyPattern::from_blocks(blocks),
        overrides: DateOverrides::new(),
        rules: BookingRules::new(15, 120, 60, "").unwrap(),
    };
    let now: DateTime<Utc> = "2026-10-20T00:00:00Z".parse().unwrap();
    // 500 busy intervals of 15 to 90 minutes at pseudo-random starts over the 4 weeks (which cross a
    // DST change), in no particular order.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let busy = (0..500).map(|_| {
        let start = now + Duration::minutes(next(28 * 24 * 4) as i64 * 15);
        Interval::new(start, start + Duration::minutes(15 * (1 + next(6) as i64)))
    });
    let query = SlotQuery::new(now, now + Duration::days(28), 60).unwrap();
    (schedule, busy.collect(), query, now)
}

fn bench(c: &mut Criterion) {
    let (schedule, busy, query, now) = busy_mentor();
    let found = available_slots(&schedule, &busy, &query, now).len();
    assert!(
        found > 20,
        "the benchmark should produce slots, got {found}"
    );
    c.bench_function("available_slots/4 weeks, 3 blocks a day, 500 busy", |b| {
        b.iter(|| {
            available_slots(
                black_box(&schedule),
                black_box(&busy),
                black_box(&query),
                black_box(now),
            )
        })
    });
    // What a cached query does: days resolved and busy time widened once, at load.
    let days = DailyIntervals::new(
        &schedule,
        (now - Duration::days(3)).date_naive(),
        (now + Duration::days(66)).date_naive(),
    );
    let blocked = blocked_time(&busy, schedule.rules.buffer());
    assert_eq!(
        slots_outside(&schedule, Some(&days), &blocked, &query, now),
        available_slots(&schedule, &busy, &query, now)
    );
    c.bench_function("slots_outside/the same, from the slot cache", |b| {
        b.iter(|| {
            slots_outside(
                black_box(&schedule),
                black_box(Some(&days)),
                black_box(&blocked),
                black_box(&query),
                black_box(now),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
