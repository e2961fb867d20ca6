//! The data generator: a reproducible data set with realistic skew.
//!
//! Every customer draws an activity weight from a Pareto distribution
//! (`PROFILE.pareto_alpha` 1.16 is the 80/20 rule), capped so the biggest
//! "whales" get about 20,000 rows in a 2M-row set; a share of customers are
//! fresh leads with no activity at all. Each interaction or transaction then
//! picks its customer in proportion to the weights, and happens at a uniform
//! instant between the customer's creation (within the last 3 years) and now.
//! Rows are sorted by time before ids are given, so ids grow with time as in
//! a database filled by real use (a customer's rows are scattered).
//!
//! The same seed gives the same rows on SQLite and PostgreSQL.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// How far back the history goes.
pub const HISTORY_DAYS: i64 = 3 * 365;

/// The shape of the data: change these to model another business.
pub struct Profile {
    /// Pareto shape of the per-customer activity weight (1.16: 20 % of the
    /// customers have 80 % of the activity).
    pub pareto_alpha: f64,
    /// Cap on a weight (the minimum weight is 1): bounds the whales.
    pub whale_cap: f64,
    /// Customers with no activity at all (fresh leads).
    pub inactive_share: f64,
    /// Share of activity rows that are interactions (the rest: transactions).
    pub interaction_share: f64,
    /// Interactions whose follow-up is pending, due within ±30 days of now.
    pub pending_follow_up_share: f64,
    /// Older interactions whose follow-up was done.
    pub done_follow_up_share: f64,
    /// Share of customers with tags.
    pub tagged_share: f64,
    /// Sales users owning the customers.
    pub sales_users: u32,
}

pub const PROFILE: Profile = Profile {
    pareto_alpha: 1.16,
    whale_cap: 5_000.0,
    inactive_share: 0.10,
    interaction_share: 0.60,
    pending_follow_up_share: 0.10,
    done_follow_up_share: 0.15,
    tagged_share: 0.30,
    sales_users: 20,
};

/// The first sales user's id (the admin is 1).
pub const FIRST_SALES_ID: i64 = 2;

pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: &'static str,
}

pub struct Customer {
    pub id: i64,
    pub kind: &'static str,
    pub name: String,
    pub company: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub region: &'static str,
    pub industry: Option<&'static str>,
    pub owner_id: i64,
    pub acquisition_source: &'static str,
    pub funnel_stage: &'static str,
    pub created_at: i64,
    pub tags: Vec<&'static str>,
    /// The customer's annual spend on our kind of products (all suppliers);
    /// drawn only by `generate_with` with `wallets` on.
    pub wallet_size_cents: Option<i64>,
}

impl Customer {
    /// The text the list search matches (as `db::customers::search_text`).
    pub fn search_text(&self) -> String {
        [
            Some(&self.name),
            self.company.as_ref(),
            self.email.as_ref(),
            self.phone.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|s| patron::db::segments::fold(s))
        .collect::<Vec<_>>()
        .join("\u{1f}")
    }
}

pub struct Interaction {
    pub customer_id: i64,
    pub kind: &'static str,
    pub occurred_at: i64,
    pub user_id: i64,
    pub summary: &'static str,
    pub outcome: Option<&'static str>,
    pub follow_up_at: Option<i64>,
    pub follow_up_done_at: Option<i64>,
    pub complaint_status: Option<&'static str>,
    pub resolved_at: Option<i64>,
}

impl Interaction {
    pub fn channel(&self) -> &'static str {
        channel_of(self.kind)
    }

    pub fn updated_at(&self) -> i64 {
        self.occurred_at
            .max(self.follow_up_done_at.unwrap_or(0))
            .max(self.resolved_at.unwrap_or(0))
    }
}

pub struct Transaction {
    pub customer_id: i64,
    pub occurred_at: i64,
    pub amount_cents: i64,
    pub cost_cents: i64,
    pub product: &'static str,
    /// Rendered as `ERP-<id>` once ids are known.
    pub has_external_id: bool,
}

pub struct Event {
    pub customer_id: i64,
    pub to_value: &'static str,
    pub user_id: i64,
    pub at: i64,
}

