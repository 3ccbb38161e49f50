//! Binary Merkle trees: defined in `veil-primitives` (a block's decoder checks its
//! transactions root, so the tree lives beside the block), re-exported here with the rest of
//! the cryptographic building blocks.

pub use veil_primitives::merkle::*;
