#!/usr/bin/env python3
"""An independent oracle for `availableSlots`, written from the README's "Time rules" only.

Used by tests/api/time_differential.rs, which generates the cases, asks the API, runs this script on
the same cases and compares. It shares nothing with the engine (src/domain/slots.rs, wallclock.rs): its
zone data is the `tzdata` PyPI package pinned in requirements.txt (the IANA release that the service's
chrono-tz embeds), read through Python's `zoneinfo` with the system's /usr/share/zoneinfo switched off,
and its rules are the README's sentences, quoted where each is applied.

    slots_oracle.py --check                      # exit 0 and print the IANA version, or exit 3 and say why
    slots_oracle.py --transitions FROM TO ZONE…  # JSON: every UTC-offset change of each zone in [FROM, TO)
    slots_oracle.py CASES.json EXPECTED.json     # the slots of each case

A case: {"id", "zone", "blocks": [{"weekday", "start", "end"}], "from", "to", "durationMinutes",
"timeZone" (the viewer's), "now", "bufferMinutes", "minimumNoticeMinutes", "horizonDays"}. The mentor has
no busy time, sessions or date overrides. A result: {"id", "blocks": [[weekday, start, end]] (the weekly
pattern as setWeeklySchedule stores it), "slots": [[start, end]] (RFC 3339, the viewer's offset), "stats"
(what the window met: block edges in a gap or an overlap, blocks a gap emptied, blocks joined, slots at
`now + notice` and at `now + horizon`)}.
"""

import bisect
import json
import sys
from datetime import date, datetime, timedelta, timezone

PINNED_IANA_VERSION = "2025b"

WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
DAY = 86400
EPOCH = date(1970, 1, 1)

# The span whose offset changes are tabled; every instant the oracle looks at must lie inside it.
SCAN_FROM = int(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp())
SCAN_TO = int(datetime(2028, 6, 1, tzinfo=timezone.utc).timestamp())
# Sampled every 3 hours, each change then found to the second: no zone changes its offset twice within
# 3 hours.
SCAN_STEP = 3 * 3600


def load_zoneinfo():
    """`zoneinfo` reading only the pinned `tzdata` package, or exit 3 saying what is missing."""
    try:
        import tzdata  # noqa: F401
    except ImportError:
        print("the tzdata package is not installed (pip install -r tests/oracle/requirements.txt)", file=sys.stderr)
        sys.exit(3)
    version = getattr(tzdata, "IANA_VERSION", "?")
    if version != PINNED_IANA_VERSION:
        print(f"tzdata has IANA {version}, the oracle needs {PINNED_IANA_VERSION} (tzdata==2025.2)", file=sys.stderr)
        sys.exit(3)
    import zoneinfo

    # No TZPATH: zones come from the tzdata package, never from the system's /usr/share/zoneinfo.
    zoneinfo.reset_tzpath([])
    return zoneinfo, version


ZONEINFO, IANA_VERSION = load_zoneinfo()


class Zone:
    """A zone as its table of UTC-offset changes over [SCAN_FROM, SCAN_TO), read from zoneinfo."""

    def __init__(self, name):
        self.name = name
        tz = ZONEINFO.ZoneInfo(name)

        def offset(t):
            return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())

        self.times = []  # instants of the changes
        self.offsets = [offset(SCAN_FROM)]  # offsets[i] is in force from times[i-1] to times[i]
        t = SCAN_FROM
        while t + SCAN_STEP <= SCAN_TO:
            before, after = offset(t), offset(t + SCAN_STEP)
            if before != after:
                lo, hi = t, t + SCAN_STEP  # offset(lo) == before, offset(hi) == after
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if offset(mid) == before:
                        lo = mid
                    else:
                        hi = mid
                self.times.append(hi)
                self.offsets.append(after)
            t += SCAN_STEP
        self.distinct = sorted(set(self.offsets))

    def offset_at(self, t):
        assert SCAN_FROM <= t < SCAN_TO, f"{self.name}: {t} is outside the tabled span"
        return self.offsets[bisect.bisect_right(self.times, t)]

    def transitions(self):
        return [(t, self.offsets[i], self.offsets[i + 1]) for i, t in enumerate(self.times)]

    def instant(self, local):
        """The instant of a block edge at wall-clock `local` (seconds since 1970-01-01T00:00, no zone),
        and how it was found: "once", "twice" (a fall-back overlap) or "gap"."""
        # A wall-clock time L occurs at t when t + offset(t) == L.
        occurrences = [local - o for o in self.distinct if self.offset_at(local - o) == o]
        if occurrences:
            # README: "a wall-clock time that occurs twice means its first occurrence, for session times
            # and block edges alike".
            return min(occurrences), ("once" if len(occurrences) == 1 else "twice")
        # README: "the times in the gap do not exist that night, so a block edge inside the gap stands
        # at the gap itself (the instant of the change)".
        gaps = [t for t, before, after in self.transitions() if t + before <= local < t + after]
        assert len(gaps) == 1, f"{self.name}: {fmt_local(local)} neither exists nor lies in one gap"
        return gaps[0], "gap"


