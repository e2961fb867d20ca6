//! Keeping every customer's CPR stage current, in set-based SQL that
//! mirrors `domain::cpr::stage` (a test checks the two agree).

use chrono::{Duration, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::customers;
use super::stats::literal;
use super::DbConn;
use crate::domain::cpr::CprSettings;
use crate::domain::periods::window_start;

pub const CPR_STAGE_CHANGED: &str = "cpr_stage_changed";

/// Customers recomputed per transaction when recomputing everyone, so no
/// write transaction grows large.
const CHUNK: i64 = 50_000;

/// The stage expression over the `customers` row, from the settings.
fn stage_sql(s: &CprSettings, now: NaiveDateTime) -> String {
    let tenure_cutoff = literal(now - Duration::days(s.retention_min_tenure_days));
    format!(
        "(CASE WHEN purchase_count = 0 THEN 'not_started' \
          WHEN share_of_wallet IS NOT NULL THEN \
            (CASE WHEN share_of_wallet >= {ret} AND first_purchase_at <= {tenure_cutoff} THEN 'retention' \
                  WHEN share_of_wallet <= {conv} THEN 'conversion' ELSE 'penetration' END) \
          WHEN cpr_revenue_window_cents <= 0 THEN 'conversion' \
          ELSE (CASE WHEN purchase_count >= {min_purchases} AND first_purchase_at <= {tenure_cutoff} THEN 'retention' \
                     WHEN purchase_count = 1 THEN 'conversion' ELSE 'penetration' END) END)",
        ret = float(s.retention_share_min),
        conv = float(s.conversion_share_max),
        min_purchases = s.retention_min_purchases,
    )
}

/// A float literal that both engines read as the same double.
fn float(v: f64) -> String {
    format!("CAST('{v:?}' AS DOUBLE PRECISION)")
}

/// Where a range's window revenue comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Revenue {
    /// One grouped read of the range's transactions in the window (any
    /// window length; index-only, on `transactions_customer`).
    Transactions,
    /// The card's `revenue_12m_cents` (a 12-month window only; the window
    /// must have been moved to `now`).
    Card,
}

/// The share of wallet over `revenue` (cents in the window) and the
/// customer's annual `wallet`, scaled to the window: NULL without a wallet,
/// capped at 1.
fn share_sql(revenue: &str, wallet: &str, months: u32) -> String {
    format!(
        "CASE WHEN {wallet} IS NULL OR {wallet} <= 0 THEN NULL \
           WHEN CAST({revenue} AS DOUBLE PRECISION) * 12 >= CAST({wallet} AS DOUBLE PRECISION) * {months} \
             THEN CAST(1 AS DOUBLE PRECISION) \
           WHEN {revenue} <= 0 THEN CAST(0 AS DOUBLE PRECISION) \
           ELSE (CAST({revenue} AS DOUBLE PRECISION) * 12) / (CAST({wallet} AS DOUBLE PRECISION) * {months}) END"
    )
}

/// With the default 12-month window, a card's CPR window revenue is its
/// 12-month revenue: the assignments that set the window revenue, the
/// share of wallet and their window from `revenue` (the new 12-month revenue), for
/// `stats::refresh_many` to make in its own update, so that a bulk batch
/// writes each card once (its `refresh_ids` then finds them current).
/// `None` with another window length.
pub fn window_from_12m(s: &CprSettings, revenue: &str) -> Option<String> {
    (s.window_months == 12).then(|| {
        format!(
            "cpr_revenue_window_cents = {revenue}, share_of_wallet = {}, cpr_window_months = 12",
            share_sql(revenue, "customers.wallet_size_cents", 12)
        )
    })
}

