//! Multi-row statements for the bulk paths. Diesel's multi-row INSERT does
//! not compile through the multi-backend connection, and one statement per
//! row costs a round trip each on PostgreSQL, so these build the rows into
//! one statement per engine: on SQLite a `VALUES` list with one typed bind
//! per value (in chunks of 100 rows kept prepared, see `PREPARED_ROWS`), on
//! PostgreSQL one array bind per column (see `Arrays`).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};

use super::DbConn;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(Option<i64>),
    Text(Option<String>),
    Date(Option<NaiveDate>),
    Time(Option<NaiveDateTime>),
}

impl From<i64> for Bind {
    fn from(v: i64) -> Self {
        Bind::Int(Some(v))
    }
}

impl From<Option<i64>> for Bind {
    fn from(v: Option<i64>) -> Self {
        Bind::Int(v)
    }
}

impl From<&str> for Bind {
    fn from(v: &str) -> Self {
        Bind::Text(Some(v.to_string()))
    }
}

impl From<&String> for Bind {
    fn from(v: &String) -> Self {
        Bind::Text(Some(v.clone()))
    }
}

impl From<&Option<String>> for Bind {
    fn from(v: &Option<String>) -> Self {
        Bind::Text(v.clone())
    }
}

impl From<Option<NaiveDate>> for Bind {
    fn from(v: Option<NaiveDate>) -> Self {
        Bind::Date(v)
    }
}

impl From<NaiveDateTime> for Bind {
    fn from(v: NaiveDateTime) -> Self {
        Bind::Time(Some(v))
    }
}

impl From<Option<NaiveDateTime>> for Bind {
    fn from(v: Option<NaiveDateTime>) -> Self {
        Bind::Time(v)
    }
}

/// Values per SQLite statement: below its 32,766 bound parameters, so a
/// chunk is always one statement (PostgreSQL binds arrays, never chunked).
const MAX_BINDS: usize = 30_000;

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind::<Nullable<BigInt>, _>(*v),
                Bind::Text(v) => q.bind::<Nullable<Text>, _>(v.clone()),
                Bind::Date(v) => q.bind::<Nullable<Date>, _>(*v),
                Bind::Time(v) => q.bind::<Nullable<Timestamp>, _>(*v),
            };
        }
        q
    }};
}

fn sqlite_query<'a>(
    sql: &str,
    binds: &'a [Bind],
) -> BoxedSqlQuery<'a, diesel::sqlite::Sqlite, SqlQuery> {
    bind_all!(
        diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(),
        binds
    )
}

fn pg_query<'a>(sql: &str, binds: &'a [Bind]) -> BoxedSqlQuery<'a, diesel::pg::Pg, SqlQuery> {
    bind_all!(diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>(), binds)
}

/// `sql` with `?` placeholders (the text must hold no other `?`), numbered
/// `$1, $2, …` for PostgreSQL.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + sql.len() / 4);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `sql` (with `?` placeholders) with these binds.
pub fn execute(conn: &mut DbConn, sql: &str, binds: &[Bind]) -> QueryResult<usize> {
    match conn {
        DbConn::Sqlite(c) => sqlite_query(sql, binds).execute(c),
        DbConn::Postgresql(c) => pg_query(&numbered(sql), binds).execute(c),
    }
}

/// `(?, ?, …)` for one row of `width` values.
fn row_placeholders(width: usize) -> String {
    let mut s = String::with_capacity(width * 3 + 2);
    s.push('(');
    for i in 0..width {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s.push(')');
    s
}

/// Rows per statement for rows of `width` values.
fn chunk_rows(width: usize) -> usize {
    (MAX_BINDS / width.max(1)).max(1)
}

/// Inserts `rows` (each with one value per column) into `table`, as few
/// statements as the bind limit allows. `table` and `columns` are our own
/// identifiers, never client text.
pub fn insert_rows(
    conn: &mut DbConn,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Bind>],
) -> QueryResult<usize> {
    let names = columns.join(", ");
    with_values(conn, columns.len(), rows, |values| {
        format!("INSERT INTO {table} ({names}) {values}")
    })
}

