//! A tiny `--flag value` parser: the bench needs no more than that.

use std::collections::HashMap;
use std::str::FromStr;

use crate::BenchResult;

/// Flags that take no value.
const SWITCHES: &[&str] = &["fresh", "wallets", "export-only"];

pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    pub fn parse(argv: impl Iterator<Item = String>) -> BenchResult<Args> {
        let mut values = HashMap::new();
        let mut argv = argv.peekable();
        while let Some(arg) = argv.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {arg:?} (flags start with --)"))?;
            if let Some((name, value)) = name.split_once('=') {
                values.insert(name.to_string(), value.to_string());
            } else if SWITCHES.contains(&name) {
                values.insert(name.to_string(), "true".to_string());
            } else {
                let value = argv
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                values.insert(name.to_string(), value);
            }
        }
        Ok(Args { values })
    }

    pub fn string(&self, name: &str) -> BenchResult<String> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v != "false")
    }

    pub fn number<T: FromStr>(&self, name: &str, default: T) -> BenchResult<T> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => parse_number(name, v),
        }
    }

    pub fn required_number<T: FromStr>(&self, name: &str) -> BenchResult<T> {
        parse_number(name, &self.string(name)?)
    }

    /// A comma-separated list of numbers, e.g. `--clients 1,4`.
    pub fn numbers<T: FromStr + Clone>(&self, name: &str, default: &[T]) -> BenchResult<Vec<T>> {
        match self.values.get(name) {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_number(name, s))
                .collect(),
        }
    }
}

/// Accepts `2000000`, `2_000_000`, `2M` and `100k`.
fn parse_number<T: FromStr>(name: &str, raw: &str) -> BenchResult<T> {
    let cleaned = raw.replace('_', "");
    let expanded = if let Some(n) = cleaned.strip_suffix(['k', 'K']) {
        format!("{n}000")
    } else if let Some(n) = cleaned.strip_suffix(['m', 'M']) {
        format!("{n}000000")
    } else {
        cleaned
    };
    expanded
        .parse()
        .map_err(|_| format!("--{name}: not a number: {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> BenchResult<Args> {
        Args::parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_values_and_suffixes() {
        let a = args(&[
            "--customers",
            "100k",
            "--activity=2M",
            "--fresh",
            "--clients",
            "1,4",
        ]);
        let a = a.ok();
        let a = a.as_ref();
        assert_eq!(
            a.and_then(|a| a.number::<u32>("customers", 0).ok()),
            Some(100_000)
        );
        assert_eq!(
            a.and_then(|a| a.number::<u64>("activity", 0).ok()),
            Some(2_000_000)
        );
        assert_eq!(a.map(|a| a.flag("fresh")), Some(true));
        assert_eq!(
            a.and_then(|a| a.numbers::<usize>("clients", &[]).ok()),
            Some(vec![1, 4])
        );
        assert!(args(&["stray"]).is_err());
        assert!(args(&["--customers"]).is_err());
    }
}
