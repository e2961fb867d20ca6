//! `bench seed`: loads a generated data set into a fresh database, fast.
//!
//! Rows go in as multi-row `INSERT` statements built as text (thousands of
//! rows per statement, one transaction per table). During the load the
//! secondary indexes are dropped (and PostgreSQL's foreign keys; SQLite's
//! are off for the session), then rebuilt from their definitions read back
//! from the catalogue, so new migrations are followed without touching this
//! file. The derived figures of the cards are computed in one set-based
//! `UPDATE` before the indexes come back, and the planner statistics are
//! gathered at the end.

use std::fmt::Write as _;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::PgConnection;
use patron::db::{self, stats, Backend, Db, DbConn};

use crate::args::Args;
use crate::gen::{self, push_timestamp, Dataset};
use crate::server::{ADMIN_PASSWORD, SALES_PASSWORD};
use crate::BenchResult;

/// Rows per `INSERT` statement.
const BATCH: usize = 5_000;

/// The tables the seed fills, in load order.
const TABLES: &[&str] = &[
    "users",
    "customers",
    "contacts",
    "customer_tags",
    "customer_events",
    "interactions",
    "transactions",
];

fn err(what: &str) -> impl Fn(diesel::result::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Times the phases of the seed for the report.
struct Phases {
    started: Instant,
    rows: Vec<(String, f64)>,
}

impl Phases {
    fn new() -> Phases {
        Phases {
            started: Instant::now(),
            rows: Vec::new(),
        }
    }

    fn time<T>(&mut self, name: &str, f: impl FnOnce() -> BenchResult<T>) -> BenchResult<T> {
        let start = Instant::now();
        eprint!("  {name} … ");
        let value = f()?;
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{secs:.2} s");
        self.rows.push((name.to_string(), secs));
        Ok(value)
    }
}

/// `bench probe`: can we reach this database?
pub fn probe(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    match Backend::of_url(&url) {
        Some(Backend::Postgres) => PgConnection::establish(&url)
            .map(|_| ())
            .map_err(|e| format!("cannot connect: {e}")),
        Some(Backend::Sqlite) => Ok(()),
        None => Err("the URL must start with sqlite:// or postgres://".into()),
    }
}

pub fn run(args: &Args) -> BenchResult<()> {
    let url = args.string("database-url")?;
    let customers: u32 = args.required_number("customers")?;
    let activity: u64 = args.required_number("activity")?;
    let seed: u64 = args.number("seed", 42)?;
    let interaction_share: f64 =
        args.number("interaction-share", gen::PROFILE.interaction_share)?;
    let wallets = args.flag("wallets");
    if customers == 0 {
        return Err("--customers must be at least 1".into());
    }
    if args.flag("fresh") {
        recreate(&url)?;
    }
    eprintln!(
        "seeding {customers} customers and {activity} interactions+transactions (seed {seed})"
    );
    let mut phases = Phases::new();
    let db = phases.time("migrate", || Db::connect(&url, 1))?;
    let mut pooled = db.pool().get().map_err(|e| e.to_string())?;
    let conn: &mut DbConn = &mut pooled;
    let existing: i64 = patron::db::schema::customers::table
        .count()
        .get_result(conn)
        .map_err(err("count customers"))?;
    if existing > 0 {
        return Err(format!(
            "the database already has {existing} customers: seed a fresh one (--fresh)"
        ));
    }
    let now = db::now().and_utc().timestamp();
    let data = phases.time("generate", || {
        Ok(gen::generate_with(
            customers,
            activity,
            seed,
            now,
            interaction_share,
            wallets,
        ))
    })?;
    let hashes = phases.time("hash passwords", || {
        let hash = |p| patron::auth::password::hash(p).map_err(|e| e.to_string());
        Ok((hash(ADMIN_PASSWORD)?, hash(SALES_PASSWORD)?))
    })?;

    prepare(conn)?;
    let deferred = phases.time("drop secondary indexes and foreign keys", || {
        let mut statements = drop_foreign_keys(conn)?;
        statements.splice(0..0, drop_indexes(conn)?);
        Ok(statements)
    })?;
    let loaded = phases.time("insert rows", || load(conn, &data, &hashes))?;
    phases.time("derived figures, set-based", || refresh_all(conn, data.now))?;
    phases.time("rebuild indexes and foreign keys", || {
        for (table, sql) in &deferred {
            conn.batch_execute(sql)
                .map_err(|e| format!("rebuild on {table}: {e}"))?;
        }
        Ok(())
    })?;
    if let DbConn::Postgresql(pg) = &mut *conn {
        reset_sequences(pg)?;
    }
    phases.time("analyze", || analyze(conn))?;
    let total = phases.started.elapsed().as_secs_f64();
    let job_start = Instant::now();
    let job_rows = stats::refresh_windows(conn, db::now()).map_err(err("refresh_windows"))?;
    let job_secs = job_start.elapsed().as_secs_f64();
    integrity(conn)?;
    report(
        conn,
        &url,
        &data,
        &loaded,
        &phases,
        total,
        (job_rows, job_secs),
    )
}

/// Deletes the SQLite file, or drops and recreates the PostgreSQL database.
pub fn recreate(url: &str) -> BenchResult<()> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => {
            let path = db::sqlite_path(url);
            for suffix in ["", "-wal", "-shm"] {
                let file = format!("{path}{suffix}");
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("cannot delete {file}: {e}")),
                }
            }
            match std::path::Path::new(path).parent() {
                Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display())),
                _ => Ok(()),
            }
        }
        Some(Backend::Postgres) => {
            let (server, name) = split_pg_url(url)?;
            let mut admin = PgConnection::establish(&format!("{server}/postgres"))
                .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
            // One statement per call: several in one string run as one
            // transaction, and these cannot run inside one. A plain DROP
            // first: it stops an autovacuum worker on the database by itself
            // (likely right after a bulk run), which `WITH (FORCE)` refuses
            // to do for a role without pg_signal_backend; FORCE then ends
            // the sessions a killed run left behind.
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\"");
            if admin.batch_execute(&drop).is_err() {
                admin
                    .batch_execute(&format!("{drop} WITH (FORCE)"))
                    .map_err(|e| format!("cannot drop database {name}: {e}"))?;
            }
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .map_err(|e| format!("cannot create database {name}: {e}"))?;
            Ok(())
        }
        None => Err("the URL must start with sqlite:// or postgres://".into()),
    }
}

