//! Whatever bytes a host or a peer hands in, decoding fails cleanly and never panics.

use commonware_codec::DecodeExt as _;
use commonware_cryptography::Signer as _;
use proptest::prelude::*;
use veil_primitives::{ChainIdentity, Election, KeyHolder, root_key_check};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{
    egress::Outbox,
    roles::gatekeeper::{
        channel::{Holding, KeyRequest, answer},
        state::{GatekeeperRole, open_checkpoint},
    },
};

fn chain() -> ChainIdentity {
    ChainIdentity {
        chain_id: 5,
        genesis_hash: veil_primitives::hash(b"g"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_handshake_checkpoint_and_record_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let secret = StaticSecret::from([1u8; 32]);
        let public = PublicKey::from(&StaticSecret::from([2u8; 32])).to_bytes();
        let holder = KeyHolder {
            worker: veil_primitives::PrivateKey::from_seed(3).public_key(),
            ecdh_key: PublicKey::from(&secret).to_bytes(),
            endpoint: "x".into(),
            tee: Some(veil_primitives::TeeKind::Dev),
        };
        let election = Election {
            round: 1,
            height: 1,
            gatekeepers: vec![veil_primitives::Elected {
                worker: veil_primitives::PrivateKey::from_seed(100).public_key(),
                ecdh_key: public,
            }],
            deadline: 2,
            holders: vec![holder.clone()],
            key_check: root_key_check(0, &[7; 32]),
        };
        let holding = Holding {
            election: &election,
            height: 1,
            era: 0,
            root_key: &[7; 32],
        };
        prop_assert!(answer(secret.as_bytes(), &chain(), &holding, &bytes).is_err());
        let (request, _) = KeyRequest::start(&[2u8; 32], holder, &chain(), 1, 1).unwrap();
        prop_assert!(request.finish(&bytes, &election.key_check).is_err());
        prop_assert!(open_checkpoint(&[7; 32], &chain(), &bytes).is_err());
        let _ = GatekeeperRole::decode(bytes.clone());
        let _ = Outbox::decode(bytes.clone());
        // A host's checkpoint bytes: refused under any record, never a panic.
        let info = veil_primitives::contract::CheckpointInfo {
            height: 3,
            log: Default::default(),
            root: veil_primitives::hash(b"root"),
            size: bytes.len() as u32,
            digest: veil_primitives::hash(&bytes),
            miner: veil_primitives::PrivateKey::from_seed(4).public_key(),
        };
        let id = veil_primitives::hash(b"contract");
        prop_assert!(crate::roles::contracts::recovery::open(&chain(), &id, &[9; 32], &info, &bytes).is_err());
        let _ = crate::roles::contracts::recovery::CheckpointState::decode(bytes.clone());
        let _ = crate::roles::contracts::Contract::decode(bytes.clone());
    }
}
