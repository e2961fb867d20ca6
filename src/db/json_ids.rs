//! `column IN (SELECT value FROM json_each(?))` on SQLite: a set of ids as
//! one bind, a JSON array. The statement's text is the same for any number
//! of ids, so diesel keeps it prepared; an `IN (?, ?, …)` list is compiled
//! anew for every page (PostgreSQL's `= ANY($1)` is one bind already).

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// See the module; made by [`in_ids`].
#[derive(Debug, Clone, QueryId, ValidGrouping)]
pub struct InJsonIds<C> {
    column: C,
    ids: String,
}

/// `column IN (the ids)`, for a filter on SQLite.
pub fn in_ids<C: Expression<SqlType = BigInt>>(column: C, ids: &[i64]) -> InJsonIds<C> {
    use std::fmt::Write;
    let mut json = String::with_capacity(ids.len() * 8 + 2);
    json.push('[');
    for (i, id) in ids.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        // Writing to a String cannot fail.
        let _ = write!(json, "{comma}{id}");
    }
    json.push(']');
    InJsonIds { column, ids: json }
}

impl<C> Expression for InJsonIds<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for InJsonIds<C> {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for InJsonIds<C> {}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for InJsonIds<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(&self.ids)?;
        out.push_sql("))");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::in_ids;
    use crate::db::schema::customer_tiers as t;

    /// The ids select exactly their rows, whatever their number (none, one,
    /// many, repeated, negative), through one statement text.
    #[test]
    fn the_ids_select_their_rows() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
        diesel::sql_query(
            "CREATE TABLE customer_tiers (customer_id INTEGER PRIMARY KEY NOT NULL, tier TEXT NOT NULL)",
        )
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
        for id in [-3_i64, 1, 2, 5, 8, i64::MAX] {
            diesel::insert_into(t::table)
                .values((t::customer_id.eq(id), t::tier.eq("important")))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut read = |ids: &[i64]| -> Vec<i64> {
            t::table
                .filter(in_ids(t::customer_id, ids))
                .select(t::customer_id)
                .order(t::customer_id)
                .load(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(read(&[]), Vec::<i64>::new());
        assert_eq!(read(&[2]), [2]);
        assert_eq!(read(&[8, 3, 2, 2, -3, i64::MAX]), [-3, 2, 8, i64::MAX]);
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(
            &t::table
                .filter(in_ids(t::customer_id, &[1, 2]))
                .select(t::customer_id),
        )
        .to_string();
        assert!(
            sql.contains("`customer_tiers`.`customer_id` IN (SELECT value FROM json_each(?))"),
            "{sql}"
        );
    }
}