/// Which customers a refresh covers.
#[derive(Clone, Copy)]
enum Cards<'a> {
    /// `low < id <= high`.
    Range(i64, i64),
    /// These ids (a batch's cards: at most a few thousand).
    Ids(&'a [i64]),
    /// These ids, for a recompute with one `now` as a walk's range is
    /// (`follow_window`): guarded as a walk is (`refresh_range`).
    Recompute(&'a [i64]),
}

impl Cards<'_> {
    /// The selection as SQL over `column` (integers only).
    fn on(&self, column: &str) -> String {
        match self {
            Cards::Range(low, high) => format!("{column} > {low} AND {column} <= {high}"),
            Cards::Ids(ids) | Cards::Recompute(ids) => {
                let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("{column} IN ({})", list.join(", "))
            }
        }
    }
}

/// The figures of `card` (the stored row) were computed over another window
/// than `months`, or over one not known: a NULL window beside window
/// revenue was computed before the window was stored (the upgrade fills
/// none, not to rewrite every card in one transaction), and this recompute,
/// or the hourly walk's, writes it range by range. A NULL window beside no
/// revenue (a new card) is every window's.
fn other_window(card: &str, months: u32) -> String {
    format!(
        "(COALESCE({card}.cpr_window_months, {months}) <> {months} \
          OR ({card}.cpr_window_months IS NULL AND {card}.cpr_revenue_window_cents <> 0))"
    )
}

/// Recomputes the window revenue, share of wallet and (unless pinned) the
/// stage of the `cards`, recording each stage change as an event. The
/// window they are computed over is stored with them, for the card's CPR
/// view: a card that the recompute after a window change has not reached
/// keeps the figures, and the window, of the one before.
/// Set-based, and only the rows whose figures or stage change are written;
/// the stage expression is evaluated over the whole selection once, to find
/// the cards that move. Only integers, codes and our own timestamps go into
/// the SQL text.
fn refresh_range(
    conn: &mut DbConn,
    cards: Cards,
    s: &CprSettings,
    now: NaiveDateTime,
    source: Revenue,
) -> QueryResult<()> {
    if matches!(cards, Cards::Ids(ids) | Cards::Recompute(ids) if ids.is_empty()) {
        return Ok(());
    }
    let start = literal(window_start(now, s.window_months));
    let months = s.window_months;
    let stage = stage_sql(s, now);
    let at = literal(now);
    // A walk of every card (a range, one `now` for minutes) leaves a card
    // whose figures a purchase refreshed after that `now`: the purchase
    // refreshed its stage as of its own, later instant, which the walk's
    // older one undid (an outside review: a move to retention undone, its
    // event dated before the one it undid). The hourly walk takes it next.
    let newer = match cards {
        Cards::Range(..) | Cards::Recompute(_) => {
            format!(" AND (customers.stats_at IS NULL OR customers.stats_at <= {at})")
        }
        Cards::Ids(_) => String::new(),
    };
    let range = format!("{}{newer}", cards.on("customers.id"));
    let unpinned_moving = format!("(cpr_pinned = FALSE AND cpr_stage <> {stage})");
    // Over a `customers` row: its stored figures differ from the window's.
    // A share is in [0, 1]: -1 stands for "none" in the comparison.
    let card_share = share_sql("revenue_12m_cents", "wallet_size_cents", months);
    let window = window_sql(cards, months, &start);
    let stale = match source {
        Revenue::Card => card_stale(months),
        Revenue::Transactions => format!(
            "id IN (SELECT x.id FROM ({window}) x JOIN customers s ON s.id = x.id WHERE {})",
            differs("s", months)
        ),
    };
    // The cards this refresh may write. SQLite's writers run one at a time:
    // nothing changes the range between the statements. A list of the moving
    // ids (up to a chunk's 50,000) was a statement of that many literals to
    // parse, whose memory the process kept: idle RSS 29 → 43 MB after a
    // start-up recompute that moved 69,330 cards (docs/BENCHMARKS.md,
    // session 44).
    // On PostgreSQL they are locked first, all of them in one statement in
    // id order, as the bulk writers lock theirs: the cards with figures to
    // write and those whose stage moves with the figures they have (a card
    // with no figures to write keeps them). Locked in two passes, the
    // stale ones and then the moving ones, a chunk held a card a bulk batch
    // waited for while it waited for a lower one the batch held: a deadlock,
    // one of the two a 503 (an outside review). Locked, the cards' events and
    // new stages are written from the same rows, and a purchase committed
    // meanwhile on a card not locked here is left to its own refresh (its
    // figures summed before it committed would overwrite its own).
    let scope = match conn {
        DbConn::Sqlite(_) => range.clone(),
        DbConn::Postgresql(_) => {
            let ids = super::row_lock::lock_where(
                conn,
                super::row_lock::Locked::Customers,
                &format!("{range} AND ({stale} OR {unpinned_moving})"),
            )?;
            if ids.is_empty() {
                return Ok(());
            }
            Cards::Ids(&ids).on("customers.id")
        }
    };
    let before = super::events::last_id(conn)?;
    conn.batch_execute(&match source {
        Revenue::Card => format!(
            "UPDATE customers SET cpr_revenue_window_cents = revenue_12m_cents, \
               share_of_wallet = {card_share}, cpr_window_months = {months} \
             WHERE {scope} AND {stale};"
        ),
        // The scope is on the updated table too so that PostgreSQL does not
        // hash-join all of `customers` for every chunk.
        Revenue::Transactions => format!(
            "UPDATE customers SET cpr_revenue_window_cents = x.revenue, share_of_wallet = x.share, \
               cpr_window_months = {months} \
             FROM ({window}) x \
             WHERE customers.id = x.id AND {scope} AND {};",
            differs("customers", months),
        ),
    })?;
    // Evaluated on the new figures.
    let moving = format!("{scope} AND {unpinned_moving}");
    conn.batch_execute(&format!(
        "INSERT INTO customer_events (customer_id, kind, from_value, to_value, at) \
           SELECT id, '{CPR_STAGE_CHANGED}', cpr_stage, {stage}, {at} FROM customers \
           WHERE {moving};
         UPDATE customers SET cpr_stage = {stage}, cpr_since = {at} \
           WHERE {moving};"
    ))?;
    super::changes::record_stage_events(
        conn,
        &format!(
            "e.id > {before} AND e.at = {at} AND {}",
            cards.on("e.customer_id")
        ),
    )
}

