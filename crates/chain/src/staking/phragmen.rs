//! Sequential Phragmén: elect `n` candidates from stake-weighted approval votes.
//!
//! Each voter spreads a "load" over the candidates it helped elect; each round elects the
//! candidate that would leave its supporters with the least maximum load, which gives
//! proportional representation: a minority with a third of the stake gets about a third of the
//! seats. This is the rule Polkadot's NPoS elections build on.
//!
//! The result is exactly the rule's, and the same on every validator:
//! - weights are the stakes themselves (scaled down only if their sum exceeds `u128`, which
//!   real balances cannot);
//! - scores are computed in 256-bit fixed point (192 fractional bits), where each round's
//!   rounding can only lower a score, by at most one unit per round so far;
//! - so a candidate whose fixed-point score exceeds the lowest by more than that bound cannot
//!   be the best. When several are within it (exact ties, or scores closer than ~2^-57
//!   relative), they are compared exactly, over rationals ([exact]), and an exact tie goes to
//!   the candidate listed first. Exact arithmetic is thus paid only for near-ties.

mod exact;
mod wide;

use exact::History;
use wide::U256;

/// Fixed-point one (a unit of load): 2^192.
const ONE: U256 = U256::pow2(192);

/// A voter: its stake and the candidates it approves of (indices into the candidate list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Stake behind the vote.
    pub stake: u128,
    /// Approved candidates, by index.
    pub targets: Vec<usize>,
}