ZONES = {}


def zone(name):
    if name not in ZONES:
        ZONES[name] = Zone(name)
    return ZONES[name]


def parse_instant(s):
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert t.tzinfo is not None, s
    return int(t.timestamp())


def fmt_local(local):
    return (datetime(1970, 1, 1) + timedelta(seconds=local)).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(t, viewer):
    """As the API writes a slot: the viewer's wall clock, seconds shown, then the offset (+00:00 for UTC)."""
    off = viewer.offset_at(t)
    sign = "+" if off >= 0 else "-"
    hours, rest = divmod(abs(off), 3600)
    assert rest % 60 == 0, f"{viewer.name}: an offset with seconds"
    return f"{fmt_local(t + off)}{sign}{hours:02}:{rest // 60:02}"


def minutes(hhmm):
    h, m = hhmm.split(":")
    value = int(h) * 60 + int(m)
    assert len(h) == 2 and len(m) == 2 and 0 <= value <= 1440, hhmm
    return value


def hhmm(value):
    return f"{value // 60:02}:{value % 60:02}"


def weekly_pattern(blocks):
    """The weekly pattern as setWeeklySchedule stores it.

    schema.graphql, Availability.blocks: "Sorted by weekday, then start; overlapping or touching blocks
    are merged." (README: 09:00-12:00 and 11:00-13:00 on one Monday -> "one merged block, 09:00-13:00".)
    Blocks are merged within their own weekday only: a block ends at 24:00 at the latest.
    """
    days = {d: [] for d in WEEKDAYS}
    for b in blocks:
        start, end = minutes(b["start"]), minutes(b["end"])
        assert start < end, b  # "Exclusive, after `start`"
        days[b["weekday"]].append([start, end])
    pattern = {}
    for d in WEEKDAYS:
        merged = []
        for start, end in sorted(days[d]):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pattern[d] = merged
    return pattern


def grid_step(duration):
    """README: "a step of the largest of 60/30/15 minutes dividing the duration (else the duration)"."""
    for step in (60, 30, 15):
        if duration % step == 0:
            return step
    return duration


