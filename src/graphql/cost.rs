//! What a query may cost before it runs.
//!
//! Every field costs 1 plus its selections (async-graphql's complexity). A list costs its bound times
//! one item: pages their size, a booking's sessions their `first`, `availableSlots` the most slots its
//! window can hold, a mentor's blocks and overrides the most a schedule may hold. Introspection lists,
//! which async-graphql counts once, are weighed here by how many types, fields and arguments the
//! schema really has, so nesting them (`types { fields { type { fields ... } } }`) or aliasing them is
//! paid for. The sum over every operation of one HTTP request (a batch shares one budget), or of one
//! subscription, must stay within `GRAPHQL_MAX_COMPLEXITY`: a query over it is refused before any of
//! it runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet,
};
use async_graphql::{Positioned, ServerError};

use super::scalars::DateTime;
use crate::domain::notification::{Channel, NotificationKind};
use crate::domain::slots::{grid_step, MAX_WINDOW_DAYS};
use crate::domain::weekly::{
    MAX_OVERRIDE_DAYS_AHEAD, MAX_OVERRIDE_RANGES, MAX_TEMPLATES, MAX_WEEK_BLOCKS,
};
use crate::service::page::MAX_PAGE;

/// A booking lists at most this many sessions at once (`Booking.sessions(first:)`).
pub const MAX_BOOKING_SESSIONS: i32 = 500;
/// `Booking.sessions` without `first`: every session of a year of thrice-weekly sessions.
pub const DEFAULT_BOOKING_SESSIONS: i32 = 200;

/// A page of `first` (its declared default when omitted), `child` each.
pub fn page(first: Option<i32>, child: usize) -> usize {
    bounded(first, MAX_PAGE).saturating_mul(child)
}

/// A booking's sessions: `first` of them at most.
pub fn booking_sessions(first: Option<i32>, child: usize) -> usize {
    bounded(first, MAX_BOOKING_SESSIONS).saturating_mul(child)
}

fn bounded(first: Option<i32>, max: i32) -> usize {
    first.unwrap_or(max).clamp(0, max) as usize
}

/// The most slots `[from, to)` can hold for `duration_minutes`: one per grid step (windows and
/// durations out of range are refused when the field runs; they are costed at their limits here).
pub fn slots(from: &DateTime, to: &DateTime, duration_minutes: Option<i32>, child: usize) -> usize {
    let window = (to.utc() - from.utc())
        .num_minutes()
        .clamp(0, MAX_WINDOW_DAYS * 24 * 60);
    let duration = chrono::Duration::minutes(i64::from(duration_minutes.unwrap_or(60).max(1)));
    let step = grid_step(duration).num_minutes().max(1);
    let count = (window / step + 1) as usize;
    count.saturating_mul(child.max(1))
}

/// The lists of a mentor's schedule, at the most a schedule may hold.
pub fn week_blocks(child: usize) -> usize {
    MAX_WEEK_BLOCKS.saturating_mul(child)
}
pub fn overrides(child: usize) -> usize {
    (MAX_OVERRIDE_DAYS_AHEAD as usize + 1).saturating_mul(child)
}
pub fn override_ranges(child: usize) -> usize {
    MAX_OVERRIDE_RANGES.saturating_mul(child)
}
pub fn templates(child: usize) -> usize {
    MAX_TEMPLATES.saturating_mul(child)
}

/// Every notification type on every channel.
pub fn preferences(child: usize) -> usize {
    (NotificationKind::ALL.len() * Channel::ALL.len()).saturating_mul(child)
}

/// The size of the schema, for weighing introspection: its types, and per type (or per field) the
/// average length of each introspection list. A test keeps these at or above the real schema's.
pub mod schema_size {
    pub const TYPES: usize = 120;
    pub const FIELDS_PER_TYPE: usize = 6;
    pub const ARGS_PER_FIELD: usize = 1;
    pub const INPUT_FIELDS_PER_TYPE: usize = 2;
    pub const ENUM_VALUES_PER_TYPE: usize = 4;
    pub const INTERFACES_PER_TYPE: usize = 1;
    pub const POSSIBLE_TYPES_PER_TYPE: usize = 1;
    pub const DIRECTIVES: usize = 10;
}

