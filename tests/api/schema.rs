/// `schema.graphql` must be what the code generates. Regenerate with
/// `cargo run -- schema > schema.graphql`.
#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists");
    let generated = mentor_scheduler::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

/// The operations the dashboard relies on (shared/design/api-contract.graphql) keep their names.
#[test]
fn contract_operations_exist() {
    let sdl = mentor_scheduler::graphql::sdl();
    for op in [
        "me: User!",
        "availability(mentorId: ID!): Availability!",
        "availableSlots(mentorId: ID!, from: DateTime!, to: DateTime!, durationMinutes: Int = 60, timeZone: TimeZone): [Slot!]!",
        "setWeeklySchedule(input: WeeklyScheduleInput!): Availability!",
        "addAvailabilityBlock(input: AvailabilityBlockInput!): Availability!",
        "updateAvailabilityBlock(id: ID!, input: AvailabilityBlockInput!): Availability!",
        "deleteAvailabilityBlock(id: ID!): Availability!",
        "copyAvailabilityDay(from: Weekday!, to: [Weekday!]!): Availability!",
        "setDateOverride(date: Date!, blocks: [TimeRangeInput!]!): Availability!",
        "clearDateOverride(date: Date!): Availability!",
        "saveAvailabilityTemplate(name: String!): AvailabilityTemplate!",
        "applyAvailabilityTemplate(id: ID!): Availability!",
    ] {
        assert!(sdl.contains(op), "missing from the schema: {op}");
    }
}