/// Over a `customers` row, with the window of `months` taken from its
/// 12-month figures: its stored CPR figures differ from them. A share is in
/// [0, 1]: -1 stands for "none" in the comparison.
fn card_stale(months: u32) -> String {
    format!(
        "(cpr_revenue_window_cents <> revenue_12m_cents \
          OR COALESCE(share_of_wallet, -1) <> COALESCE({share}, -1) OR {other})",
        share = share_sql("revenue_12m_cents", "wallet_size_cents", months),
        other = other_window("customers", months),
    )
}

/// The window's figures of `cards` summed from their transactions since
/// `start`: `id`, `revenue`, `share`.
fn window_sql(cards: Cards, months: u32, start: &str) -> String {
    let revenue = "COALESCE(w.revenue, 0)";
    format!(
        "SELECT c.id AS id, {revenue} AS revenue, {share} AS share FROM customers c \
         LEFT JOIN (SELECT customer_id, {sum} AS revenue FROM transactions \
                    WHERE {in_tx} AND occurred_at >= {start} \
                    GROUP BY customer_id) w ON w.customer_id = c.id \
         WHERE {in_c}",
        share = share_sql(revenue, "c.wallet_size_cents", months),
        sum = super::money_sum("amount_cents"),
        in_tx = cards.on("customer_id"),
        in_c = cards.on("c.id"),
    )
}