def solve(case):
    # No busy time and no sessions: the buffer ("busy time widened by the buffer") widens nothing.
    mentor = zone(case["zone"])
    viewer = zone(case["timeZone"])
    pattern = weekly_pattern(case["blocks"])
    start_of_window, end_of_window = parse_instant(case["from"]), parse_instant(case["to"])
    now = parse_instant(case["now"])
    duration = case["durationMinutes"] * 60
    step = grid_step(case["durationMinutes"]) * 60
    earliest = now + case["minimumNoticeMinutes"] * 60
    latest = now + case["horizonDays"] * DAY

    # Every local date whose blocks can reach the window, and a week and more before it: a grid starts at
    # the start of the merged interval, which may lie days before `from`.
    lookback = 30
    first = datetime.fromtimestamp(start_of_window, timezone.utc).date() - timedelta(days=lookback)
    last = datetime.fromtimestamp(end_of_window, timezone.utc).date() + timedelta(days=2)

    # README: "schedules are wall-clock times plus an IANA zone, so a 09:00-12:00 block stays 09:00-12:00
    # local on both sides of a DST change": each date's blocks, edge by edge, in the mentor's zone.
    intervals = []
    # What the window met: block edges in a gap or an overlap, blocks emptied by a gap, blocks joined.
    stats = {"edgesInGap": 0, "edgesInOverlap": 0, "emptyBlocks": 0, "joinedBlocks": 0, "joinedAtGap": 0,
             "slotsAtNow": 0, "slotsAtHorizon": 0}
    gap_instants = set()
    d = first
    while d <= last:
        midnight = (d - EPOCH).days * DAY
        for start, end in pattern[WEEKDAYS[d.weekday()]]:
            # schema.graphql: "`24:00` is the end of the day", i.e. the next day's 00:00.
            s, how_s = mentor.instant(midnight + start * 60)
            e, how_e = mentor.instant(midnight + end * 60)
            gap_instants.update(t for t, how in ((s, how_s), (e, how_e)) if how == "gap")
            if start_of_window <= e and s <= end_of_window:
                for how in (how_s, how_e):
                    stats["edgesInGap"] += how == "gap"
                    stats["edgesInOverlap"] += how == "twice"
                stats["emptyBlocks"] += e <= s
            # README: "A block wholly inside the gap is empty that night".
            if e > s:
                intervals.append([s, e])
        d += timedelta(days=1)

    # README: "blocks are merged (and their slot grids laid) only after this" and "Blocks that touch
    # across midnight form one interval": merge the instants where they overlap or touch.
    intervals.sort()
    merged = []
    for s, e in intervals:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            stats["joinedBlocks"] += start_of_window <= s <= end_of_window
            stats["joinedAtGap"] += start_of_window <= s <= end_of_window and s in gap_instants
        else:
            merged.append([s, e])
    # README: "Slots lie on a grid that starts at each availability block's start, with a step of the
    # largest of 60/30/15 minutes dividing the duration (else the duration), at or after
    # `now + minimumNotice`, starting no later than `now + horizon`, fully inside `[from, to)`", and
    # "an interval that has run for a week or more restarts its grid at 00:00 on each Monday in the
    # mentor's zone". An interval reaching back to the first date read may have begun earlier still:
    # its start is unknown, and (the first date being weeks before the window) every Monday in it
    # restarts its grid.
    first_midnight = (first - EPOCH).days * DAY
    week = 7 * DAY
    slots = []
    for s, e in merged:
        known = s > first_midnight
        origins = [s] if known else []
        d = datetime.fromtimestamp(s, timezone.utc).date() - timedelta(days=2)
        while (d - EPOCH).days * DAY <= e + DAY:
            if d.weekday() == 0:
                monday, _ = mentor.instant((d - EPOCH).days * DAY)
                if s < monday < e and (not known or monday - s >= week):
                    origins.append(monday)
            d += timedelta(days=1)
        origins = sorted(set(origins))
        for k, origin in enumerate(origins):
            until = origins[k + 1] if k + 1 < len(origins) else e
            t = origin
            while t < until and t + duration <= e:
                if t >= start_of_window and t + duration <= end_of_window and t >= earliest and t <= latest:
                    slots.append([rfc3339(t, viewer), rfc3339(t + duration, viewer)])
                    stats["slotsAtNow"] += t == earliest
                    stats["slotsAtHorizon"] += t == latest
                t += step
    return {
        "id": case["id"],
        "blocks": [[d, hhmm(s), hhmm(e)] for d in WEEKDAYS for s, e in pattern[d]],
        "slots": slots,
        "stats": stats,
    }


def main(argv):
    if argv[1:] == ["--check"]:
        print(f"tzdata {IANA_VERSION}")
        return 0
    if len(argv) >= 4 and argv[1] == "--transitions":
        lo, hi = parse_instant(argv[2]), parse_instant(argv[3])
        out = {}
        for name in argv[4:]:
            out[name] = [
                {"at": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "before": b, "after": a}
                for t, b, a in zone(name).transitions()
                if lo <= t < hi
            ]
        json.dump(out, sys.stdout)
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        cases = json.load(f)
    results = [solve(case) for case in cases]
    with open(argv[2], "w") as f:
        json.dump({"tzdata": IANA_VERSION, "results": results}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