/// How many items an introspection list field holds (1 for a field that is not a list).
fn introspection_items(field: &str) -> usize {
    use schema_size::*;
    match field {
        "types" => TYPES,
        "fields" => FIELDS_PER_TYPE,
        "args" => ARGS_PER_FIELD,
        "inputFields" => INPUT_FIELDS_PER_TYPE,
        "enumValues" => ENUM_VALUES_PER_TYPE,
        "interfaces" => INTERFACES_PER_TYPE,
        "possibleTypes" => POSSIBLE_TYPES_PER_TYPE,
        "directives" => DIRECTIVES,
        _ => 1,
    }
}

/// The cost of the introspection parts (`__schema`, `__type`) of every operation in `doc`. Fragment
/// spreads are followed (each at most `MAX_SPREAD_DEPTH` deep; cycles are refused by validation).
pub fn introspection(doc: &ExecutableDocument) -> usize {
    let walker = Walker { doc };
    match &doc.operations {
        DocumentOperations::Single(op) => walker.set(&op.node.selection_set, false, 0),
        DocumentOperations::Multiple(ops) => ops
            .values()
            .map(|op| walker.set(&op.node.selection_set, false, 0))
            .fold(0, usize::saturating_add),
    }
}

/// Fragment spreads followed inside one another before the walk stops counting (validation refuses
/// cycles; this only keeps a hostile document from recursing without end before it does).
const MAX_SPREAD_DEPTH: usize = 32;

struct Walker<'a> {
    doc: &'a ExecutableDocument,
}

impl Walker<'_> {
    fn set(&self, set: &Positioned<SelectionSet>, inside: bool, spreads: usize) -> usize {
        set.node
            .items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => self.field(field, inside, spreads),
                Selection::InlineFragment(fragment) => {
                    self.set(&fragment.node.selection_set, inside, spreads)
                }
                Selection::FragmentSpread(spread) if spreads < MAX_SPREAD_DEPTH => self
                    .doc
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or(0, |f| self.set(&f.node.selection_set, inside, spreads + 1)),
                Selection::FragmentSpread(_) => 0,
            })
            .fold(0, usize::saturating_add)
    }

    fn field(&self, field: &Positioned<Field>, inside: bool, spreads: usize) -> usize {
        let name = field.node.name.node.as_str();
        let entering = name == "__schema" || name == "__type";
        let inside = inside || entering;
        let children = self.set(&field.node.selection_set, inside, spreads);
        if !inside {
            return children;
        }
        introspection_items(name).saturating_mul(children.saturating_add(1))
    }
}

/// The budget of one HTTP request, shared by the operations of a batch.
#[derive(Clone)]
pub struct Budget {
    left: Arc<AtomicUsize>,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            left: Arc::new(AtomicUsize::new(limit)),
        }
    }

    /// Takes `cost` from what is left, or leaves it untouched when there is not enough.
    fn charge(&self, cost: usize) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(cost)
            })
            .is_ok()
    }
}

/// Charges an operation's `cost` (async-graphql's complexity plus [`introspection`]) to the request's
/// budget; without one (a subscription) the operation gets `max` of its own.
pub fn charge(cost: usize, budget: Option<&Budget>, max: usize) -> Result<(), ServerError> {
    let charged = match budget {
        Some(budget) => budget.charge(cost),
        None => cost <= max,
    };
    if charged {
        Ok(())
    } else {
        Err(too_costly(cost, max))
    }
}