pub struct Dataset {
    pub now: i64,
    pub users: Vec<User>,
    pub customers: Vec<Customer>,
    /// Sorted by `occurred_at`: the id of row `i` is `i + 1`.
    pub interactions: Vec<Interaction>,
    /// Sorted by `occurred_at`: the id of row `i` is `i + 1`.
    pub transactions: Vec<Transaction>,
    /// Sorted by `at`: the id of row `i` is `i + 1`.
    pub events: Vec<Event>,
    /// Activity rows (interactions + transactions) per customer, by index.
    pub activity_per_customer: Vec<u32>,
}

const REGIONS: &[(&str, u32)] = &[
    ("Hangzhou", 18),
    ("Shanghai", 16),
    ("Beijing", 12),
    ("Shenzhen", 10),
    ("Guangzhou", 9),
    ("Nanjing", 7),
    ("Suzhou", 7),
    ("Chengdu", 6),
    ("Wuhan", 5),
    ("Ningbo", 4),
    ("Xiamen", 3),
    ("Qingdao", 3),
];
const INDUSTRIES: &[&str] = &[
    "retail",
    "manufacturing",
    "health",
    "education",
    "logistics",
    "hospitality",
    "construction",
    "software",
];
const ORG_WORDS: &[&str] = &[
    "Huakang",
    "Jinxin",
    "Tianyu",
    "Hengda",
    "Minsheng",
    "Xinghe",
    "Ruifeng",
    "Baolong",
    "Dongfang",
    "Zhongtai",
    "Kaiyuan",
    "Longsheng",
];
const ORG_SUFFIXES: &[&str] = &[
    "Trading Co., Ltd.",
    "Technology Co., Ltd.",
    "Industrial Co., Ltd.",
    "Supply Chain Co.",
    "Group",
];
const SURNAMES: &[&str] = &[
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
];
const GIVEN: &[&str] = &[
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Qiang", "Yan", "Jun", "Hui", "Tao", "Ping",
];
const SOURCES: &[(&str, u32)] = &[
    ("referral", 25),
    ("trade_show", 15),
    ("cold_visit", 12),
    ("new_media", 14),
    ("advertising", 10),
    ("event", 8),
    ("directory_lookup", 6),
    ("records_analysis", 5),
    ("chain_expansion", 5),
];
const STAGES: &[(&str, u32)] = &[
    ("lead", 20),
    ("prospect", 25),
    ("ordinary", 35),
    ("won", 15),
    ("key", 5),
];
const TAGS: &[&str] = &[
    "vip",
    "wholesale",
    "online",
    "price-sensitive",
    "health",
    "export",
    "new-store",
    "renewal-due",
];
const KINDS: &[(&str, u32)] = &[
    ("call", 30),
    ("email", 20),
    ("message", 15),
    ("visit", 12),
    ("meeting", 8),
    ("care", 5),
    ("appointment_call", 4),
    ("reception", 3),
    ("complaint", 3),
];
const SUMMARIES: &[&str] = &[
    "Presented the new catalogue to the purchasing team",
    "Followed up on the last quote; waiting for the budget approval",
    "Checked satisfaction with the last delivery",
    "Discussed volume discounts for the next quarter",
    "Invited to the spring product launch",
    "Confirmed the delivery schedule with the warehouse manager",
    "Introduced the after-sales service plan",
    "Holiday greetings and a small gift",
];
const COMPLAINTS: &[&str] = &[
    "Late delivery of the last order",
    "Damaged packaging on arrival",
    "Invoice amount did not match the quote",
    "Support line did not call back",
];
const OUTCOMES: &[&str] = &[
    "Interested; send a formal quote",
    "Asked for samples",
    "No need this quarter",
    "Order promised for next week",
    "Needs approval from the general manager",
];
const PRODUCTS: &[&str] = &[
    "Standard pack",
    "Premium pack",
    "Annual service plan",
    "Spare parts kit",
    "Installation",
    "Training day",
    "Starter bundle",
    "Enterprise licence",
    "Maintenance visit",
    "Consumables box",
    "Extended warranty",
    "Custom order",
];

fn channel_of(kind: &str) -> &'static str {
    match kind {
        "email" => "email",
        "message" => "wechat",
        "visit" | "care" => "on site",
        "meeting" | "reception" => "office",
        _ => "phone",
    }
}

fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return *item;
        }
        r -= w;
    }
    items[0].0
}

fn one<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform instant in `[from, to]`.
fn between(rng: &mut StdRng, from: i64, to: i64) -> i64 {
    if to <= from {
        from
    } else {
        rng.gen_range(from..=to)
    }
}

/// The default data set (the `activity` suite's); the seed calls
/// `generate_with` with the same defaults.
#[cfg(test)]
pub fn generate(customers: u32, activity: u64, seed: u64, now: i64) -> Dataset {
    generate_with(
        customers,
        activity,
        seed,
        now,
        PROFILE.interaction_share,
        false,
    )
}

/// `generate` with another interaction share (0.05: nearly all activity is
/// transactions, for the pyramid benchmark) and, with `wallets`, wallet
/// sizes for part of the customers. The wallets come from their own random
/// stream, so the rows are the same as `generate`'s for the same share.
pub fn generate_with(
    customers: u32,
    activity: u64,
    seed: u64,
    now: i64,
    interaction_share: f64,
    wallets: bool,
) -> Dataset {
    let p = &PROFILE;
    let mut rng = StdRng::seed_from_u64(seed);

    let mut users = vec![User {
        id: 1,
        email: crate::server::ADMIN_EMAIL.to_string(),
        name: "Bench Administrator".to_string(),
        role: "admin",
    }];
    for n in 0..p.sales_users {
        users.push(User {
            id: FIRST_SALES_ID + i64::from(n),
            email: format!("sales{:02}@bench.local", n + 1),
            name: format!("{} {}", one(&mut rng, SURNAMES), one(&mut rng, GIVEN)),
            role: "sales",
        });
    }

    // Customers and their activity weights.
    let n = customers as usize;
    let mut cust = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        let id = i as i64 + 1;
        let weight = if rng.gen_bool(p.inactive_share) {
            0.0
        } else {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            u.powf(-1.0 / p.pareto_alpha).min(p.whale_cap)
        };
        weights.push(weight);
        let organization = rng.gen_bool(0.7);
        let region = weighted(&mut rng, REGIONS);
        let (name, company, industry) = if organization {
            let name = format!(
                "{} {} {} {:06}",
                region,
                one(&mut rng, ORG_WORDS),
                one(&mut rng, ORG_SUFFIXES),
                id
            );
            (name, None, Some(one(&mut rng, INDUSTRIES)))
        } else {
            let name = format!(
                "{} {} {:06}",
                one(&mut rng, SURNAMES),
                one(&mut rng, GIVEN),
                id
            );
            let company = rng
                .gen_bool(0.4)
                .then(|| format!("{} {}", region, one(&mut rng, ORG_WORDS)));
            (name, company, None)
        };
        let email = rng
            .gen_bool(0.6)
            .then(|| format!("contact{id}@example.com"));
        let phone = rng
            .gen_bool(0.7)
            .then(|| format!("1{:010}", rng.gen_range(3_000_000_000u64..9_999_999_999)));
        let funnel_stage = if weight == 0.0 {
            if rng.gen_bool(0.7) {
                "lead"
            } else {
                "prospect"
            }
        } else if weight > 100.0 {
            "key"
        } else {
            weighted(&mut rng, STAGES)
        };
        let tags = if rng.gen_bool(p.tagged_share) {
            let first = one(&mut rng, TAGS);
            let second = one(&mut rng, TAGS);
            if first == second {
                vec![first]
            } else {
                vec![first, second]
            }
        } else {
            Vec::new()
        };
        cust.push(Customer {
            id,
            kind: if organization {
                "organization"
            } else {
                "individual"
            },
            name,
            company,
            email,
            phone,
            region,
            industry,
            owner_id: FIRST_SALES_ID + i64::from(rng.gen_range(0..p.sales_users)),
            acquisition_source: weighted(&mut rng, SOURCES),
            funnel_stage,
            created_at: now - rng.gen_range(DAY..HISTORY_DAYS * DAY),
            tags,
            wallet_size_cents: None,
        });
    }

    // Activity: each row picks its customer in proportion to the weights.
    let mut cumulative = Vec::with_capacity(n);
    let mut total = 0.0;
    for w in &weights {
        total += w;
        cumulative.push(total);
    }
    let share = interaction_share.clamp(0.0, 1.0);
    let mut interactions = Vec::with_capacity((activity as f64 * share * 1.01) as usize);
    let mut transactions = Vec::with_capacity((activity as f64 * (1.01 - share)) as usize);
    let mut per_customer = vec![0u32; n];
    if total > 0.0 {
        for _ in 0..activity {
            let r = rng.gen_range(0.0..total);
            let idx = cumulative.partition_point(|c| *c <= r).min(n - 1);
            per_customer[idx] += 1;
            let c = &cust[idx];
            let occurred_at = between(&mut rng, c.created_at, now - 60);
            if rng.gen_bool(share) {
                interactions.push(interaction(&mut rng, c, occurred_at, now));
            } else {
                transactions.push(transaction(&mut rng, c, occurred_at));
            }
        }
    }
    interactions.sort_by_key(|i| i.occurred_at);
    transactions.sort_by_key(|t| t.occurred_at);
    if wallets {
        draw_wallets(&mut cust, &transactions, seed, now);
    }

    // History: the funnel stage change that brought each customer where it is.
    let mut events: Vec<Event> = cust
        .iter()
        .filter(|c| c.funnel_stage != "lead")
        .map(|c| Event {
            customer_id: c.id,
            to_value: c.funnel_stage,
            user_id: c.owner_id,
            at: between(
                &mut rng,
                c.created_at,
                c.created_at + (now - c.created_at) / 5,
            ),
        })
        .collect();
    events.sort_by_key(|e| e.at);

    Dataset {
        now,
        users,
        customers: cust,
        interactions,
        transactions,
        events,
        activity_per_customer: per_customer,
    }
}