/// Inserts `rows` like [`insert_rows`] into a table with a unique
/// `external_id` and returns each new row's `(external_id, id)` from the
/// insert itself (`RETURNING`: in no promised order for a multi-row insert,
/// hence the key). Reading them back by external id afterwards was the most
/// expensive statement of a PostgreSQL bulk upsert (~20 ms per 1,000 cards).
pub fn insert_rows_returning_keys(
    conn: &mut DbConn,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Bind>],
) -> QueryResult<Vec<(String, i64)>> {
    let keys: Vec<ExternalId> =
        insert_rows_returning(conn, table, columns, rows, "external_id, id")?;
    Ok(keys.into_iter().map(|r| (r.external_id, r.id)).collect())
}

/// Inserts new entities like [`insert_rows_returning_keys`] and records
/// their creates in the change feed (as `entity_type`), in the order of
/// `rows`. `keys` gives each row's `external_id` and version, in that order.
/// Returns the new ids in that order.
pub fn insert_recorded(
    conn: &mut DbConn,
    entity_type: &'static str,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Bind>],
    keys: &[(Option<&String>, i64)],
) -> QueryResult<Vec<i64>> {
    let returned: std::collections::HashMap<String, i64> =
        insert_rows_returning_keys(conn, table, columns, rows)?
            .into_iter()
            .collect();
    // A multi-row insert returns its rows in no promised order.
    let created = keys
        .iter()
        .map(|(key, version)| {
            key.and_then(|k| returned.get(k).copied())
                .map(|id| (id, *version))
                .ok_or(diesel::result::Error::NotFound)
        })
        .collect::<QueryResult<Vec<(i64, i64)>>>()?;
    super::changes::record_many(conn, entity_type, super::changes::CREATED, &created)?;
    Ok(created.into_iter().map(|(id, _)| id).collect())
}

/// Inserts `rows` like [`insert_rows`] and returns the columns `returning`
/// of every new row as `R` (in no promised order).
pub fn insert_rows_returning<R>(
    conn: &mut DbConn,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Bind>],
    returning: &str,
) -> QueryResult<Vec<R>>
where
    R: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    let names = columns.join(", ");
    let make =
        |values: &str| format!("INSERT INTO {table} ({names}) {values} RETURNING {returning}");
    let chunks = each_chunk(
        conn,
        columns.len(),
        rows,
        make,
        |c, statement| statement.load::<R>(c),
        |c, query| query.load::<R>(c),
    )?;
    Ok(chunks.into_iter().flatten().collect())
}

/// Runs `make(values)` for each chunk of `rows`, where `values` is a row
/// source whose columns are named `column1`, `column2`, … (use it as
/// `({values}) AS v` and `v.column1`): `VALUES (?, …), …` on SQLite, one
/// array per column on PostgreSQL (see [`Arrays`]). `make` must give one
/// text per `values` (no literal that changes between calls): SQLite keeps
/// full chunks prepared by their text, once per connection.
pub fn with_values<F>(
    conn: &mut DbConn,
    width: usize,
    rows: &[Vec<Bind>],
    make: F,
) -> QueryResult<usize>
where
    F: Fn(&str) -> String,
{
    let counts = each_chunk(
        conn,
        width,
        rows,
        make,
        |c, statement| statement.execute(c),
        |c, query| query.execute(c),
    )?;
    Ok(counts.into_iter().sum())
}

