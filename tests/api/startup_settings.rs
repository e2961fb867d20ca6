//! Settings the service refuses at start-up: the real binary stops with a
//! message naming the setting, instead of running with a value that would
//! not do what was meant.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::command;

/// Starts the binary with `settings` on a fresh database; returns its stderr
/// once it stopped on its own, and fails the test if it kept running.
fn refused_start(settings: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("settings.db").display());
    let mut command = command(&url, "warn");
    command.stderr(Stdio::piped());
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the server binary runs");
    let started = Instant::now();
    while child.try_wait().expect("its status").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("it started with {settings:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("its output");
    assert!(!out.status.success(), "{settings:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_trusted_proxy_that_is_no_address_stops_the_start() {
    let stderr = refused_start(&[("PATRON_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/33")]);
    assert!(
        stderr.contains(
            "PATRON_TRUSTED_PROXIES: \"10.0.0.0/33\" is not an IP address or a CIDR range"
        ),
        "{stderr}"
    );
}

/// The first admin is held to the rules of `POST /users`.
#[test]
fn a_first_admin_that_post_users_would_refuse_stops_the_start() {
    let stderr = refused_start(&[("PATRON_ADMIN_PASSWORD", "x")]);
    assert!(
        stderr.contains("PATRON_ADMIN_PASSWORD must be 10 to 128 characters long"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\"x\""),
        "the password is printed: {stderr}"
    );
    let stderr = refused_start(&[("PATRON_ADMIN_EMAIL", "not an email")]);
    assert!(
        stderr.contains("PATRON_ADMIN_EMAIL \"not an email\" must be a valid email address"),
        "{stderr}"
    );
}

/// The JWT secret's 32 characters are characters, not bytes, and not blanks.
#[test]
fn a_jwt_secret_of_few_characters_or_only_whitespace_stops_the_start() {
    // 11 characters in 33 bytes.
    let stderr = refused_start(&[("PATRON_JWT_SECRET", &"密".repeat(11))]);
    assert!(
        stderr.contains("PATRON_JWT_SECRET must be at least 32 characters, got 11"),
        "{stderr}"
    );
    let stderr = refused_start(&[("PATRON_JWT_SECRET", &" ".repeat(40))]);
    assert!(stderr.contains("PATRON_JWT_SECRET is blank"), "{stderr}");
}
