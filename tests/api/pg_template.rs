//! The migrated PostgreSQL database every PostgreSQL test copies.
//!
//! A test on PostgreSQL used to create an empty database (~0.4 s here) and
//! then run every migration in it (~0.5 s more): the migrations were a third
//! of the whole suite's time on PostgreSQL. Now they run once, in a template
//! named after the migrations' content, and each test's `CREATE DATABASE …
//! TEMPLATE` copies it. The template stays on the server for the next run;
//! when the migrations change, the next run builds a new one and drops the
//! old ones that no run has used for an hour (a checkout with other
//! migrations, testing against the same server at the same time, keeps its
//! own: each run marks its template as used when it starts).

use std::sync::OnceLock;

use diesel::{Connection, PgConnection, RunQueryDsl};
use patron::db::DbConn;
use sha2::{Digest, Sha256};

use crate::helpers::with_database;

const PREFIX: &str = "patron_test_template_";

/// The template's name, built on first use (once per test process).
pub fn template(admin: &str) -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| build(admin))
}

/// `CREATE DATABASE name` as a copy of the template. A copy fails while
/// another session is connected to the template (e.g. when another test
/// process is just renaming its freshly built one), so it is retried.
pub fn create_copy(conn: &mut PgConnection, admin: &str, name: &str) {
    let template = template(admin);
    let mut last_error = None;
    for _ in 0..20 {
        match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(conn)
        {
            Ok(_) => return,
            Err(e) => last_error = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("create test database {name} from {template}: {last_error:?}");
}

fn build(admin: &str) -> String {
    let name = format!("{PREFIX}{}", migrations_digest());
    let mut conn = PgConnection::establish(admin).unwrap_or_else(|e| {
        panic!("PATRON_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {e}")
    });
    if database_exists(&mut conn, &name) {
        mark_used(&mut conn, &name);
        return name;
    }
    // Built under a private name and renamed when complete, so that a
    // template under the final name is always fully migrated, also when
    // several test processes start at once.
    let building = format!("{name}_{}", std::process::id());
    execute(&mut conn, &format!("DROP DATABASE IF EXISTS {building}"));
    // A locale-aware collation, as most production servers have: whatever
    // Patron orders in SQL and compares in Rust must agree under it too (the
    // server's own default may be C). Copies inherit it.
    execute(
        &mut conn,
        &format!(
            "CREATE DATABASE {building} TEMPLATE template0 ENCODING 'UTF8' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        ),
    );
    {
        let target = PgConnection::establish(&with_database(admin, &building))
            .unwrap_or_else(|e| panic!("connect to {building}: {e}"));
        patron::db::migrate::run(&mut DbConn::Postgresql(target))
            .unwrap_or_else(|e| panic!("migrate {building}: {e}"));
    }
    // The migrating session's backend may still be exiting (the rename fails
    // while anyone is connected): retry for a while.
    for _ in 0..50 {
        let renamed = diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
            .execute(&mut conn)
            .is_ok();
        if renamed {
            mark_used(&mut conn, &name);
            drop_older_templates(&mut conn, &name);
            return name;
        }
        if database_exists(&mut conn, &name) {
            mark_used(&mut conn, &name);
            // Another process published the same template first.
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut conn);
            return name;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("could not rename {building} to {name}");
}

/// How long a template of other migrations stays unused before a run with
/// new migrations drops it: far longer than a test run, which marks its
/// template used when it starts.
const UNUSED_FOR_SECS: u64 = 3600;

const USED_AT: &str = "patron test template, used at ";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records in the template's comment when a test run last started on it.
fn mark_used(conn: &mut PgConnection, name: &str) {
    let _ = diesel::sql_query(format!(
        "COMMENT ON DATABASE {name} IS '{USED_AT}{}'",
        unix_now()
    ))
    .execute(conn);
}

/// Templates of other migrations that no run has used for an hour. A
/// template dropped while another checkout's suite was copying it failed
/// that whole run ("template database ... does not exist"): two checkouts
/// with different migrations tested against one server at the same time.
fn drop_older_templates(conn: &mut PgConnection, current: &str) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        comment: Option<String>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT datname, shobj_description(oid, 'pg_database') AS comment \
         FROM pg_database WHERE datname LIKE $1",
    )
    .bind::<diesel::sql_types::Text, _>(format!("{PREFIX}%"))
    .load(conn)
    .unwrap_or_default();
    let complete = |n: &str| {
        n.strip_prefix(PREFIX)
            .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let now = unix_now();
    let unused = |comment: Option<&str>| {
        comment
            .and_then(|c| c.strip_prefix(USED_AT))
            .and_then(|t| t.parse::<u64>().ok())
            .is_none_or(|used| now.saturating_sub(used) > UNUSED_FOR_SECS)
    };
    for row in rows {
        if row.datname != current && complete(&row.datname) && unused(row.comment.as_deref()) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", row.datname)).execute(conn);
        }
    }
}

/// 16 hex digits of a SHA-256 over every PostgreSQL migration's path and text.
fn migrations_digest() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files = Vec::new();
    let dirs = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for dir in dirs.flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            let relative = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
            files.push((relative, path));
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for (relative, file) in files {
        // Relative, so that every checkout of the same migrations shares one.
        hash.update(relative.to_string_lossy().as_bytes());
        hash.update(std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())));
    }
    hex::encode(&hash.finalize()[..8])
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .load::<Found>(conn)
        .is_ok_and(|rows| !rows.is_empty())
}

fn execute(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