/// The statements of [`with_values`], each run by `sqlite` or `pg`: one
/// result per SQLite chunk, one for PostgreSQL (no statement for no rows).
fn each_chunk<T, F>(
    conn: &mut DbConn,
    width: usize,
    rows: &[Vec<Bind>],
    make: F,
    mut sqlite: impl FnMut(&mut diesel::SqliteConnection, Rows) -> QueryResult<T>,
    pg: impl FnOnce(
        &mut diesel::PgConnection,
        BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>,
    ) -> QueryResult<T>,
) -> QueryResult<Vec<T>>
where
    F: Fn(&str) -> String,
{
    let c = match conn {
        DbConn::Sqlite(c) => c,
        DbConn::Postgresql(c) => {
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let arrays = Arrays::of(rows, width)?;
            let sql = make(&arrays.select());
            return Ok(vec![pg(c, arrays.bind(&sql))?]);
        }
    };
    if rows.iter().any(|row| row.len() != width) {
        return Err(diesel::result::Error::QueryBuilderError(
            format!("a row without exactly {width} values").into(),
        ));
    }
    let one = row_placeholders(width);
    let full = PREPARED_ROWS.min(chunk_rows(width));
    let mut out = Vec::with_capacity(rows.len().div_ceil(full));
    for chunk in rows.chunks(full) {
        let values = format!("VALUES {}", vec![one.as_str(); chunk.len()].join(", "));
        let statement = Rows {
            sql: make(&values),
            rows: chunk,
            keep_prepared: chunk.len() == full || chunk.len() == 1,
        };
        out.push(sqlite(c, statement)?);
    }
    Ok(out)
}

/// Rows per SQLite statement of the bulk paths. Full chunks have the same
/// text every time, so each connection compiles them once and keeps them
/// prepared, as are single rows (a single write's feed row, one text per
/// table); only the last, shorter chunk of a call is compiled each time.
/// Compiling a 1,000-row statement was 8 % of a bulk upsert's CPU
/// (docs/BENCHMARKS.md), and one prepared statement per size would grow the
/// cache without bound.
const PREPARED_ROWS: usize = 100;

/// A SQLite statement over a chunk of rows, its values bound by reference
/// (no copy of the rows). Unlike `sql_query`, which diesel never keeps
/// prepared, diesel caches it by its text when `keep_prepared` is set.
struct Rows<'a> {
    sql: String,
    rows: &'a [Vec<Bind>],
    keep_prepared: bool,
}

