//! Exact Phragmén scores over rationals, for the rounds whose fixed-point scores are too close
//! to order. Each elected round is recorded by the weights its supporters carried from earlier
//! rounds, so an exact score is computed only when asked for, and once.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::One as _;

/// Supporter weight by the round that set its load (round 0: load zero).
pub(super) type Carried = BTreeMap<usize, u128>;

/// The elected rounds so far, and their exact scores once computed.
#[derive(Default)]
pub(super) struct History {
    rounds: Vec<(u128, Carried)>,
    exact: Vec<Option<BigRational>>,
}

impl History {
    /// The supporters' weights, grouped by the round that set their loads.
    pub(super) fn carried(supporters: &[usize], load_round: &[usize], weights: &[u128]) -> Carried {
        let mut carried = Carried::new();
        for &v in supporters {
            let w = carried.entry(load_round[v]).or_default();
            *w = w.saturating_add(weights[v]);
        }
        carried
    }

    /// Records the next elected round: its winner's approval and carried weights.
    pub(super) fn record(&mut self, approval: u128, carried: Carried) {
        self.rounds.push((approval, carried));
        self.exact.push(None);
    }

    /// Position in `contenders` (candidate, carried, approval) of the lowest exact score; the
    /// first on a tie.
    pub(super) fn best(
        &mut self,
        contenders: impl Iterator<Item = (usize, Carried, u128)>,
    ) -> usize {
        let mut best: Option<(BigRational, usize)> = None;
        for (i, (_, carried, approval)) in contenders.enumerate() {
            let score = self.score(&carried, approval);
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, i));
            }
        }
        best.map_or(0, |(_, i)| i)
    }

    /// (1 + Σ weight × exact score of its round) / approval.
    fn score(&mut self, carried: &Carried, approval: u128) -> BigRational {
        if let Some(&last) = carried.keys().next_back() {
            self.compute_through(last);
        }
        let mut sum = BigRational::one();
        for (&round, &w) in carried {
            if round > 0 {
                let s = self.exact[round - 1]
                    .as_ref()
                    .expect("computed through `last`");
                sum += s * BigInt::from(w);
            }
        }
        sum / BigInt::from(approval)
    }

    /// Computes the exact scores of rounds 1 to `last` not yet known, in order: a round's
    /// score needs only earlier rounds' scores, so nothing recurses deeper than one level.
    fn compute_through(&mut self, last: usize) {
        for r in 1..=last {
            if self.exact[r - 1].is_none() {
                let (approval, carried) = self.rounds[r - 1].clone();
                let s = self.score(&carried, approval);
                self.exact[r - 1] = Some(s);
            }
        }
    }
}
