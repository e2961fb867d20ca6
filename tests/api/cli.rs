//! The command line of the real binary: help, version, refused arguments,
//! and `patron openapi` into a pipe that closes early.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn patron(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_prints_the_commands_and_where_the_settings_are_and_succeeds() {
    for flag in ["--help", "-h", "help"] {
        let out = patron(&[flag]);
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("usage: patron [serve]"), "{stdout}");
        assert!(stdout.contains("patron openapi"), "{stdout}");
        assert!(stdout.contains("README.md"), "{stdout}");
        assert!(out.stderr.is_empty(), "{flag}: {}", text(&out.stderr));
    }
}

#[test]
fn version_prints_the_version_and_succeeds() {
    for flag in ["--version", "-V"] {
        let out = patron(&[flag]);
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        assert_eq!(
            text(&out.stdout),
            format!("patron {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// Extra arguments were ignored (`patron openapi extra` printed the spec,
/// `patron serve x` started the service).
#[test]
fn unknown_commands_and_extra_arguments_exit_2_with_the_usage_on_stderr() {
    for (args, error) in [
        (&["--bogus"][..], "error: unknown command \"--bogus\""),
        (
            &["openapi", "extra"][..],
            "error: openapi takes no arguments",
        ),
        (&["serve", "x"][..], "error: serve takes no arguments"),
        (&["--help", "x"][..], "error: --help takes no arguments"),
    ] {
        let out = patron(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(error), "{args:?}: {stderr}");
        assert!(
            stderr.contains("usage: patron [serve]"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `patron openapi | head -1`: the spec (~490 KB) outgrows the pipe, and the
/// write after the reader left panicked ("failed printing to stdout").
#[test]
fn openapi_into_a_pipe_closed_early_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_patron"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a line");
    assert!(first.starts_with("openapi: "), "{first}");
    // The reader is gone.
    let out = child.wait_with_output().expect("it ends");
    assert!(out.status.success(), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}