impl diesel::query_builder::QueryId for Rows<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for Rows<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        if !self.keep_prepared {
            out.unsafe_to_cache_prepared();
        }
        // diesel writes each placeholder itself as it binds the value, so
        // the text is pushed in the pieces between our `?`.
        let mut values = self.rows.iter().flatten();
        let mut pieces = self.sql.split('?');
        out.push_sql(pieces.next().unwrap_or_default());
        for piece in pieces {
            match values.next() {
                Some(Bind::Int(v)) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Some(Bind::Text(v)) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Some(Bind::Date(v)) => out.push_bind_param::<Nullable<Date>, _>(v)?,
                Some(Bind::Time(v)) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
                None => {
                    return Err(diesel::result::Error::QueryBuilderError(
                        "more placeholders than values".into(),
                    ))
                }
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

impl diesel::query_builder::Query for Rows<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<diesel::sqlite::SqliteConnection> for Rows<'_> {}

/// Rows as one array per column, for PostgreSQL: `SELECT * FROM
/// UNNEST($1::text[], $2::int8[], …)` binds one value per column instead of
/// one per cell. A bulk of 1,000 cards was 33,000 parameters, and parsing
/// and binding them took about as long as the insert itself
/// (docs/BENCHMARKS.md).
enum Array {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Date(Vec<Option<NaiveDate>>),
    Time(Vec<Option<NaiveDateTime>>),
}

struct Arrays(Vec<Array>);

impl Arrays {
    /// Columns take their type from the first row; a later row with a value
    /// of another type is a bug of the caller, reported as an error.
    fn of(rows: &[Vec<Bind>], width: usize) -> QueryResult<Arrays> {
        let mismatch =
            || diesel::result::Error::QueryBuilderError("batch: mixed column types".into());
        let first = rows.first().ok_or_else(mismatch)?;
        let mut arrays: Vec<Array> = first
            .iter()
            .map(|b| match b {
                Bind::Int(_) => Array::Int(Vec::with_capacity(rows.len())),
                Bind::Text(_) => Array::Text(Vec::with_capacity(rows.len())),
                Bind::Date(_) => Array::Date(Vec::with_capacity(rows.len())),
                Bind::Time(_) => Array::Time(Vec::with_capacity(rows.len())),
            })
            .collect();
        for row in rows {
            if row.len() != width || arrays.len() != width {
                return Err(mismatch());
            }
            for (array, value) in arrays.iter_mut().zip(row) {
                match (array, value) {
                    (Array::Int(a), Bind::Int(v)) => a.push(*v),
                    (Array::Text(a), Bind::Text(v)) => a.push(v.clone()),
                    (Array::Date(a), Bind::Date(v)) => a.push(*v),
                    (Array::Time(a), Bind::Time(v)) => a.push(*v),
                    _ => return Err(mismatch()),
                }
            }
        }
        Ok(Arrays(arrays))
    }

    /// `SELECT * FROM UNNEST($1::…[], …) AS u(column1, …)`.
    fn select(&self) -> String {
        let arrays: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let ty = match a {
                    Array::Int(_) => "int8",
                    Array::Text(_) => "text",
                    Array::Date(_) => "date",
                    Array::Time(_) => "timestamp",
                };
                format!("${}::{ty}[]", i + 1)
            })
            .collect();
        let names: Vec<String> = (1..=self.0.len()).map(|i| format!("column{i}")).collect();
        format!(
            "SELECT * FROM UNNEST({}) AS u({})",
            arrays.join(", "),
            names.join(", ")
        )
    }

    fn bind(self, sql: &str) -> BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery> {
        use diesel::sql_types::Array as A;
        let mut q = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
        for array in self.0 {
            q = match array {
                Array::Int(v) => q.bind::<A<Nullable<BigInt>>, _>(v),
                Array::Text(v) => q.bind::<A<Nullable<Text>>, _>(v),
                Array::Date(v) => q.bind::<A<Nullable<Date>>, _>(v),
                Array::Time(v) => q.bind::<A<Nullable<Timestamp>>, _>(v),
            };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::db_tests;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("VALUES (?, ?), (?, ?)"),
            "VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn postgres_rows_become_one_typed_array_per_column() {
        let rows = vec![
            vec![Bind::from(1), Bind::Text(None)],
            vec![Bind::Int(None), Bind::from("x")],
        ];
        let arrays = Arrays::of(&rows, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            arrays.select(),
            "SELECT * FROM UNNEST($1::int8[], $2::text[]) AS u(column1, column2)"
        );
        let mixed = vec![vec![Bind::from(1)], vec![Bind::from("x")]];
        assert!(Arrays::of(&mixed, 1).is_err());
        assert!(Arrays::of(&rows, 3).is_err());
    }

    #[test]
    fn a_chunk_stays_under_the_bind_limit() {
        assert!(chunk_rows(35) * 35 <= MAX_BINDS);
        assert_eq!(chunk_rows(0), MAX_BINDS);
        assert_eq!(chunk_rows(MAX_BINDS * 2), 1);
    }

    fn plan(conn: &mut DbConn, sql: &str) -> String {
        let DbConn::Sqlite(c) = conn else {
            panic!("SQLite");
        };
        sqlite_plan(c, sql, &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .join("; ")
    }

    db_tests!(
        rows_inserted_in_prepared_chunks_keep_their_values,
        rows_of_the_wrong_width_are_refused,
        inserted_rows_return_their_keys_and_ids,
    );

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        s: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
        d: Option<NaiveDate>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
        at: Option<chrono::NaiveDateTime>,
    }

    fn rows_of(conn: &mut DbConn) -> Vec<Row> {
        diesel::sql_query("SELECT n, s, d, at FROM t ORDER BY n")
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Rows go in full chunks kept prepared and a shorter last chunk; every
    /// value lands in its own column and row, NULLs included, on a second
    /// call too (served by the prepared statement).
    fn rows_inserted_in_prepared_chunks_keep_their_values(conn: &mut DbConn) {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("CREATE TABLE t (n BIGINT, s TEXT, d DATE, at TIMESTAMP)")
            .unwrap_or_else(|e| panic!("{e}"));
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
        let count = PREPARED_ROWS as i64 * 2 + 7;
        let want = |n: i64| Row {
            n,
            s: (n % 3 != 0).then(|| format!("row ? {n}")),
            d: (n % 2 == 0).then_some(day),
            at: (n % 5 == 0).then(|| day.and_hms_micro_opt(1, 2, 3, 456_789).unwrap_or_default()),
        };
        let rows = |offset: i64| -> Vec<Vec<Bind>> {
            (offset..offset + count)
                .map(want)
                .map(|r| {
                    vec![
                        r.n.into(),
                        Bind::Text(r.s),
                        Bind::Date(r.d),
                        Bind::Time(r.at),
                    ]
                })
                .collect()
        };
        for offset in [0, 1000] {
            let done = insert_rows(conn, "t", &["n", "s", "d", "at"], &rows(offset))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(done, PREPARED_ROWS * 2 + 7);
        }
        let expected: Vec<Row> = (0..count).chain(1000..1000 + count).map(want).collect();
        assert_eq!(rows_of(conn), expected);
    }

    /// A row with fewer or more values than columns is an error, not a
    /// shifted insert or a panic.
    fn rows_of_the_wrong_width_are_refused(conn: &mut DbConn) {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("CREATE TABLE t (n BIGINT, s TEXT, d DATE, at TIMESTAMP)")
            .unwrap_or_else(|e| panic!("{e}"));
        let short = vec![vec![Bind::from(1)]; PREPARED_ROWS];
        assert!(insert_rows(conn, "t", &["n", "s"], &short).is_err());
        let long = vec![vec![Bind::from(1), "a".into(), 3.into()]; 3];
        assert!(insert_rows(conn, "t", &["n", "s"], &long).is_err());
        assert_eq!(rows_of(conn), vec![]);
    }

    /// Every inserted row's key comes back with the id it got, across full
    /// chunks and the shorter last one, on a second call too.
    fn inserted_rows_return_their_keys_and_ids(conn: &mut DbConn) {
        use diesel::connection::SimpleConnection;
        let id = if crate::db::testing::is_postgres(conn) {
            "BIGSERIAL"
        } else {
            "INTEGER"
        };
        conn.batch_execute(&format!(
            "CREATE TABLE keyed (id {id} PRIMARY KEY, external_id TEXT UNIQUE)"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let n = PREPARED_ROWS * 2 + 7;
        for round in 0..2 {
            let rows: Vec<Vec<Bind>> = (0..n)
                .map(|i| vec![Bind::from(format!("k-{round}-{i}").as_str())])
                .collect();
            let mut got = insert_rows_returning_keys(conn, "keyed", &["external_id"], &rows)
                .unwrap_or_else(|e| panic!("{e}"));
            got.sort();
            let keys: Vec<String> = (0..n).map(|i| format!("k-{round}-{i}")).collect();
            let mut stored = external_ids(conn, "keyed", &keys).unwrap_or_else(|e| panic!("{e}"));
            stored.sort();
            assert_eq!(got.len(), n);
            assert_eq!(got, stored);
        }
    }

    /// Statistics taken while no row had an external id make the unique
    /// index look useless (every key "matches" every row). The lookup must
    /// still step down it; reading whole rows by `IN (…)` scans the table.
    /// SQLite only: a plan of SQLite's statement (PostgreSQL's is pinned by
    /// the API tests through `external_ids_plan`).
    #[test]
    fn external_id_lookups_use_the_index_whatever_the_statistics() {
        use diesel::connection::SimpleConnection;
        let mut conn = crate::db::testing::sqlite();
        conn.batch_execute(
            "CREATE TABLE lookup (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE, pad TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
               INSERT INTO lookup (pad) SELECT hex(randomblob(50)) FROM n; \
             ANALYZE lookup; \
             UPDATE lookup SET external_id = 'erp-' || id WHERE id IN (7, 4000);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stale = plan(
            &mut conn,
            "SELECT * FROM lookup WHERE external_id IN (?, ?, ?)",
        );
        assert!(
            stale.contains("SCAN lookup"),
            "the fixture's statistics mislead: {stale}"
        );
        let ours = plan(&mut conn, &external_ids_sql("lookup", 3));
        assert!(ours.contains("USING COVERING INDEX"), "{ours}");
        assert!(!ours.contains("SCAN t"), "{ours}");

        let keys = ["erp-4000".to_string(), "x".to_string(), "erp-7".to_string()];
        let mut found = external_ids(&mut conn, "lookup", &keys).unwrap_or_else(|e| panic!("{e}"));
        found.sort();
        assert_eq!(
            found,
            vec![("erp-4000".to_string(), 4000), ("erp-7".to_string(), 7)]
        );
    }
}

#[derive(QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `(external_id, id)` of the rows of `table` (our own identifier) whose
/// external id is one of `keys`; callers read the rows by id. Only those two
/// columns are read, which the unique index on `external_id` covers.
///
/// The statement differs per engine because each planner errs differently:
/// - SQLite: the key list drives the join (it keeps the left side of a
///   CROSS JOIN outer), so each key is one step down that index whatever
///   the statistics say. With `external_id IN (…)` SQLite scanned every card
///   once its statistics dated from before the external ids existed (a bulk
///   of 1,000 took 190 ms of CPU instead of 28).
/// - PostgreSQL: `= ANY` of one array bind, an index scan. It plans the
///   `VALUES` join as a hash join over a scan of the whole table (37 ms for
///   1,000 keys at 100,000 cards, growing with the table; 2 ms with `ANY`).
pub fn external_ids(
    conn: &mut DbConn,
    table: &str,
    keys: &[String],
) -> QueryResult<Vec<(String, i64)>> {
    let rows: Vec<ExternalId> = match conn {
        DbConn::Sqlite(c) => {
            let mut rows = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(MAX_BINDS) {
                let binds: Vec<Bind> = chunk.iter().map(Bind::from).collect();
                rows.extend(
                    sqlite_query(&external_ids_sql(table, chunk.len()), &binds)
                        .load::<ExternalId>(c)?,
                );
            }
            rows
        }
        DbConn::Postgresql(c) => diesel::sql_query(pg_external_ids_sql(table))
            .bind::<diesel::sql_types::Array<Text>, _>(keys)
            .load(c)?,
    };
    Ok(rows.into_iter().map(|r| (r.external_id, r.id)).collect())
}

/// The query plan [`external_ids`] gets for `keys` (EXPLAIN's text, one line
/// per step), for the tests that pin it on both engines.
pub fn external_ids_plan(conn: &mut DbConn, table: &str, keys: &[String]) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        #[diesel(column_name = "QUERY PLAN")]
        plan: String,
    }
    let lines: Vec<String> = match conn {
        DbConn::Sqlite(c) => {
            let binds: Vec<Bind> = keys.iter().map(Bind::from).collect();
            sqlite_plan(c, &external_ids_sql(table, keys.len()), &binds)?
        }
        DbConn::Postgresql(c) => {
            diesel::sql_query(format!("EXPLAIN {}", pg_external_ids_sql(table)))
                .bind::<diesel::sql_types::Array<Text>, _>(keys)
                .load::<Step>(c)?
                .into_iter()
                .map(|s| s.plan)
                .collect()
        }
    };
    Ok(lines.join("\n"))
}

/// SQLite's plan for `sql` (EXPLAIN QUERY PLAN, one step per line).
pub(crate) fn sqlite_plan(
    c: &mut diesel::SqliteConnection,
    sql: &str,
    binds: &[Bind],
) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    Ok(sqlite_query(&format!("EXPLAIN QUERY PLAN {sql}"), binds)
        .load::<Step>(c)?
        .into_iter()
        .map(|s| s.detail)
        .collect())
}

fn pg_external_ids_sql(table: &str) -> String {
    format!("SELECT external_id, id FROM {table} WHERE external_id = ANY($1)")
}

fn external_ids_sql(table: &str, keys: usize) -> String {
    format!(
        "SELECT t.external_id AS external_id, t.id AS id FROM (VALUES {}) AS v \
         CROSS JOIN {table} t WHERE t.external_id = v.column1",
        vec!["(?)"; keys].join(", ")
    )
}