fn too_costly(cost: usize, max: usize) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the query costs {cost}, more than this request has left of its budget of {max}: ask for \
             fewer items (smaller pages, shorter windows), fewer aliases or fewer operations per batch"
        ),
        None,
    );
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "BAD_USER_INPUT");
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("cost", cost as u64);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_of(query: &str) -> usize {
        introspection(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn introspection_lists_multiply_and_the_rest_is_free_here() {
        assert_eq!(cost_of("{ me { id } }"), 0);
        let flat = cost_of("{ __schema { types { name } } }");
        assert_eq!(flat, 1 + schema_size::TYPES * 2);
        let nested = cost_of(
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
        );
        assert!(nested > 100 * flat, "{nested} vs {flat}");
        // Aliases and fragments are paid for each time.
        let aliased = cost_of("{ a: __schema { types { name } } b: __schema { types { name } } }");
        assert_eq!(aliased, 2 * flat);
        let spread = cost_of("{ __schema { ...T } } fragment T on __Schema { types { name } }");
        assert_eq!(spread, flat);
    }

    #[test]
    fn a_fragment_cycle_does_not_recurse_forever() {
        let cost = cost_of("{ __schema { ...A } } fragment A on __Schema { ...A types { name } }");
        assert!(cost > 0);
    }

    #[test]
    fn slot_lists_grow_with_the_window_and_shrink_with_the_step() {
        let at = |s: &str| DateTime(s.parse().unwrap());
        let (from, day, month) = (
            at("2027-01-01T00:00:00Z"),
            at("2027-01-02T00:00:00Z"),
            at("2027-01-31T00:00:00Z"),
        );
        assert_eq!(slots(&from, &day, Some(60), 3), 25 * 3);
        assert_eq!(slots(&from, &day, Some(15), 3), 97 * 3);
        assert_eq!(slots(&from, &day, Some(1), 3), 1441 * 3);
        assert_eq!(slots(&from, &month, Some(60), 3), (30 * 24 + 1) * 3);
        // A reversed window costs one item, and a window past the limit is costed at the limit.
        assert_eq!(slots(&day, &from, Some(60), 3), 3);
        let far = at("2030-01-01T00:00:00Z");
        assert_eq!(
            slots(&from, &far, Some(60), 1),
            (MAX_WINDOW_DAYS * 24 + 1) as usize
        );
    }

    /// The averages used for introspection are at least the real schema's, so its cost is never
    /// underestimated as the schema grows.
    #[tokio::test]
    async fn the_schema_size_constants_cover_the_real_schema() {
        let schema = crate::graphql::build_schema(
            None,
            crate::graphql::Limits {
                max_depth: usize::MAX,
                max_complexity: usize::MAX,
            },
        );
        let response = schema
            .execute(
                "{ __schema { types { fields(includeDeprecated: true) { args { name } } \
                 inputFields { name } enumValues(includeDeprecated: true) { name } \
                 interfaces { name } possibleTypes { name } } directives { args { name } } } }",
            )
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let json = response.data.into_json().unwrap();
        let types = json["__schema"]["types"].as_array().unwrap();
        let count = |t: &serde_json::Value, key: &str| t[key].as_array().map_or(0, Vec::len);
        let total = |key: &str| types.iter().map(|t| count(t, key)).sum::<usize>();
        let fields = total("fields");
        let args: usize = types
            .iter()
            .flat_map(|t| t["fields"].as_array().into_iter().flatten())
            .map(|f| count(f, "args"))
            .sum();
        let per_type = |n: usize| n.div_ceil(types.len());
        use schema_size::*;
        assert!(types.len() <= TYPES, "{} types", types.len());
        assert!(per_type(fields) <= FIELDS_PER_TYPE, "{fields} fields");
        assert!(args.div_ceil(fields) <= ARGS_PER_FIELD, "{args} args");
        assert!(per_type(total("inputFields")) <= INPUT_FIELDS_PER_TYPE);
        assert!(per_type(total("enumValues")) <= ENUM_VALUES_PER_TYPE);
        assert!(per_type(total("interfaces")) <= INTERFACES_PER_TYPE);
        assert!(per_type(total("possibleTypes")) <= POSSIBLE_TYPES_PER_TYPE);
        let directives = json["__schema"]["directives"].as_array().unwrap();
        assert!(directives.len() <= DIRECTIVES);
        eprintln!(
            "{} types, {fields} fields, {args} args, {} directives",
            types.len(),
            directives.len()
        );
    }

    #[test]
    fn a_budget_is_shared_and_never_overdrawn() {
        let budget = Budget::new(10);
        assert!(budget.charge(6));
        assert!(!budget.charge(6));
        assert!(budget.charge(4));
        assert!(!budget.charge(1));
    }
}
