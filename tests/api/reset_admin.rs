//! `patron reset-admin-password <email>`: the way back in when the only
//! admin's password is lost (`PATRON_ADMIN_PASSWORD` is read on an empty
//! database only), and the start's words about the first admin: a first
//! start with a chosen password names it, a later one warns that
//! `PATRON_ADMIN_PASSWORD` is ignored.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::binary::{command, Server, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::helpers::EmptyPgDatabase;

const NEW_PASSWORD: &str = "a new admin password";

/// The command with `stdin` as its input.
fn reset(url: &str, email: &str, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(["reset-admin-password", email])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("the password");
    drop(input);
    child.wait_with_output().expect("it ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The server on `url`, its stdout and stderr into files of `dir`.
async fn start(url: &str, dir: &std::path::Path, name: &str) -> Server {
    let mut server = command(url, "warn");
    let file = |suffix: &str| std::fs::File::create(dir.join(format!("{name}.{suffix}")));
    server
        .stdout(file("out").expect("a file"))
        .stderr(file("err").expect("a file"));
    Server::spawn(server).await
}

async fn login(server: &Server, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/token", server.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("the login answers")
}

async fn the_admin_password_is_reset_from_the_command_line(url: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();

    // The password's rule first: nothing is opened for a bad one.
    let out = reset(url, ADMIN_EMAIL, "too short\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the new password must be 10 to 128 characters long"),
        "{}",
        text(&out.stderr)
    );

    // Before the first start, a reset finds no database (SQLite: no file,
    // and it makes none) or one without an admin (PostgreSQL): a reset run
    // from the wrong directory made a new database and said "no user has
    // the email" (a review).
    let out = reset(url, ADMIN_EMAIL, &format!("{NEW_PASSWORD}\n"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    if url.starts_with("sqlite:") {
        assert!(stderr.contains("no SQLite database at"), "{stderr}");
        assert!(!std::path::Path::new(patron::db::sqlite_path(url)).exists());
    } else {
        assert!(stderr.contains("this database has no admin"), "{stderr}");
    }

    // A first start with PATRON_ADMIN_PASSWORD names the admin it created.
    let mut server = start(url, dir.path(), "first").await;
    let r = login(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let old_token = body["access_token"].as_str().expect("a token").to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/users", server.base))
        .bearer_auth(&old_token)
        .json(&json!({"email": "viewer@example.com", "name": "V", "role": "viewer", "password": NEW_PASSWORD}))
        .send()
        .await
        .expect("the create answers");
    assert_eq!(r.status(), 201);
    server.terminate();
    let first = read("first.out");
    assert!(
        first.contains(&format!(
            "/api/v1/auth/token as {ADMIN_EMAIL} with PATRON_ADMIN_PASSWORD"
        )),
        "{first}"
    );
    assert!(
        !read("first.err").contains("is ignored"),
        "{}",
        read("first.err")
    );

    // Only an active admin, named in the error with the others.
    for (email, error) in [
        (
            "viewer@example.com",
            "viewer@example.com is not an active admin",
        ),
        (
            "nobody@example.com",
            "no user has the email nobody@example.com",
        ),
    ] {
        let out = reset(url, email, &format!("{NEW_PASSWORD}\n"));
        assert_eq!(out.status.code(), Some(1), "{email}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
        assert!(
            stderr.contains(&format!("the active admins: {ADMIN_EMAIL}")),
            "{stderr}"
        );
    }

    // Typed in another case, with a terminal's line ending.
    let out = reset(url, "ADMIN@Example.com", &format!("{NEW_PASSWORD}\r\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "The password of admin {ADMIN_EMAIL} (user 1) is reset"
        )),
        "{stdout}"
    );

    // A later start: the new password logs in, the old one and its token
    // no longer do, and PATRON_ADMIN_PASSWORD (still set) is said ignored.
    let mut server = start(url, dir.path(), "later").await;
    assert_eq!(
        login(&server, ADMIN_EMAIL, NEW_PASSWORD).await.status(),
        200
    );
    assert_eq!(
        login(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        401
    );
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/users", server.base))
        .bearer_auth(&old_token)
        .send()
        .await
        .expect("the list answers");
    assert_eq!(r.status(), 401);
    server.terminate();
    let later = read("later.err");
    assert!(
        later.contains(
            "PATRON_ADMIN_PASSWORD is ignored: the database already has users; to reset a \
             password use `patron reset-admin-password <email>`"
        ),
        "{later}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_password_is_reset_from_the_command_line_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("reset.db").display());
    the_admin_password_is_reset_from_the_command_line(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_password_is_reset_from_the_command_line_postgres() {
    let Some(db) = EmptyPgDatabase::create("reset_admin") else {
        return;
    };
    the_admin_password_is_reset_from_the_command_line(&db.url).await;
}