/// `postgres://u:p@h:5432/db?x` → (`postgres://u:p@h:5432`, `db`).
fn split_pg_url(url: &str) -> BenchResult<(String, String)> {
    let base = url.split('?').next().unwrap_or(url);
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let slash = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .ok_or_else(|| "the PostgreSQL URL must name a database".to_string())?;
    let name = &base[slash + 1..];
    if name.is_empty()
        || name == "postgres"
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "--fresh: database name {name:?}: use letters, digits and _ only, not postgres"
        ));
    }
    Ok((base[..slash].to_string(), name.to_string()))
}

/// Session settings for a bulk load (this connection only).
fn prepare(conn: &mut DbConn) -> BenchResult<()> {
    let sql = match conn {
        // The data is consistent by construction; `integrity` checks it after.
        DbConn::Sqlite(_) => {
            "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; \
             PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;"
        }
        DbConn::Postgresql(_) => {
            "SET synchronous_commit = off; SET maintenance_work_mem = '512MB';"
        }
    };
    conn.batch_execute(sql).map_err(err("session settings"))
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    def: String,
}

/// Drops the secondary indexes of the seeded tables (not the primary keys
/// nor the unique constraints); returns the statements that rebuild them.
fn drop_indexes(conn: &mut DbConn) -> BenchResult<Vec<(String, String)>> {
    let list = TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let defs: Vec<IndexDef> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "SELECT name, tbl_name AS tbl, sql AS def FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({list}) ORDER BY name"
        ))
        .load(c),
        DbConn::Postgresql(c) => diesel::sql_query(format!(
            "SELECT indexname::text AS name, tablename::text AS tbl, indexdef AS def FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ({list}) \
             AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
        ))
        .load(c),
    }
    .map_err(err("read the index definitions"))?;
    for d in &defs {
        conn.batch_execute(&format!("DROP INDEX \"{}\"", d.name))
            .map_err(err("drop an index"))?;
    }
    Ok(defs.into_iter().map(|d| (d.tbl, d.def)).collect())
}

