//! The libpq settings Patron adds to a PostgreSQL URL that does not choose
//! them: without them libpq waits forever for a server that accepts the
//! connection and never answers (no `connect_timeout`), and notices a
//! server that vanished without a word (a host gone, a network path cut)
//! only after the kernel's two hours of TCP keepalive idleness or ~15
//! minutes of retransmissions, all that time holding a blocking thread and
//! a pooled connection.

/// `url` with each of these parameters that it does not set already, nor
/// libpq's environment (`env_has(name)`: is the variable set?):
///
/// - `connect_timeout`: `timeout_secs` (the pool's wait, `PATRON_DB_TIMEOUT_SECS`;
///   libpq's least is 2 s) per address tried, so a silent server costs a
///   bounded wait (a host name with two addresses, or several hosts, twice
///   or more that);
/// - `keepalives_idle=30`, `keepalives_interval=10`, `keepalives_count=3`: a
///   server that stopped answering is noticed ~60 s into a wait, not two hours;
/// - `tcp_user_timeout=60000`: data the server has not acknowledged for 60 s
///   ends the connection (libpq ignores these four on a Unix socket);
/// - `fallback_application_name=patron`: the sessions are named in
///   `pg_stat_activity` unless `application_name` or `PGAPPNAME` names them.
pub fn with_defaults(url: &str, timeout_secs: u64, env_has: impl Fn(&str) -> bool) -> String {
    let connect_timeout = timeout_secs.max(2).to_string();
    let defaults: [(&str, &str, Option<&str>); 6] = [
        (
            "connect_timeout",
            &connect_timeout,
            Some("PGCONNECT_TIMEOUT"),
        ),
        ("keepalives_idle", "30", None),
        ("keepalives_interval", "10", None),
        ("keepalives_count", "3", None),
        ("tcp_user_timeout", "60000", None),
        ("fallback_application_name", "patron", None),
    ];
    let query = query_of(url);
    let named: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .map(|pair| percent_decoded(pair.split_once('=').map(|(k, _)| k).unwrap_or(pair)))
        .collect();
    let mut out = url.to_string();
    let mut has_query = query.is_some();
    for (key, value, env) in defaults {
        if named.iter().any(|n| n == key) || env.is_some_and(&env_has) {
            continue;
        }
        // A URL may end in `?` or `&`, which libpq accepts: no empty pair.
        if !has_query {
            out.push('?');
            has_query = true;
        } else if !out.ends_with(['?', '&']) {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The query of a `postgres://` URL as libpq finds it: after the path, and
/// a `?` in the user's password (before the `@` that ends the user info)
/// is not its start.
fn query_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let after_user = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
    let from = &rest[after_user..];
    from.find('?').map(|q| &from[q + 1..])
}

/// `text` (an error about `url`) with the URL's password masked (`***`),
/// as written and as decoded: libpq quotes the part of the URL it could not
/// read (`invalid percent-encoded token: "SeC%ZZ"`), and start-up errors go
/// to stderr, which is usually collected into the logs.
pub fn redact(url: &str, text: &str) -> String {
    let mut out = text.to_string();
    for secret in passwords(url) {
        let decoded = percent_decoded(secret);
        for form in [secret, decoded.as_str()] {
            if !form.is_empty() {
                out = out.replace(form, "***");
            }
        }
    }
    out
}

/// The passwords in a `postgres://` URL: the user info's (`user:secret@`)
/// and any `password=` parameter's, as written.
fn passwords(url: &str) -> Vec<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let user_info = authority.rfind('@').map(|at| &authority[..at]);
    let mut found: Vec<&str> = user_info
        .and_then(|u| u.split_once(':'))
        .map(|(_, secret)| secret)
        .into_iter()
        .collect();
    for pair in query_of(url).unwrap_or_default().split('&') {
        if let Some((key, value)) = pair.split_once('=') {
            if percent_decoded(key) == "password" {
                found.push(value);
            }
        }
    }
    found
}

/// `%XX` decoded, as libpq reads a parameter's name.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` naming the database `name` instead of its own, keeping its
/// parameters (tests and tools make databases of their own on a server).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host = base.find("://").map_or(0, |i| i + 3);
    let base = base[host..].find('/').map_or(base, |i| &base[..host + i]);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    /// No libpq variable set.
    fn with_defaults(url: &str, timeout_secs: u64) -> String {
        super::with_defaults(url, timeout_secs, |_| false)
    }

    const ADDED: &str = "keepalives_idle=30&keepalives_interval=10&keepalives_count=3\
                         &tcp_user_timeout=60000&fallback_application_name=patron";

    #[test]
    fn each_setting_the_url_leaves_open_is_added() {
        assert_eq!(
            with_defaults("postgres://u:p@db:5432/patron", 5),
            format!("postgres://u:p@db:5432/patron?connect_timeout=5&{ADDED}")
        );
        // libpq's least connect timeout is 2 s.
        assert_eq!(
            with_defaults("postgres://db/patron?sslmode=require", 1),
            format!("postgres://db/patron?sslmode=require&connect_timeout=2&{ADDED}")
        );
    }

    #[test]
    fn the_urls_own_choices_stay() {
        let url = "postgres://db/p?fallback_application_name=crm-east&connect_timeout=20\
                   &keepalives_idle=5&keepalives_interval=1&keepalives_count=9\
                   &tcp_user_timeout=0";
        assert_eq!(with_defaults(url, 5), url);
        assert_eq!(
            with_defaults("postgres://db/p?keepalives_idle=5", 7),
            "postgres://db/p?keepalives_idle=5&connect_timeout=7&keepalives_interval=10\
             &keepalives_count=3&tcp_user_timeout=60000&fallback_application_name=patron"
        );
        // libpq decodes parameter names.
        assert_eq!(
            with_defaults(&format!("postgres://db/p?connect%5Ftimeout=9&{ADDED}"), 5),
            format!("postgres://db/p?connect%5Ftimeout=9&{ADDED}")
        );
    }

    /// A `?` in the password is not the query's start; a URL ending in
    /// `?` or `&` gets no empty pair (libpq rejects one).
    #[test]
    fn the_query_is_found_where_libpq_finds_it() {
        assert_eq!(
            with_defaults("postgres://u:p?w@db/p", 5),
            format!("postgres://u:p?w@db/p?connect_timeout=5&{ADDED}")
        );
        assert_eq!(
            with_defaults("postgres://u:p?w@db/p?sslmode=require&", 5),
            format!("postgres://u:p?w@db/p?sslmode=require&connect_timeout=5&{ADDED}")
        );
        assert_eq!(
            with_defaults("postgres://db/p?", 5),
            format!("postgres://db/p?connect_timeout=5&{ADDED}")
        );
        assert_eq!(
            with_defaults("postgres:///p?host=/var/run/postgresql", 5),
            format!("postgres:///p?host=/var/run/postgresql&connect_timeout=5&{ADDED}")
        );
    }

    #[test]
    fn a_password_is_masked_as_written_and_as_decoded() {
        use super::redact;
        let url = "postgres://patron:SeC%ZZ@127.0.0.1:5432/db";
        assert_eq!(
            redact(url, "invalid percent-encoded token: \"SeC%ZZ\""),
            "invalid percent-encoded token: \"***\""
        );
        let url = "postgres://u:p%40ss%2Fw0rd@db/p?sslmode=require&password=qu%3Dery";
        assert_eq!(
            redact(url, &format!("{url} p@ss/w0rd qu=ery qu%3Dery")),
            "postgres://u:***@db/p?sslmode=require&password=*** *** *** ***"
        );
        // No password: nothing to mask.
        assert_eq!(redact("postgres://u@db/p", "u@db"), "u@db");
        assert_eq!(redact("postgres://db/p", "text"), "text");
    }

    /// `PGCONNECT_TIMEOUT` is libpq's own way to choose; a parameter in the
    /// URL would override it (`PGAPPNAME` wins over a fallback name anyway).
    #[test]
    fn libpqs_environment_is_left_to_choose() {
        let url = super::with_defaults("postgres://db/p", 5, |name| name == "PGCONNECT_TIMEOUT");
        assert_eq!(url, format!("postgres://db/p?{ADDED}"));
    }

    #[test]
    fn a_url_gets_the_database_named() {
        for (url, want) in [
            ("postgres://u:p@h:5432/postgres", "postgres://u:p@h:5432/x"),
            (
                "postgres://u:p@h/postgres?sslmode=require",
                "postgres://u:p@h/x?sslmode=require",
            ),
            ("postgres://h", "postgres://h/x"),
        ] {
            assert_eq!(super::with_database(url, "x"), want, "{url}");
        }
    }
}
