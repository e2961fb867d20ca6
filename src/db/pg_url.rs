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
///   libpq's least is 2 s), so a connect attempt never outlives the request
///   that waits for it;
/// - `keepalives_idle=30`, `keepalives_interval=10`, `keepalives_count=3`: a
///   server that stopped answering is noticed ~60 s into a wait, not two hours;
/// - `tcp_user_timeout=60000`: data the server has not acknowledged for 60 s
///   ends the connection;
/// - `application_name=patron`: the sessions are named in `pg_stat_activity`.
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
        ("application_name", "patron", Some("PGAPPNAME")),
    ];
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let named: Vec<&str> = query
        .split('&')
        .map(|pair| pair.split_once('=').map(|(k, _)| k).unwrap_or(pair))
        .collect();
    let mut out = url.to_string();
    for (key, value, env) in defaults {
        let from_env = env.is_some_and(&env_has);
        if named.contains(&key) || from_env {
            continue;
        }
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    /// No libpq variable set.
    fn with_defaults(url: &str, timeout_secs: u64) -> String {
        super::with_defaults(url, timeout_secs, |_| false)
    }

    const ADDED: &str = "keepalives_idle=30&keepalives_interval=10&keepalives_count=3\
                         &tcp_user_timeout=60000&application_name=patron";

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
        let url = "postgres://db/p?application_name=crm-east&connect_timeout=20\
                   &keepalives_idle=5&keepalives_interval=1&keepalives_count=9\
                   &tcp_user_timeout=0";
        assert_eq!(with_defaults(url, 5), url);
        assert_eq!(
            with_defaults("postgres://db/p?keepalives_idle=5", 7),
            "postgres://db/p?keepalives_idle=5&connect_timeout=7&keepalives_interval=10\
             &keepalives_count=3&tcp_user_timeout=60000&application_name=patron"
        );
    }

    /// `PGCONNECT_TIMEOUT` and `PGAPPNAME` are libpq's own way to choose;
    /// a parameter in the URL would override them.
    #[test]
    fn libpqs_environment_is_left_to_choose() {
        let url = super::with_defaults("postgres://db/p", 5, |name| {
            matches!(name, "PGCONNECT_TIMEOUT" | "PGAPPNAME")
        });
        assert_eq!(
            url,
            "postgres://db/p?keepalives_idle=30&keepalives_interval=10&keepalives_count=3\
             &tcp_user_timeout=60000"
        );
    }
}