/// Share of customers whose wallet size is known (sales asked them).
const WALLET_SHARE: f64 = 0.4;

/// Wallet sizes for `WALLET_SHARE` of the customers: what they bought from
/// us in the last 12 months (at least 1,000.00) times a log-normal factor
/// around 3 (from about 1×, we have all their business, to 30×), so the
/// shares of wallet spread over conversion, penetration and retention.
fn draw_wallets(cust: &mut [Customer], transactions: &[Transaction], seed: u64, now: i64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5741_4c4c_4554);
    let year_ago = now - 365 * DAY;
    let mut revenue = vec![0i64; cust.len()];
    for t in transactions.iter().filter(|t| t.occurred_at >= year_ago) {
        if let Some(r) = usize::try_from(t.customer_id - 1)
            .ok()
            .and_then(|i| revenue.get_mut(i))
        {
            *r += t.amount_cents;
        }
    }
    for (c, bought) in cust.iter_mut().zip(revenue) {
        if rng.gen_bool(WALLET_SHARE) {
            let factor = (1.1 + 0.9 * normal(&mut rng)).exp().clamp(0.9, 30.0);
            c.wallet_size_cents = Some((bought.max(100_000) as f64 * factor) as i64);
        }
    }
}

fn interaction(rng: &mut StdRng, c: &Customer, occurred_at: i64, now: i64) -> Interaction {
    let p = &PROFILE;
    let kind = weighted(rng, KINDS);
    let user_id = if rng.gen_bool(0.8) {
        c.owner_id
    } else {
        FIRST_SALES_ID + i64::from(rng.gen_range(0..p.sales_users))
    };
    let (mut follow_up_at, mut follow_up_done_at) = (None, None);
    let r: f64 = rng.gen();
    if r < p.pending_follow_up_share {
        // Pending, due within ±30 days of now (never before the contact).
        let due = now + rng.gen_range(-30 * DAY..30 * DAY);
        follow_up_at = Some(if due > occurred_at {
            due
        } else {
            occurred_at + rng.gen_range(3_600..2 * DAY)
        });
    } else if r < p.pending_follow_up_share + p.done_follow_up_share && occurred_at < now - 7 * DAY
    {
        let due = occurred_at + rng.gen_range(DAY..14 * DAY);
        follow_up_at = Some(due);
        follow_up_done_at = Some((due + rng.gen_range(0..2 * DAY)).min(now));
    }
    let (summary, complaint_status, resolved_at) = if kind == "complaint" {
        let open = occurred_at > now - 90 * DAY && rng.gen_bool(0.5);
        let resolved = (!open).then(|| (occurred_at + rng.gen_range(7_200..10 * DAY)).min(now));
        (
            one(rng, COMPLAINTS),
            Some(if open { "open" } else { "resolved" }),
            resolved,
        )
    } else {
        (one(rng, SUMMARIES), None, None)
    };
    Interaction {
        customer_id: c.id,
        kind,
        occurred_at,
        user_id,
        summary,
        outcome: rng.gen_bool(0.5).then(|| one(rng, OUTCOMES)),
        follow_up_at,
        follow_up_done_at,
        complaint_status,
        resolved_at,
    }
}