/// The stored figures of `card` (a `customers` row) differ from the
/// window's (`x`, from [`window_sql`]).
fn differs(card: &str, months: u32) -> String {
    format!(
        "({card}.cpr_revenue_window_cents <> x.revenue \
         OR COALESCE({card}.share_of_wallet, -1) <> COALESCE(x.share, -1) OR {other})",
        other = other_window(card, months),
    )
}

/// One customer, inside the caller's write transaction (after its figures
/// are refreshed).
pub fn refresh(
    conn: &mut DbConn,
    customer_id: i64,
    s: &CprSettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    // By id, not as a range of one: a range is a walk's, which leaves a
    // card a later write refreshed (a review: a wallet change on a replica
    // whose clock ran behind another's purchase kept the old share).
    refresh_range(
        conn,
        Cards::Ids(&[customer_id]),
        s,
        now,
        Revenue::Transactions,
    )
}

/// Many customers (a bulk write's cards), as `refresh` does one: a few
/// statements for all of them, inside the caller's write transaction, after
/// `stats::refresh_many` with the same `now` and settings (with the default
/// 12-month window the revenue is then the card's `revenue_12m_cents`, and
/// that update has already stored it and the share: only stages change here).
pub fn refresh_ids(
    conn: &mut DbConn,
    ids: &[i64],
    s: &CprSettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let source = if s.window_months == 12 {
        Revenue::Card
    } else {
        Revenue::Transactions
    };
    refresh_range(conn, Cards::Ids(ids), s, now, source)
}

/// Every card's CPR stage and share of wallet under the stored settings,
/// then its loyalty type (which reads the share), as of `now`; the number of
/// stage changes. With the 12-month window this moves the window first:
/// whatever moves it must run this too, or a card shows the new 12-month
/// revenue beside the share and stage of the old one until the hourly job (a
/// review found it after `POST /tiers/recompute`).
/// The caller holds the settings' turn (`settings::change_turn`).
pub fn refresh_stages(
    conn: &mut DbConn,
    now: NaiveDateTime,
    _turn: &super::settings::Turn,
) -> Result<i64, crate::error::ApiError> {
    let (s, version) = super::settings::get::<CprSettings>(conn, super::settings::CPR)?;
    let changed = refresh_all(conn, &s, version, now)?;
    super::loyalty::refresh_all_current(conn, now)?;
    Ok(changed)
}

