//! Sequential Phragmén: elect `n` candidates from stake-weighted approval votes.
//!
//! Each voter spreads a "load" over the candidates it helped elect; each round elects the
//! candidate that would leave its supporters with the least maximum load, which gives
//! proportional representation: a minority with a third of the stake gets about a third of the
//! seats. This is the rule Polkadot's NPoS elections build on.
//!
//! Arithmetic is exact and integer-only so every validator elects the same set: stakes are
//! scaled down to weights of at most 40 bits in total, loads are fixed-point with 64
//! fractional bits, and ties go to the candidate listed first.

/// Fixed-point one (a unit of load).
const ONE: u128 = 1 << 64;
/// Largest total weight after scaling: keeps `weight × load` sums far from `u128::MAX`.
const WEIGHT_BITS: u32 = 40;

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
    let total = votes
        .iter()
        .fold(0u128, |acc, v| acc.saturating_add(v.stake));
    let shift = (128 - total.leading_zeros()).saturating_sub(WEIGHT_BITS);
    let weights: Vec<u128> = votes.iter().map(|v| v.stake >> shift).collect();

    // Supporters of each candidate (deduplicated), and the approval weight behind it.
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
                approval[c] += weights[v];
            }
        }
    }

    let mut load = vec![0u128; votes.len()];
    let mut elected = vec![false; candidates];
    let mut winners = Vec::new();
    for _ in 0..n {
        let mut best: Option<(u128, usize)> = None;
        for c in 0..candidates {
            if elected[c] || approval[c] == 0 {
                continue;
            }
            let carried = supporters[c].iter().fold(ONE, |acc, &v| {
                acc.saturating_add(weights[v].saturating_mul(load[v]))
            });
            let score = carried / approval[c];
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, c));
            }
        }
        let Some((score, c)) = best else {
            break;
        };
        elected[c] = true;
        winners.push(c);
        for &v in &supporters[c] {
            load[v] = score;
        }
    }
    winners
}

#[cfg(test)]
mod tests {
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
}