/// PostgreSQL checks a foreign key row by row on insert: drop the keys of
/// the seeded tables and add them back after the load (one set-based check
/// each). SQLite's are off for this connection instead (see `prepare`).
fn drop_foreign_keys(conn: &mut DbConn) -> BenchResult<Vec<(String, String)>> {
    let DbConn::Postgresql(pg) = conn else {
        return Ok(Vec::new());
    };
    let list = TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let defs: Vec<IndexDef> = diesel::sql_query(format!(
        "SELECT conname::text AS name, conrelid::regclass::text AS tbl, \
         pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE contype = 'f' AND conrelid::regclass::text IN ({list}) ORDER BY conname"
    ))
    .load(pg)
    .map_err(err("read the foreign keys"))?;
    let mut restore = Vec::new();
    for d in defs {
        pg.batch_execute(&format!(
            "ALTER TABLE {} DROP CONSTRAINT \"{}\"",
            d.tbl, d.name
        ))
        .map_err(err("drop a foreign key"))?;
        let sql = format!(
            "ALTER TABLE {} ADD CONSTRAINT \"{}\" {}",
            d.tbl, d.name, d.def
        );
        restore.push((d.tbl, sql));
    }
    Ok(restore)
}

/// A string literal (our generated text has no quotes, but be exact).
fn text(out: &mut String, s: &str) {
    out.push('\'');
    for ch in s.chars() {
        if ch == '\'' {
            out.push('\'');
        }
        out.push(ch);
    }
    out.push('\'');
}

fn opt_text(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => text(out, s),
        None => out.push_str("NULL"),
    }
}

fn ts(out: &mut String, secs: i64) {
    out.push('\'');
    push_timestamp(out, secs);
    out.push('\'');
}

fn opt_ts(out: &mut String, secs: Option<i64>) {
    match secs {
        Some(s) => ts(out, s),
        None => out.push_str("NULL"),
    }
}

/// Inserts `rows` with one statement per `BATCH`, inside one transaction;
/// `render` writes the values of row `i` (ids are `i + 1`).
fn insert<T>(
    conn: &mut DbConn,
    table: &'static str,
    columns: &str,
    rows: &[T],
    mut render: impl FnMut(&mut String, usize, &T),
) -> BenchResult<(&'static str, usize)> {
    conn.batch_execute("BEGIN").map_err(err("begin"))?;
    let mut sql = String::with_capacity(BATCH * 256);
    for (chunk_no, chunk) in rows.chunks(BATCH).enumerate() {
        sql.clear();
        let _ = write!(sql, "INSERT INTO {table} ({columns}) VALUES ");
        for (k, row) in chunk.iter().enumerate() {
            if k > 0 {
                sql.push(',');
            }
            sql.push('(');
            render(&mut sql, chunk_no * BATCH + k, row);
            sql.push(')');
        }
        conn.batch_execute(&sql)
            .map_err(|e| format!("insert into {table}: {e}"))?;
    }
    conn.batch_execute("COMMIT").map_err(err("commit"))?;
    Ok((table, rows.len()))
}