/// Moves the 12-month window to `now` for what reads the cards' 12-month
/// figures (the tier ranking), and with a 12-month CPR window brings the
/// share of wallet, stage and loyalty type of every card whose CPR figures
/// lag its 12-month ones up to date: they kept the old window's until the
/// hourly job (a review found it after `POST /tiers/recompute`). Only
/// those cards, found by one scan: a walk of every card, each time, added
/// seconds to every tier recompute at 1M cards (a review). Found by what
/// they hold, not by what this move rewrote: a retry after a failure
/// half-way finds the window moved and the cards still lagging (a review).
/// The caller holds the settings' turn (`settings::change_turn`).
pub fn follow_window(
    conn: &mut DbConn,
    now: NaiveDateTime,
    _turn: &super::settings::Turn,
) -> Result<(), crate::error::ApiError> {
    super::stats::refresh_windows(conn, now)?;
    let (s, version) = super::settings::get::<CprSettings>(conn, super::settings::CPR)?;
    if s.window_months != 12 {
        // The stage reads its own window's revenue, which this move left.
        return Ok(());
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let lagging: Vec<i64> = diesel::sql_query(format!(
        "SELECT id FROM customers WHERE {} ORDER BY id",
        card_stale(s.window_months)
    ))
    .load::<Id>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect();
    if lagging.len() > CHUNK as usize {
        // Many (a first recompute after a reset or an upgrade): a walk of
        // every card by id ranges is the cheaper way (266 s by lists of ids
        // at 1M lagging cards on PostgreSQL, docs/BENCHMARKS.md session 50),
        // as `refresh_stages` makes it, without moving the window again.
        walk_moved(conn, &s, version, now, &super::chunks::never)?;
        super::loyalty::refresh_all_current(conn, now)?;
        return Ok(());
    }
    for chunk in lagging.chunks(ID_CHUNK) {
        let current = super::write_tx(conn, |conn| -> Result<bool, crate::error::ApiError> {
            // As a walk's range (`chunks::walk`): the settings kept until
            // this commits, taken before the cards as a walk takes them; a
            // newer CPR version stops here, its own recompute takes every
            // card (another replica's change of window was undone card by
            // card as "lagging": a review).
            if super::settings::version_kept(conn, super::settings::CPR)? != version {
                return Ok(false);
            }
            super::settings::version_kept(conn, super::settings::LOYALTY)?;
            // Locked at once in id order, as the bulk writers lock theirs:
            // the CPR refresh and then the loyalty one each lock the cards
            // they move, and a card only the second moved, below one the
            // first holds, was locked out of order (a review).
            super::row_lock::lock_all(conn, super::row_lock::Locked::Customers, chunk)?;
            refresh_range(conn, Cards::Recompute(chunk), &s, now, Revenue::Card)?;
            super::loyalty::refresh_ids_current(conn, chunk, now)?;
            Ok(true)
        })?;
        if !current {
            break;
        }
    }
    Ok(())
}

/// Cards refreshed per transaction by id (an `IN` list of literals).
const ID_CHUNK: usize = 5_000;

/// Every customer, in id-range chunks of short transactions. Returns the
/// number of stage changes. With the default 12-month window the revenue is
/// the card's `revenue_12m_cents` (the window is moved to `now` first, which
/// recomputes only the customers whose purchases left it), so no
/// transaction is read; any other window sums each chunk's transactions.
/// `version` is the settings' stored version `s` is: the walk ends early
/// when a newer one is stored meanwhile (`chunks::walk`).
pub fn refresh_all(
    conn: &mut DbConn,
    s: &CprSettings,
    version: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    refresh_all_until(conn, s, version, now, &super::chunks::never).map(|(changed, _)| changed)
}

/// `refresh_all` that ends after the chunk under way once `stop` says so
/// (the hourly job, when the process stops); also how far it got.
pub fn refresh_all_until(
    conn: &mut DbConn,
    s: &CprSettings,
    version: i64,
    now: NaiveDateTime,
    stop: &dyn Fn() -> bool,
) -> QueryResult<(i64, super::chunks::Walk)> {
    if s.window_months == 12 {
        super::stats::refresh_windows(conn, now)?;
    }
    walk_moved(conn, s, version, now, stop)
}

/// `refresh_all_until` once the 12-month window was moved to `now` (with
/// that window length): the walk alone. Moved again at the same `now`, the
/// window's last ten minutes were summed again, which could undo a purchase
/// committed between the two moves (a review).
fn walk_moved(
    conn: &mut DbConn,
    s: &CprSettings,
    version: i64,
    now: NaiveDateTime,
    stop: &dyn Fn() -> bool,
) -> QueryResult<(i64, super::chunks::Walk)> {
    let source = if s.window_months == 12 {
        Revenue::Card
    } else {
        Revenue::Transactions
    };
    let max_id = super::customers::last_id(conn)?;
    let before = count_changes(conn, now)?;
    let under = super::chunks::Under {
        name: super::settings::CPR,
        version,
    };
    let walk = super::chunks::walk(conn, max_id, CHUNK, under, stop, |conn, low, high| {
        refresh_range(conn, Cards::Range(low, high), s, now, source)
    })?;
    let changed = count_changes(conn, now)? - before;
    if changed > 0 {
        // Every card, archived ones too: the recompute walks them all (the
        // tier recompute, which ranks active cards only, passes those).
        let total: i64 = customers::table.count().get_result(conn)?;
        super::statistics::after_rows_moved(conn, "customers", changed, total)?;
    }
    Ok((changed, walk))
}

fn count_changes(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<i64> {
    use super::schema::customer_events as e;
    e::table
        .filter(e::kind.eq(CPR_STAGE_CHANGED))
        .filter(e::at.eq(now))
        .count()
        .get_result(conn)
}

/// What the event of an unpin says.
pub const UNPINNED_NOTE: &str = "unpinned: the stage is computed again";

/// A pin or an unpin of a card's stage, by a user at `now`.
struct HandMove {
    customer_id: i64,
    user_id: i64,
    now: NaiveDateTime,
}

impl HandMove {
    /// Its `cpr_stage_changed` event (also one from a stage to itself).
    fn record(&self, conn: &mut DbConn, from: &str, to: &str, reason: &str) -> QueryResult<()> {
        super::events::insert(
            conn,
            &super::events::NewEvent {
                customer_id: self.customer_id,
                kind: CPR_STAGE_CHANGED,
                from_value: Some(from),
                to_value: Some(to),
                subject_id: None,
                reason: Some(reason),
                user_id: Some(self.user_id),
                at: self.now,
            },
        )
    }
}

/// Pins a stage by hand (or unpins with `None`), recording the change. An
/// unpin of a pinned card is an event of its own (from and to its stage, by
/// the user), then the computed stage's move if any: it changes the card's
/// `cpr_pinned`, and with the stage kept it left no trace in the history or
/// the change feed, so a mirror kept the card pinned (a review).
pub fn set_pin(
    conn: &mut DbConn,
    customer_id: i64,
    pin: Option<(&str, &str)>,
    user_id: i64,
    s: &CprSettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let (current, pinned): (String, bool) = customers::table
        .find(customer_id)
        .select((customers::cpr_stage, customers::cpr_pinned))
        .first(conn)?;
    let by_hand = HandMove {
        customer_id,
        user_id,
        now,
    };
    match pin {
        Some((stage, reason)) => {
            diesel::update(customers::table.find(customer_id))
                .set((
                    customers::cpr_pinned.eq(true),
                    customers::cpr_pin_reason.eq(Some(reason)),
                    customers::cpr_stage.eq(stage),
                ))
                .execute(conn)?;
            if current != stage {
                diesel::update(customers::table.find(customer_id))
                    .set(customers::cpr_since.eq(Some(now)))
                    .execute(conn)?;
            }
            by_hand.record(conn, &current, stage, reason)
        }
        None => {
            diesel::update(customers::table.find(customer_id))
                .set((
                    customers::cpr_pinned.eq(false),
                    customers::cpr_pin_reason.eq(None::<String>),
                ))
                .execute(conn)?;
            if pinned {
                by_hand.record(conn, &current, &current, UNPINNED_NOTE)?;
                super::stats::stamp(conn, customer_id, now)?;
            }
            refresh(conn, customer_id, s, now)
        }
    }
}

/// The CPR settings for a card write to refresh by, kept from changing until
/// its transaction ends (`settings::get_kept`). Read plainly, a purchase
/// that read the old thresholds could commit after `PUT /settings/cpr`'s
/// recompute had passed its card (the purchase not yet visible to it): the
/// card kept a stage of the old thresholds until the hourly job. Kept, the
/// PUT's save waits for the purchase, whose card its recompute then sees, or
/// the purchase reads the saved settings.
pub fn settings_kept(conn: &mut DbConn) -> Result<CprSettings, crate::error::ApiError> {
    Ok(super::settings::get_kept::<CprSettings>(conn, super::settings::CPR)?.0)
}

/// After a write that changes a customer's transactions or wallet: its CPR
/// figures and stage under the current settings (`settings_kept`).
pub fn refresh_current(
    conn: &mut DbConn,
    customer_id: i64,
    now: NaiveDateTime,
) -> Result<(), crate::error::ApiError> {
    let settings = settings_kept(conn)?;
    Ok(refresh(conn, customer_id, &settings, now)?)
}

#[cfg(test)]
mod tests {
    //! The refresh must give the share of wallet and the stage that
    //! `domain::cpr` gives, at every boundary, from real cards and purchases.
    use super::*;
    use crate::db::testing::{db_tests, insert_rows};
    use crate::domain::cpr::{share_of_wallet, stage, CprInputs};

    db_tests!(
        refreshed_stages_match_the_domain_rule,
        a_walk_leaves_the_cards_a_later_purchase_refreshed,
    );

    #[derive(QueryableByName)]
    struct Card {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        cpr_stage: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
        share_of_wallet: Option<f64>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        cpr_revenue_window_cents: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        cpr_window_months: Option<i32>,
    }

    /// One card per combination of the inputs, with its purchase count,
    /// first purchase and wallet on the card (as the figures' refresh leaves
    /// them) and its window revenue as purchases: one on the window's first
    /// instant (inside) and one a second before it (outside, must not
    /// count). The refresh then computes each card's revenue, share and
    /// stage in SQL (`share_sql`, `stage_sql`), under the default 12-month
    /// window and a 6-month one (the wallet is scaled to the window), and
    /// stores the window with them; then the 6-month one again after the
    /// stored windows were cleared, as an upgrade leaves the cards (figures
    /// from before the window was stored): the cards with revenue get it.
    fn refreshed_stages_match_the_domain_rule(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        let mut cards = Vec::new();
        for purchases in [0_i64, 1, 2, 3, 4, 5] {
            for tenure in [0_i64, 179, 180, 181, 400] {
                for revenue in [0_i64, 99, 100, 101, 799, 800, 801, 5000] {
                    for wallet in [None, Some(0_i64), Some(1000)] {
                        cards.push(CprInputs {
                            purchase_count: purchases,
                            first_purchase_at: (purchases > 0)
                                .then(|| now - Duration::days(tenure)),
                            revenue_in_window_cents: revenue,
                            wallet_size_cents: wallet,
                        });
                    }
                }
            }
        }
        let opt = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
        c.batch_execute(crate::db::testing::OWNER)
            .unwrap_or_else(|e| panic!("{e}"));
        insert_rows(
            c,
            "customers (id, kind, name, owner_id, created_at, updated_at, \
               purchase_count, first_purchase_at, wallet_size_cents)",
            cards.iter().zip(1..).map(|(card, id)| {
                format!(
                    "({id}, 'individual', 'c{id}', 1, {at}, {at}, {}, {}, {})",
                    card.purchase_count,
                    opt(card.first_purchase_at.map(literal)),
                    opt(card.wallet_size_cents.map(|w| w.to_string())),
                    at = literal(now),
                )
            }),
        );
        for (months, upgraded) in [(12, false), (6, false), (6, true)] {
            if upgraded {
                c.batch_execute("UPDATE customers SET cpr_window_months = NULL")
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let s = CprSettings {
                window_months: months,
                ..CprSettings::default()
            };
            let start = window_start(now, months);
            c.batch_execute("DELETE FROM transactions")
                .unwrap_or_else(|e| panic!("{e}"));
            let purchase = |id: i64, at: NaiveDateTime, cents: i64| {
                format!(
                    "({id}, {at}, {cents}, 0, 'CNY', 'p', {now}, {now})",
                    at = literal(at),
                    now = literal(now)
                )
            };
            insert_rows(
                c,
                "transactions (customer_id, occurred_at, amount_cents, cost_cents, currency, \
                   product, created_at, updated_at)",
                cards.iter().zip(1..).flat_map(|(card, id)| {
                    let inside = (card.revenue_in_window_cents > 0)
                        .then(|| purchase(id, start, card.revenue_in_window_cents));
                    let outside = purchase(id, start - Duration::seconds(1), 777);
                    inside.into_iter().chain([outside])
                }),
            );
            crate::db::write_tx(c, |c| {
                refresh_range(
                    c,
                    Cards::Range(0, cards.len() as i64),
                    &s,
                    now,
                    Revenue::Transactions,
                )
            })
            .unwrap_or_else(|e| panic!("{e}"));
            let got: Vec<Card> = diesel::sql_query(
                "SELECT id, cpr_stage, share_of_wallet, cpr_revenue_window_cents, \
                   cpr_window_months FROM customers ORDER BY id",
            )
            .load(c)
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got.len(), cards.len());
            for (card, inputs) in got.iter().zip(&cards) {
                let want_share = share_of_wallet(
                    inputs.revenue_in_window_cents,
                    inputs.wallet_size_cents,
                    months,
                );
                let what = format!("card {} ({months} months): {inputs:?}", card.id);
                assert_eq!(
                    card.cpr_revenue_window_cents, inputs.revenue_in_window_cents,
                    "{what}"
                );
                assert_eq!(card.share_of_wallet, want_share, "{what}");
                assert_eq!(card.cpr_stage, stage(inputs, &s, now).as_str(), "{what}");
                // Figures written carry their window; zero revenue with no
                // share is every window's (none written), and a zero share
                // already stored is not rewritten for a window not known.
                let written =
                    inputs.revenue_in_window_cents > 0 || (want_share.is_some() && !upgraded);
                assert_eq!(
                    card.cpr_window_months,
                    written.then_some(i32::try_from(months).unwrap_or_default()),
                    "{what} (cleared first: {upgraded})"
                );
            }
        }
    }

    /// A walk of every card runs minutes with one `now`; a purchase
    /// committed meanwhile refreshed its card as of its own, later instant
    /// (`stats_at`). Two cards whose stage is not the one their figures give
    /// (no purchase: not started): the one refreshed after the walk's `now`
    /// is left as its refresh made it, the other is moved (a walk's range,
    /// or the ids of a recompute: `follow_window`); a refresh of the cards
    /// by id (a write's own) moves both.
    fn a_walk_leaves_the_cards_a_later_purchase_refreshed(c: &mut DbConn) {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .unwrap_or_default();
        c.batch_execute(crate::db::testing::OWNER)
            .unwrap_or_else(|e| panic!("{e}"));
        insert_rows(
            c,
            "customers (id, kind, name, owner_id, created_at, updated_at, cpr_stage, stats_at)",
            [(1, now), (2, now + Duration::seconds(30))].map(|(id, stats_at)| {
                format!(
                    "({id}, 'individual', 'c{id}', 1, {at}, {at}, 'retention', {})",
                    literal(stats_at),
                    at = literal(now),
                )
            }),
        );
        let stages = |c: &mut DbConn| -> Vec<String> {
            let got: Vec<Card> = diesel::sql_query(
                "SELECT id, cpr_stage, share_of_wallet, cpr_revenue_window_cents, \
                   cpr_window_months FROM customers ORDER BY id",
            )
            .load(c)
            .unwrap_or_else(|e| panic!("{e}"));
            got.into_iter().map(|card| card.cpr_stage).collect()
        };
        let s = CprSettings::default();
        for (source, walk) in [
            (Revenue::Card, Cards::Range(0, 2)),
            (Revenue::Transactions, Cards::Range(0, 2)),
            (Revenue::Card, Cards::Recompute(&[1, 2])),
        ] {
            c.batch_execute("UPDATE customers SET cpr_stage = 'retention'")
                .unwrap_or_else(|e| panic!("{e}"));
            crate::db::write_tx(c, |c| refresh_range(c, walk, &s, now, source))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(stages(c), ["not_started", "retention"]);
            crate::db::write_tx(c, |c| {
                refresh_range(c, Cards::Ids(&[1, 2]), &s, now, source)
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(stages(c), ["not_started", "not_started"]);
        }
    }
}
