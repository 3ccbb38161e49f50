//! Verify Veil blocks without replaying them: finality certificates, header chains, state proofs
//! and message roots.
//!
//! pRuntime and users hold only the genesis identity (chain id, genesis hash, the consensus group
//! public key). From that they check that a header was finalized, that a run of headers links up
//! to a finalized one, that a state value is what the chain holds, and that a block's outbound
//! messages are exactly the ones it committed to.
//!
//! - [finality]: certificates against the group key, header chains, the genesis check.
//! - [state]: QMDB inclusion and exclusion proofs against a state root.

pub mod finality;
pub mod state;

pub use finality::{
    Certificate, Error, GroupKey, Scheme, Trust, decode_certificate, decode_group_key,
    verify_chain, verify_finality, verify_genesis, verify_messages,
};