fn load(
    conn: &mut DbConn,
    data: &Dataset,
    (admin_hash, sales_hash): &(String, String),
) -> BenchResult<Vec<(&'static str, usize)>> {
    let now = data.now;
    let mut counts = Vec::new();
    counts.push(insert(
        conn,
        "users",
        "id, email, name, role, password_hash, active, token_generation, version, created_at, updated_at",
        &data.users,
        |s, _, u| {
            let _ = write!(s, "{},", u.id);
            text(s, &u.email);
            s.push(',');
            text(s, &u.name);
            s.push(',');
            text(s, u.role);
            s.push(',');
            text(s, if u.role == "admin" { admin_hash } else { sales_hash });
            s.push_str(",TRUE,0,1,");
            ts(s, now);
            s.push(',');
            ts(s, now);
        },
    )?);
    counts.push(insert(
        conn,
        "customers",
        "id, kind, name, company, email, phone, region, industry, owner_id, acquisition_source, \
         funnel_stage, currency, search_text, version, created_at, updated_at, stats_at, \
         wallet_size_cents",
        &data.customers,
        |s, _, c| {
            let _ = write!(s, "{},", c.id);
            text(s, c.kind);
            s.push(',');
            text(s, &c.name);
            s.push(',');
            opt_text(s, c.company.as_deref());
            s.push(',');
            opt_text(s, c.email.as_deref());
            s.push(',');
            opt_text(s, c.phone.as_deref());
            s.push(',');
            text(s, c.region);
            s.push(',');
            opt_text(s, c.industry);
            let _ = write!(s, ",{},", c.owner_id);
            text(s, c.acquisition_source);
            s.push(',');
            text(s, c.funnel_stage);
            s.push_str(",'CNY',");
            text(s, &c.search_text());
            s.push_str(",1,");
            ts(s, c.created_at);
            s.push(',');
            ts(s, c.created_at);
            s.push(',');
            ts(s, now);
            match c.wallet_size_cents {
                Some(w) => {
                    let _ = write!(s, ",{w}");
                }
                None => s.push_str(",NULL"),
            }
        },
    )?);
    // Contacts: 1–3 per organization (a decision maker first), one for a
    // tenth of the individuals. Derived from the ids, so the rest of the
    // generated data (and its random stream) is unchanged.
    let contacts: Vec<(i64, u64)> = data
        .customers
        .iter()
        .flat_map(|c| {
            let n = if c.kind == "organization" {
                1 + c.id.rem_euclid(3) as u64
            } else {
                u64::from(c.id % 10 == 0)
            };
            (0..n).map(move |k| (c.id, k))
        })
        .collect();
    counts.push(insert(
        conn,
        "contacts",
        "id, customer_id, name, role, title, email, phone, version, created_at, updated_at",
        &contacts,
        |s, i, (customer_id, k)| {
            let role = ["decision_maker", "handler", "other"][*k as usize % 3];
            let title = ["总经理", "采购经理", "财务"][*k as usize % 3];
            let _ = write!(
                s,
                "{},{customer_id},'联系人 {customer_id}-{k}','{role}','{title}',\
                 'contact{customer_id}.{k}@example.com','+86 138 {:04} {:04}',1,",
                i + 1,
                customer_id % 10_000,
                (customer_id / 10_000 + *k as i64) % 10_000
            );
            ts(s, now);
            s.push(',');
            ts(s, now);
        },
    )?);
    let tags: Vec<(i64, &str)> = data
        .customers
        .iter()
        .flat_map(|c| c.tags.iter().map(move |t| (c.id, *t)))
        .collect();
    counts.push(insert(
        conn,
        "customer_tags",
        "customer_id, tag",
        &tags,
        |s, _, (id, tag)| {
            let _ = write!(s, "{id},");
            text(s, tag);
        },
    )?);
    counts.push(insert(
        conn,
        "customer_events",
        "id, customer_id, kind, from_value, to_value, user_id, at",
        &data.events,
        |s, i, e| {
            let _ = write!(
                s,
                "{},{},'funnel_stage_changed','lead',",
                i + 1,
                e.customer_id
            );
            text(s, e.to_value);
            let _ = write!(s, ",{},", e.user_id);
            ts(s, e.at);
        },
    )?);
    counts.push(insert(
        conn,
        "interactions",
        "id, customer_id, type, occurred_at, user_id, channel, summary, outcome, follow_up_at, \
         follow_up_done_at, complaint_status, resolved_at, version, created_at, updated_at",
        &data.interactions,
        |s, i, r| {
            let _ = write!(s, "{},{},", i + 1, r.customer_id);
            text(s, r.kind);
            s.push(',');
            ts(s, r.occurred_at);
            let _ = write!(s, ",{},", r.user_id);
            text(s, r.channel());
            s.push(',');
            text(s, r.summary);
            s.push(',');
            opt_text(s, r.outcome);
            s.push(',');
            opt_ts(s, r.follow_up_at);
            s.push(',');
            opt_ts(s, r.follow_up_done_at);
            s.push(',');
            opt_text(s, r.complaint_status);
            s.push(',');
            opt_ts(s, r.resolved_at);
            s.push_str(",1,");
            ts(s, r.occurred_at);
            s.push(',');
            ts(s, r.updated_at());
        },
    )?);
    counts.push(insert(
        conn,
        "transactions",
        "id, customer_id, occurred_at, amount_cents, cost_cents, currency, product, external_id, \
         version, created_at, updated_at",
        &data.transactions,
        |s, i, t| {
            let id = i + 1;
            let _ = write!(s, "{id},{},", t.customer_id);
            ts(s, t.occurred_at);
            let _ = write!(s, ",{},{},'CNY',", t.amount_cents, t.cost_cents);
            text(s, t.product);
            if t.has_external_id {
                let _ = write!(s, ",'ERP-{id:08}',1,");
            } else {
                s.push_str(",NULL,1,");
            }
            ts(s, t.occurred_at);
            s.push(',');
            ts(s, t.occurred_at);
        },
    )?);
    Ok(counts)
}

