//! The Pareto view of profit: customers ranked by profit, most profitable
//! first, cut into ten deciles the way SQL's `NTILE(10)` cuts them (the
//! first `n % 10` deciles hold one customer more), and the profit of the
//! top fifth. A loss counts as no profit. Only the order of the profits
//! matters: customers with equal profit are interchangeable in every sum.
//!
//! The profits arrive one at a time, best first, after their count: a
//! million cards are counted as they are read instead of held in memory.

/// One decile: 1 = the most profitable tenth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decile {
    pub decile: i64,
    pub customers: i64,
    pub profit_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pareto {
    /// Deciles without customers (fewer than ten customers) are absent.
    pub deciles: Vec<Decile>,
    /// Profit of the top 20 % of customers (rounded up to a whole customer).
    pub top_fifth_cents: i64,
}

const DECILES: usize = 10;

/// Folds the ranked profits of `customers` customers into a [`Pareto`].
#[derive(Debug)]
pub struct Ranking {
    customers: usize,
    seen: usize,
    top: usize,
    deciles: Vec<Decile>,
    top_fifth_cents: i64,
}

impl Ranking {
    pub fn new(customers: usize) -> Ranking {
        Ranking {
            customers,
            seen: 0,
            top: (customers * 2).div_ceil(DECILES),
            deciles: Vec::with_capacity(DECILES),
            top_fifth_cents: 0,
        }
    }

    /// The decile (0-based) of the customer at `rank` (0-based). A rank
    /// past the count (a card that appeared while the report ran) joins
    /// the last decile.
    fn decile_of(&self, rank: usize) -> usize {
        let (base, larger) = (self.customers / DECILES, self.customers % DECILES);
        let in_larger = larger * (base + 1);
        let d = if rank < in_larger {
            rank / (base + 1)
        } else {
            // No decile of `base` = 0 customers: the rank is past the count.
            (rank - in_larger)
                .checked_div(base)
                .map_or(DECILES, |k| larger + k)
        };
        d.min(DECILES - 1).min(self.customers.max(1) - 1)
    }

    /// The next customer's profit, in descending order.
    pub fn add(&mut self, profit_cents: i64) {
        let d = self.decile_of(self.seen);
        let p = profit_cents.max(0);
        // Saturating: sums past i64 (9.2e16 currency units) are not real
        // figures, and a report must not panic on them.
        if self.seen < self.top {
            self.top_fifth_cents = self.top_fifth_cents.saturating_add(p);
        }
        self.seen += 1;
        while self.deciles.len() <= d {
            self.deciles.push(Decile {
                decile: self.deciles.len() as i64 + 1,
                customers: 0,
                profit_cents: 0,
            });
        }
        let decile = &mut self.deciles[d];
        decile.customers += 1;
        decile.profit_cents = decile.profit_cents.saturating_add(p);
    }

    pub fn finish(self) -> Pareto {
        Pareto {
            deciles: self.deciles,
            top_fifth_cents: self.top_fifth_cents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(customers: usize, profits: &[i64]) -> Pareto {
        let mut sorted = profits.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let mut r = Ranking::new(customers);
        for p in sorted {
            r.add(p);
        }
        r.finish()
    }

    fn sizes(p: &Pareto) -> Vec<i64> {
        p.deciles.iter().map(|d| d.customers).collect()
    }

    #[test]
    fn no_customers_no_deciles() {
        let p = rank(0, &[]);
        assert!(p.deciles.is_empty());
        assert_eq!(p.top_fifth_cents, 0);
    }

    #[test]
    fn fewer_than_ten_customers_one_decile_each() {
        let p = rank(3, &[5, 30, 10]);
        assert_eq!(sizes(&p), [1, 1, 1]);
        let profits: Vec<i64> = p.deciles.iter().map(|d| d.profit_cents).collect();
        assert_eq!(profits, [30, 10, 5]);
        // The top fifth of 3 customers is 1 (0.6 rounded up).
        assert_eq!(p.top_fifth_cents, 30);
    }

    #[test]
    fn the_first_deciles_take_the_remainder_as_ntile_does() {
        let profits: Vec<i64> = (1..=23).collect();
        let p = rank(23, &profits);
        assert_eq!(sizes(&p), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(p.deciles[0].profit_cents, 23 + 22 + 21);
        assert_eq!(p.deciles[3].profit_cents, 14 + 13);
        assert_eq!(p.deciles[9].profit_cents, 2 + 1);
        // Top fifth of 23: 5 customers (4.6 rounded up).
        assert_eq!(p.top_fifth_cents, 23 + 22 + 21 + 20 + 19);
        let total: i64 = p.deciles.iter().map(|d| d.profit_cents).sum();
        assert_eq!(total, (1..=23).sum::<i64>());
    }

    #[test]
    fn losses_rank_last_and_count_as_nothing() {
        let p = rank(10, &[-500, 100, 0, -1, 40, 7, 7, 7, 3, 2]);
        assert_eq!(sizes(&p), [1; 10]);
        let per: Vec<i64> = p.deciles.iter().map(|d| d.profit_cents).collect();
        assert_eq!(per, [100, 40, 7, 7, 7, 3, 2, 0, 0, 0]);
        assert_eq!(p.top_fifth_cents, 140);
    }

    #[test]
    fn a_count_that_is_off_loses_no_profit() {
        // One card more than counted joins the last decile; one fewer
        // leaves the last decile short.
        let p = rank(10, &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(sizes(&p), [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
        assert_eq!(p.deciles[9].profit_cents, 3);
        let p = rank(3, &[9, 8, 7, 6]);
        assert_eq!(sizes(&p), [1, 1, 2]);
        let p = rank(10, &[9, 8, 7]);
        assert_eq!(sizes(&p), [1, 1, 1]);
        assert_eq!(rank(0, &[5]).deciles[0].profit_cents, 5);
    }
}