/// Elects up to `n` of `candidates` candidates; returns their indices in election order.
/// Candidates nobody approves of are never elected; out-of-range targets are ignored.
pub fn elect(candidates: usize, votes: &[Vote], n: usize) -> Vec<usize> {
    // Each round adds at most one ONE to the sum of weight × load over all voters, so every
    // numerator below stays under ONE × (rounds + 1): no overflow for any realistic n, and
    // saturation (not wrap-around) beyond.
    let total = votes
        .iter()
        .fold(U256::ZERO, |acc, v| acc.saturating_add(U256::from(v.stake)));
    let shift = total.bits().saturating_sub(128);
    let weights: Vec<u128> = votes.iter().map(|v| v.stake >> shift).collect();

    // Supporters of each candidate (deduplicated), and the approval weight behind it (fits:
    // the weights sum to less than 2^128).
    let mut supporters: Vec<Vec<usize>> = vec![Vec::new(); candidates];
    let mut approval = vec![0u128; candidates];
    for (v, vote) in votes.iter().enumerate() {
        if weights[v] == 0 {
            continue;
        }
        for &c in &vote.targets {
            // Votes are visited in order, so a repeat within this vote is the last entry.
            if c < candidates && supporters[c].last() != Some(&v) {
                supporters[c].push(v);
                approval[c] = approval[c].saturating_add(weights[v]);
            }
        }
    }

    // A voter's load is the score of the round that last elected one of its candidates
    // (round 0: none yet, load zero); `load` is its fixed-point value.
    let mut load = vec![U256::ZERO; votes.len()];
    let mut load_round = vec![0usize; votes.len()];
    let mut history = History::default();
    let mut elected = vec![false; candidates];
    let mut winners = Vec::new();
    for round in 1..=n {
        let scores: Vec<(usize, U256)> = (0..candidates)
            .filter(|&c| !elected[c] && approval[c] != 0)
            .map(|c| {
                let carried = supporters[c].iter().fold(ONE, |acc, &v| {
                    acc.saturating_add(load[v].saturating_mul(weights[v]))
                });
                (c, carried.div(approval[c]))
            })
            .collect();
        let Some(lowest) = scores.iter().map(|&(_, s)| s).min() else {
            break;
        };
        // Scores of this round are at most `round` units below their exact values.
        let bound = lowest.saturating_add(U256::from(round as u128));
        let contenders: Vec<(usize, U256)> =
            scores.into_iter().filter(|&(_, s)| s <= bound).collect();
        let (c, score) = if let [only] = contenders.as_slice() {
            *only
        } else {
            let carried = |c: usize| History::carried(&supporters[c], &load_round, &weights);
            let best = history.best(
                contenders
                    .iter()
                    .map(|&(c, _)| (c, carried(c), approval[c])),
            );
            contenders[best]
        };
        history.record(
            approval[c],
            History::carried(&supporters[c], &load_round, &weights),
        );
        elected[c] = true;
        winners.push(c);
        for &v in &supporters[c] {
            load[v] = score;
            load_round[v] = round;
        }
    }
    winners
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn vote(stake: u128, targets: &[usize]) -> Vote {
        Vote {
            stake,
            targets: targets.to_vec(),
        }
    }

    #[test]
    fn worked_example() {
        // Candidates A=0, B=1, C=2. Voters: 10 for {A, B}, 20 for {B}, 30 for {A, C}.
        // Round 1: approvals A 40, B 30, C 30; scores 1/40, 1/30, 1/30: A wins, and the
        // loads of the first and third voters become 1/40.
        // Round 2: B scores (1 + 10/40)/30 = 0.0417, C scores (1 + 30/40)/30 = 0.0583: B wins.
        let votes = [vote(10, &[0, 1]), vote(20, &[1]), vote(30, &[0, 2])];
        assert_eq!(elect(3, &votes, 2), vec![0, 1]);
        assert_eq!(elect(3, &votes, 3), vec![0, 1, 2]);
    }

    #[test]
    fn published_examples() {
        // Lackner and Skowron, "Approval-Based Multi-Winner Voting: Axioms, Algorithms, and
        // Applications", Examples 1 and 8: candidates a..h, twelve voters of equal weight
        // approving {a,b}x3, {a,c}x3, {a,d}x2, {b,c,f}, {e}, {f}, {g}; seq-Phragmén with k = 4
        // elects {a, b, c, d} (the b/c tie in round 2 broken towards b, as ours does).
        let (a, b, c, d, e, f, g) = (0, 1, 2, 3, 4, 5, 6);
        let mut votes = Vec::new();
        for (set, times) in [
            (vec![a, b], 3),
            (vec![a, c], 3),
            (vec![a, d], 2),
            (vec![b, c, f], 1),
            (vec![e], 1),
            (vec![f], 1),
            (vec![g], 1),
        ] {
            for _ in 0..times {
                votes.push(vote(1, &set));
            }
        }
        assert_eq!(elect(8, &votes, 4), vec![a, b, c, d]);
        // The same with every weight scaled far up: only relative stake matters.
        for v in &mut votes {
            v.stake = 10u128.pow(30);
        }
        assert_eq!(elect(8, &votes, 4), vec![a, b, c, d]);

        // Substrate's sp-npos-elections proof-of-concept case: voters 10, 20 and 30 approve
        // {1,2}, {1,3} and {2,3}; two seats go to 2 (approval 40) and 3 (approval 50), 3 first.
        let votes = [vote(10, &[1, 2]), vote(20, &[1, 3]), vote(30, &[2, 3])];
        assert_eq!(elect(4, &votes, 2), vec![3, 2]);
    }

    #[test]
    fn a_minority_gets_its_proportional_share() {
        // Two factions: 2/3 of the stake approves candidates 0..3, 1/3 approves 3..6.
        // Plain approval voting would give the majority all 3 seats; Phragmén gives it 2.
        let votes = [
            vote(200, &[0, 1, 2]),
            vote(200, &[0, 1, 2]),
            vote(200, &[3, 4, 5]),
        ];
        let winners = elect(6, &votes, 3);
        assert_eq!(winners.iter().filter(|&&c| c < 3).count(), 2);
        assert_eq!(winners.iter().filter(|&&c| c >= 3).count(), 1);
    }

    #[test]
    fn unsupported_candidates_are_never_elected() {
        let votes = [vote(5, &[1])];
        assert_eq!(elect(3, &votes, 3), vec![1]);
        assert_eq!(elect(3, &[], 3), Vec::<usize>::new());
        // Out-of-range and duplicate targets are ignored; a zero stake votes for nobody.
        let votes = [vote(5, &[7, 0, 0]), vote(0, &[2])];
        assert_eq!(elect(3, &votes, 3), vec![0]);
    }

    #[test]
    fn ties_go_to_the_first_candidate_and_huge_stakes_do_not_overflow() {
        let votes = [vote(u128::MAX, &[1, 0]), vote(u128::MAX, &[2])];
        assert_eq!(elect(3, &votes, 3), vec![0, 2, 1]);
        let votes: Vec<Vote> = (0..1000)
            .map(|i| vote(u128::MAX / 1000, &[i % 7, (i * 3) % 7]))
            .collect();
        let winners = elect(7, &votes, 7);
        assert_eq!(winners.len(), 7);
    }

    #[test]
    fn result_is_a_function_of_the_input_order_only() {
        let votes = [vote(10, &[0, 1]), vote(20, &[1]), vote(30, &[0, 2])];
        assert_eq!(elect(3, &votes, 2), elect(3, &votes, 2));
    }

    #[test]
    fn a_small_stake_beside_a_large_one_still_wins_a_free_seat() {
        // Two candidates backed by 10^21 and 10^9 and two seats: both are elected. With
        // stakes scaled to 40-bit weights the second weighed zero and its seat stayed empty.
        let votes = [vote(10u128.pow(21), &[0]), vote(10u128.pow(9), &[1])];
        assert_eq!(elect(2, &votes, 2), vec![0, 1]);
        // A minimum nominator bond still counts beside a large total stake.
        let votes = [
            vote(10u128.pow(24), &[0]),
            vote(10u128.pow(24), &[1]),
            vote(10u128.pow(6), &[2]),
        ];
        assert_eq!(elect(3, &votes, 3), vec![0, 1, 2]);
    }

    #[test]
    fn scores_closer_than_fixed_point_are_ordered_exactly() {
        // Approvals S + 1 and S + 2 with S ≈ 2^111: their scores differ by about 2^-111 of
        // their size, below the fixed-point resolution, and the exact comparison decides.
        let s = 23 * 10u128.pow(32);
        let votes = [
            vote(1, &[0]),
            vote(s, &[0, 1]),
            vote(1, &[1]),
            vote(1, &[1]),
        ];
        assert_eq!(elect(2, &votes, 1), vec![1]);
        // An exact tie goes to the candidate listed first.
        let votes = [vote(1, &[0]), vote(s, &[0, 1]), vote(1, &[1])];
        assert_eq!(elect(2, &votes, 1), vec![0]);
        // A second-round near-tie, where the loads carried from round one matter.
        let votes = [
            vote(s, &[0]),
            vote(s, &[0, 1]),
            vote(s + 1, &[1, 2]),
            vote(s, &[2]),
        ];
        assert_eq!(elect(3, &votes, 3), oracle(3, &votes, 3));
    }

    /// Exact sequential Phragmén over rationals, written plainly: every score exact, every
    /// round, exact ties to the candidate listed first.
    fn oracle(candidates: usize, votes: &[Vote], n: usize) -> Vec<usize> {
        use num_bigint::BigInt;
        use num_rational::BigRational;
        use num_traits::{One, Zero};

        let mut supporters: Vec<Vec<usize>> = vec![Vec::new(); candidates];
        let mut approval = vec![BigInt::zero(); candidates];
        for (v, vote) in votes.iter().enumerate() {
            if vote.stake == 0 {
                continue;
            }
            for &c in &vote.targets {
                if c < candidates && !supporters[c].contains(&v) {
                    supporters[c].push(v);
                    approval[c] += BigInt::from(vote.stake);
                }
            }
        }
        let mut load = vec![BigRational::zero(); votes.len()];
        let mut elected = vec![false; candidates];
        let mut winners = Vec::new();
        for _ in 0..n {
            let mut scores: Vec<(BigRational, usize)> = (0..candidates)
                .filter(|&c| !elected[c] && !approval[c].is_zero())
                .map(|c| {
                    let carried = supporters[c].iter().fold(BigRational::one(), |acc, &v| {
                        acc + &load[v] * BigInt::from(votes[v].stake)
                    });
                    (carried / approval[c].clone(), c)
                })
                .collect();
            scores.sort();
            let Some((best, c)) = scores.first().cloned() else {
                break;
            };
            elected[c] = true;
            winners.push(c);
            for &v in &supporters[c] {
                load[v] = best.clone();
            }
        }
        winners
    }

    /// Stakes from 1 to about 10^36: every magnitude a u128 balance takes in practice.
    fn stake() -> impl Strategy<Value = u128> {
        (1u128..1_000, 0u32..=33).prop_map(|(m, e)| m * 10u128.pow(e))
    }

    /// Candidates each backed by their own stake, and nominators approving a few of them.
    fn election() -> impl Strategy<Value = (usize, Vec<Vote>, usize)> {
        (1usize..=10).prop_flat_map(|candidates| {
            let backers = proptest::collection::vec(stake(), candidates);
            let nominators = proptest::collection::vec(
                (stake(), proptest::collection::vec(0..candidates, 1..=4)),
                0..=20,
            );
            (backers, nominators, 1..=candidates).prop_map(move |(backers, nominators, n)| {
                let mut votes: Vec<Vote> = backers
                    .into_iter()
                    .enumerate()
                    .map(|(c, stake)| vote(stake, &[c]))
                    .collect();
                votes.extend(
                    nominators
                        .into_iter()
                        .map(|(stake, targets)| Vote { stake, targets }),
                );
                (candidates, votes, n)
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn elects_what_exact_phragmen_elects((candidates, votes, n) in election()) {
            // Identical, exact ties included: both break them towards the first candidate.
            prop_assert_eq!(elect(candidates, &votes, n), oracle(candidates, &votes, n));
        }
    }
}