/// Explicit ids do not move PostgreSQL's sequences: move them past the rows.
fn reset_sequences(pg: &mut PgConnection) -> BenchResult<()> {
    for table in TABLES.iter().filter(|t| **t != "customer_tags") {
        pg.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
        .map_err(err("reset a sequence"))?;
    }
    Ok(())
}

/// The derived figures of every card with any activity, in one set-based
/// `UPDATE`: the same values `db::stats::refresh` computes for one customer
/// (the others keep the defaults, which are right for no activity; every
/// card was inserted with `stats_at` = now).
fn refresh_all(conn: &mut DbConn, now_secs: i64) -> BenchResult<()> {
    let now = chrono::DateTime::from_timestamp(now_secs, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| "bad clock".to_string())?;
    let start = stats::literal(stats::window_start(now));
    let purchase = db::purchase("");
    let sql = format!(
        "UPDATE customers SET
            last_contact_at = x.last_contact_at, open_complaints = x.open_complaints,
            purchase_count = x.n, first_purchase_at = x.first_at, last_purchase_at = x.last_at,
            lifetime_revenue_cents = x.revenue, lifetime_profit_cents = x.profit,
            revenue_12m_cents = x.revenue_12m, profit_12m_cents = x.profit_12m
         FROM (SELECT customer_id, MAX(last_contact_at) AS last_contact_at,
                      CAST(SUM(open_complaints) AS BIGINT) AS open_complaints,
                      CAST(SUM(n) AS BIGINT) AS n, MIN(first_at) AS first_at, MAX(last_at) AS last_at,
                      CAST(SUM(revenue) AS BIGINT) AS revenue, CAST(SUM(profit) AS BIGINT) AS profit,
                      CAST(SUM(revenue_12m) AS BIGINT) AS revenue_12m,
                      CAST(SUM(profit_12m) AS BIGINT) AS profit_12m
               FROM (SELECT customer_id, MAX(occurred_at) AS last_contact_at,
                            SUM(CASE WHEN type = 'complaint' AND complaint_status = 'open' THEN 1 ELSE 0 END) AS open_complaints,
                            0 AS n, NULL AS first_at, NULL AS last_at,
                            0 AS revenue, 0 AS profit, 0 AS revenue_12m, 0 AS profit_12m
                     FROM interactions GROUP BY customer_id
                     UNION ALL
                     SELECT customer_id, NULL, 0, COUNT(CASE WHEN {purchase} THEN 1 END),
                            MIN(CASE WHEN {purchase} THEN occurred_at END),
                            MAX(CASE WHEN {purchase} THEN occurred_at END),
                            SUM(amount_cents), SUM(amount_cents - cost_cents),
                            SUM(CASE WHEN occurred_at >= {start} THEN amount_cents ELSE 0 END),
                            SUM(CASE WHEN occurred_at >= {start} THEN amount_cents - cost_cents ELSE 0 END)
                     FROM transactions GROUP BY customer_id) AS u
               GROUP BY customer_id) AS x
         WHERE customers.id = x.customer_id"
    );
    conn.batch_execute(&sql).map_err(err("derived figures"))
}