fn transaction(rng: &mut StdRng, c: &Customer, occurred_at: i64) -> Transaction {
    // Log-normal amounts: median 800 CNY for people, 2,400 for organizations.
    let median = if c.kind == "organization" {
        240_000.0
    } else {
        80_000.0
    };
    let amount = (median * normal(rng).exp()).round().max(100.0) as i64;
    let margin: f64 = rng.gen_range(0.15..0.5);
    // Zipf-like popularity: the first products sell most.
    let rank = (rng.gen::<f64>().powf(2.0) * PRODUCTS.len() as f64) as usize;
    Transaction {
        customer_id: c.id,
        occurred_at,
        amount_cents: amount,
        cost_cents: (amount as f64 * (1.0 - margin)).round() as i64,
        product: PRODUCTS[rank.min(PRODUCTS.len() - 1)],
        has_external_id: rng.gen_bool(0.4),
    }
}

/// Appends `secs` (Unix time, UTC) as `YYYY-MM-DD HH:MM:SS`: the text diesel
/// stores in SQLite and a literal PostgreSQL reads as a `TIMESTAMP`.
pub fn push_timestamp(out: &mut String, secs: i64) {
    use std::fmt::Write;
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_chrono() {
        for secs in [
            0i64,
            951_782_400,
            1_700_000_000,
            1_798_761_599,
            4_102_444_800,
        ] {
            let mut s = String::new();
            push_timestamp(&mut s, secs);
            let expected = chrono::DateTime::from_timestamp(secs, 0)
                .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!(Some(s), expected);
        }
    }

    #[test]
    fn same_seed_same_data() {
        let a = generate(500, 5_000, 7, 1_800_000_000);
        let b = generate(500, 5_000, 7, 1_800_000_000);
        assert_eq!(a.activity_per_customer, b.activity_per_customer);
        assert_eq!(a.interactions.len(), b.interactions.len());
        assert_eq!(a.interactions.len() + a.transactions.len(), 5_000);
    }

    #[test]
    fn activity_is_skewed() {
        let d = generate(10_000, 200_000, 1, 1_800_000_000);
        let mut per = d.activity_per_customer.clone();
        per.sort_unstable();
        let median = per[per.len() / 2];
        let max = per[per.len() - 1];
        assert!(median < 20, "most customers are small: median {median}");
        assert!(max > 20 * median.max(1), "a few whales: max {max}");
    }

    #[test]
    fn wallets_and_the_transaction_share() {
        let plain = generate(2_000, 20_000, 3, 1_800_000_000);
        let d = generate_with(2_000, 20_000, 3, 1_800_000_000, 0.05, true);
        assert!(plain
            .customers
            .iter()
            .all(|c| c.wallet_size_cents.is_none()));
        let with_wallet = d
            .customers
            .iter()
            .filter(|c| c.wallet_size_cents.is_some())
            .count();
        assert!((600..1_000).contains(&with_wallet), "{with_wallet}");
        assert!(d
            .customers
            .iter()
            .filter_map(|c| c.wallet_size_cents)
            .all(|w| w >= 90_000));
        assert!(d.transactions.len() > 18_000, "{}", d.transactions.len());
        // The wallets have their own random stream: the rows are the same.
        let same = generate_with(2_000, 20_000, 3, 1_800_000_000, 0.05, false);
        assert_eq!(same.transactions.len(), d.transactions.len());
    }
}
