//! Binary Merkle trees over byte strings: the transactions root and messages root of a header.
//!
//! Leaves and inner nodes are hashed under different domains so that an inner node can never be
//! passed off as a leaf (second-preimage attack). An odd node at the end of a level is carried up
//! unchanged. The tree over no leaves has a fixed root, [empty_root].

use crate::{Digest, hash_parts, namespace};

/// Root of the tree over no leaves.
pub fn empty_root() -> Digest {
    hash_parts(&[namespace::MERKLE_NODE])
}

/// Hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Digest {
    hash_parts(&[namespace::MERKLE_LEAF, data])
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    hash_parts(&[namespace::MERKLE_NODE, left.as_ref(), right.as_ref()])
}

fn next_level(level: &[Digest]) -> Vec<Digest> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node_hash(l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// Root over leaf hashes.
pub fn root_of_hashes(mut level: Vec<Digest>) -> Digest {
    if level.is_empty() {
        return empty_root();
    }
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// Root over raw leaves.
pub fn root<T: AsRef<[u8]>>(leaves: &[T]) -> Digest {
    root_of_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
}

/// Proof that one leaf is at `index` in a tree of `count` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Position of the leaf.
    pub index: u64,
    /// Number of leaves in the tree.
    pub count: u64,
    /// Sibling hashes from the leaf level up; levels where the node had no sibling are skipped.
    pub siblings: Vec<Digest>,
}

/// Builds the inclusion proof of leaf `index`. Returns `None` when out of range.
pub fn prove<T: AsRef<[u8]>>(leaves: &[T], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut level: Vec<Digest> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
    let mut siblings = Vec::new();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(Proof {
        index: index as u64,
        count: leaves.len() as u64,
        siblings,
    })
}

/// Checks that `leaf` is in the tree with `root`, at the position the proof claims.
pub fn verify(root: &Digest, leaf: &[u8], proof: &Proof) -> bool {
    if proof.index >= proof.count {
        return false;
    }
    let mut acc = leaf_hash(leaf);
    let mut i = proof.index;
    let mut width = proof.count;
    let mut siblings = proof.siblings.iter();
    while width > 1 {
        let sibling = i ^ 1;
        if sibling < width {
            let Some(s) = siblings.next() else {
                return false;
            };
            acc = if i.is_multiple_of(2) {
                node_hash(&acc, s)
            } else {
                node_hash(s, &acc)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && &acc == root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_and_single() {
        assert_eq!(root::<&[u8]>(&[]), empty_root());
        assert_eq!(root(&[b"a"]), leaf_hash(b"a"));
        assert_ne!(root(&[b"a"]), root(&[b"b"]));
    }

    #[test]
    fn leaf_cannot_pose_as_node() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut forged = a.as_ref().to_vec();
        forged.extend_from_slice(b.as_ref());
        assert_ne!(root(&[b"a", b"b"]), root(&[forged]));
    }

    proptest! {
        #[test]
        fn every_leaf_proves(leaves in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..40)) {
            let r = root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let p = prove(&leaves, i).unwrap();
                prop_assert!(verify(&r, leaf, &p));
                let mut wrong = p.clone();
                wrong.index = (wrong.index + 1) % wrong.count;
                if leaves.len() > 1 && leaves[wrong.index as usize] != *leaf {
                    prop_assert!(!verify(&r, leaf, &wrong));
                }
                let mut truncated = p.clone();
                if truncated.siblings.pop().is_some() {
                    prop_assert!(!verify(&r, leaf, &truncated));
                }
            }
        }
    }
}