fn analyze(conn: &mut DbConn) -> BenchResult<()> {
    match conn {
        DbConn::Sqlite(c) => c
            .batch_execute("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(err("analyze")),
        // VACUUM also sets the visibility map (index-only scans), as
        // autovacuum does on a live database.
        DbConn::Postgresql(c) => c.batch_execute("VACUUM ANALYZE").map_err(err("analyze")),
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn number(conn: &mut DbConn, sql: &str) -> BenchResult<i64> {
    let rows: Vec<Number> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql).load(c),
    }
    .map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Foreign keys were off during the SQLite load: check them now.
fn integrity(conn: &mut DbConn) -> BenchResult<()> {
    #[derive(QueryableByName)]
    struct Violation {
        #[diesel(sql_type = Text)]
        table: String,
    }
    if let DbConn::Sqlite(c) = conn {
        let bad: Vec<Violation> = diesel::sql_query("PRAGMA foreign_key_check")
            .load(c)
            .map_err(err("foreign_key_check"))?;
        if let Some(v) = bad.first() {
            return Err(format!(
                "{} foreign key violations (first in {})",
                bad.len(),
                v.table
            ));
        }
        c.batch_execute("PRAGMA foreign_keys = ON;")
            .map_err(err("foreign keys"))?;
    }
    Ok(())
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(
    conn: &mut DbConn,
    url: &str,
    data: &Dataset,
    loaded: &[(&'static str, usize)],
    phases: &Phases,
    total: f64,
    (job_rows, job_secs): (usize, f64),
) -> BenchResult<()> {
    let size = match conn {
        DbConn::Sqlite(_) => std::fs::metadata(db::sqlite_path(url))
            .map(|m| m.len() as i64)
            .unwrap_or(0),
        DbConn::Postgresql(_) => number(conn, "SELECT pg_database_size(current_database()) AS n")?,
    };
    let due = number(
        conn,
        &format!(
            "SELECT COUNT(*) AS n FROM interactions \
             WHERE follow_up_done_at IS NULL AND follow_up_at < {}",
            stats::literal(db::now())
        ),
    )?;
    let open = number(
        conn,
        "SELECT CAST(COALESCE(SUM(open_complaints), 0) AS BIGINT) AS n FROM customers",
    )?;

    let mut per = data.activity_per_customer.clone();
    per.sort_unstable();
    let active = per.iter().filter(|n| **n > 0).count();
    let top: Vec<String> = per.iter().rev().take(5).map(u32::to_string).collect();
    let rows: usize = loaded.iter().map(|(_, n)| n).sum();

    println!("### Seed");
    println!();
    println!("| table | rows |");
    println!("|---|---:|");
    for (table, n) in loaded {
        println!("| {table} | {n} |");
    }
    println!();
    println!(
        "Activity per customer (interactions + transactions): {active} of {} customers have \
         some; median {}, p90 {}, p99 {}, max {} (top 5: {}). Pending follow-ups already due: \
         {due}; open complaints: {open}. Database size: {:.0} MB.",
        per.len(),
        percentile(&per, 0.5),
        percentile(&per, 0.9),
        percentile(&per, 0.99),
        per.last().copied().unwrap_or(0),
        top.join(", "),
        size as f64 / 1_048_576.0
    );
    println!();
    println!("| phase | seconds |");
    println!("|---|---:|");
    for (name, secs) in &phases.rows {
        println!("| {name} | {secs:.2} |");
    }
    println!(
        "| **total** ({rows} rows, {:.0} rows/s) | **{total:.2}** |",
        rows as f64 / total
    );
    println!();
    println!(
        "The 12-month window refresh (`stats::refresh_windows`, run at start-up and every \
         `PATRON_STATS_REFRESH_SECS`) took {job_secs:.2} s for {job_rows} customers."
    );
    Ok(())
}
