//! "This column is one of these ids" as one parameter, a JSON array, whatever their number.
//!
//! With a parameter per id (`IN ($1, $2, …)`) each count is a statement of its own: the database
//! parses, prepares and plans it afresh on each connection, where a statement whose text never
//! changes is prepared once per connection and its plan kept. sea-query numbers a custom
//! expression's own parameters from `$1` on PostgreSQL, and takes `?` on SQLite.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::DbBackend;

/// `column` (as SQL, quoted: `"jobs"."id"`) is one of `ids`.
pub fn among<S: AsRef<str>>(backend: DbBackend, column: &str, ids: &[S]) -> SimpleExpr {
    list(backend, column, "IN", ids)
}

/// `column` (as SQL, quoted) is none of `ids`.
pub fn not_among<S: AsRef<str>>(backend: DbBackend, column: &str, ids: &[S]) -> SimpleExpr {
    list(backend, column, "NOT IN", ids)
}

/// `(first, second)` (columns as SQL, quoted) is one of `pairs`: a key and a number, such as a
/// job and the attempt its claim counted.
pub fn pair_among<S: AsRef<str>>(
    backend: DbBackend,
    (first, second): (&str, &str),
    pairs: &[(S, i32)],
) -> SimpleExpr {
    let pairs: Vec<(&str, i32)> = pairs.iter().map(|(k, n)| (k.as_ref(), *n)).collect();
    let pairs = serde_json::to_string(&pairs).expect("strings and numbers serialize");
    let sql = match backend {
        DbBackend::Postgres => format!(
            "({first}, {second}) IN (SELECT p ->> 0, CAST(p ->> 1 AS integer) \
             FROM json_array_elements(CAST($1 AS json)) AS p)"
        ),
        _ => format!("({first}, {second}) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"),
    };
    Expr::cust_with_values(sql, [pairs])
}

fn list<S: AsRef<str>>(backend: DbBackend, column: &str, op: &str, ids: &[S]) -> SimpleExpr {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    let ids = serde_json::to_string(&ids).expect("strings serialize");
    let sql = match backend {
        DbBackend::Postgres => {
            format!("{column} {op} (SELECT json_array_elements_text(CAST($1 AS json)))")
        }
        _ => format!("{column} {op} (SELECT value FROM json_each(?))"),
    };
    Expr::cust_with_values(sql, [ids])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Query};

    fn select(backend: DbBackend, ids: &[&str]) -> sea_orm::Statement {
        let query = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new("n")).eq(7))
            .and_where(among(backend, r#""t"."id""#, ids))
            .and_where(not_among(backend, r#""t"."id""#, &["z"]))
            .to_owned();
        backend.build(&query)
    }

    #[test]
    fn any_number_of_ids_is_one_statement_text() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let one = select(backend, &["a"]);
            let three = select(backend, &["a", "b", "c"]);
            assert_eq!(one.sql, three.sql, "{backend:?}");
            let values = three.values.expect("bound").0;
            assert_eq!(values.len(), 3, "{backend:?}: {values:?}");
            assert!(
                format!("{:?}", values[1]).contains(r#"[\"a\",\"b\",\"c\"]"#),
                "{values:?}"
            );
        }
        assert!(select(DbBackend::Postgres, &["a"])
            .sql
            .contains(r#""t"."id" IN (SELECT json_array_elements_text(CAST($2 AS json)))"#));
        assert!(select(DbBackend::Postgres, &["a"])
            .sql
            .contains(r#""t"."id" NOT IN (SELECT json_array_elements_text(CAST($3 AS json)))"#));
    }

    fn update(backend: DbBackend, pairs: &[(&str, i32)]) -> sea_orm::Statement {
        let query = Query::update()
            .table(Alias::new("t"))
            .value(Alias::new("n"), 7)
            .and_where(pair_among(backend, (r#""t"."id""#, r#""t"."n""#), pairs))
            .to_owned();
        backend.build(&query)
    }

    #[test]
    fn any_number_of_pairs_is_one_statement_text() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let one = update(backend, &[("a", 1)]);
            let three = update(backend, &[("a", 1), ("b", 2), ("c", 30)]);
            assert_eq!(one.sql, three.sql, "{backend:?}");
            let values = three.values.expect("bound").0;
            assert_eq!(values.len(), 2, "{backend:?}: {values:?}");
            assert!(
                format!("{:?}", values[1]).contains(r#"[[\"a\",1],[\"b\",2],[\"c\",30]]"#),
                "{values:?}"
            );
        }
        assert!(update(DbBackend::Postgres, &[("a", 1)])
            .sql
            .contains("json_array_elements(CAST($2 AS json))"));
    }
}
