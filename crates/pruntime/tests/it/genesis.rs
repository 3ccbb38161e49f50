//! The genesis node belongs to one chain: the attacks its own host could mount on the root key
//! (a self-certified chain naming the host's key, another chain id, a backup restored after the
//! launch) get nothing.

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{
    ChainIdentity, Destination, ELECTION_TOPIC, Elected, Election, KeyHolder, Message, Origin,
    PrivateKey, from_hex,
};
use veil_pruntime::{
    roles::gatekeeper::channel::KeyRequest,
    runtime::{Runtime, RuntimeError},
    sync::{Batch, SyncError},
    tee::DevTee,
};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{
    common::dir,
    sim::{Sim, binding, launched},
};

fn open(path: &std::path::Path) -> Runtime {
    let tee = DevTee::new(&path.join("dev-key")).unwrap();
    Runtime::open(Box::new(tee), &path.join("data")).unwrap().0
}

fn batch(chain: &SyntheticChain, from: u64, to: u64) -> Batch {
    Batch {
        headers: chain.headers[from as usize..=to as usize].to_vec(),
        certificate: chain.certificate(to),
        messages: chain.messages[from as usize..=to as usize].to_vec(),
        code: Vec::new(),
    }
}

/// The attack a security review reproduced on the first launch code: the genesis node's host
/// initializes it with a chain of its own (its own validators, so its own certificates), syncs a
/// block whose election names the host's X25519 key, and asks for the root key over Noise.
#[test]
fn a_self_certified_chain_gets_no_root_key_from_the_genesis_node() {
    let real = SyntheticChain::new(7);
    let mut forged = SyntheticChain::new(8);
    assert_eq!(forged.chain_id, real.chain_id, "same id, other validators");
    let d = dir("genesis-forged-chain");
    let rt = open(&d.0);
    let b = rt.bootstrap(binding(&real)).unwrap();
    let root = *rt.genesis().unwrap().root_key();

    let attacker = StaticSecret::from([66u8; 32]);
    let election = Election {
        round: 1,
        height: 1,
        gatekeepers: vec![Elected {
            worker: PrivateKey::from_seed(66).public_key(),
            ecdh_key: PublicKey::from(&attacker).to_bytes(),
        }],
        deadline: 10,
        holders: vec![KeyHolder {
            worker: b.public.0.clone(),
            ecdh_key: b.public.1,
            endpoint: "http://genesis".into(),
            tee: Some(veil_primitives::TeeKind::Dev),
        }],
        key_check: b.key_check,
    };
    forged.extend(vec![Message {
        origin: Origin::Chain,
        destination: Destination::Topic(ELECTION_TOPIC.to_vec()),
        sequence: 0,
        payload: election.encode().to_vec(),
    }]);

    // The first step is refused: the genesis node follows no chain but the one it was
    // bootstrapped for.
    let refused = rt
        .init(
            forged.chain_id,
            &forged.headers[0],
            &forged.group_key,
            &forged.chain_proof,
        )
        .unwrap_err();
    assert!(matches!(refused, RuntimeError::Genesis(_)), "{refused}");
    assert!(rt.state().is_none());
    // Everything after it fails too.
    assert!(matches!(
        rt.sync(&batch(&forged, 1, 1)),
        Err(RuntimeError::Sync(SyncError::NotInitialized))
    ));
    let forged_chain = ChainIdentity {
        chain_id: forged.chain_id,
        genesis_hash: forged.headers[0].hash(),
    };
    let (_, request) = KeyRequest::start(
        attacker.as_bytes(),
        election.holders[0].clone(),
        &forged_chain,
        1,
        1,
    )
    .unwrap();
    let answer = rt.answer_key_request(&request);
    assert!(answer.is_err());
    // The real chain is accepted, and the election that chain never made is not in it.
    rt.init(
        real.chain_id,
        &real.headers[0],
        &real.group_key,
        &real.chain_proof,
    )
    .unwrap();
    assert!(rt.answer_key_request(&request).is_err());
    assert_eq!(
        *rt.genesis().unwrap().root_key(),
        root,
        "the role is intact"
    );
}

/// The chain id is part of what genesis state commits to: a host cannot bind any pRuntime to
/// the right genesis under another id.
#[test]
fn init_proves_the_chain_id() {
    let real = SyntheticChain::new(7);
    let d = dir("genesis-chain-id");
    let rt = open(&d.0);
    let refused = rt
        .init(
            real.chain_id + 1,
            &real.headers[0],
            &real.group_key,
            &real.chain_proof,
        )
        .unwrap_err();
    assert!(matches!(refused, RuntimeError::Genesis(_)), "{refused}");
    rt.init(
        real.chain_id,
        &real.headers[0],
        &real.group_key,
        &real.chain_proof,
    )
    .unwrap();
    // A pRuntime that follows a chain cannot then become a genesis node of any.
    let refused = rt.bootstrap(binding(&real)).unwrap_err();
    assert!(refused.to_string().contains("follows a chain"), "{refused}");
}

#[test]
fn the_genesis_node_is_never_a_worker_or_gatekeeper_and_no_gatekeeper_a_genesis_node() {
    let mut sim = Sim::new("roles", 3, 3);
    // Before launch the genesis node will not sign a registration nor ask for the key.
    let operator = PrivateKey::from_seed(5).public_key();
    for refused in [
        sim.genesis
            .rt
            .registration(operator.clone(), "http://x".into())
            .map(|_| ()),
        sim.genesis.rt.start_key_request().map(|_| ()),
    ] {
        let e = refused.unwrap_err().to_string();
        assert!(e.contains("genesis node"), "{e}");
    }
    sim.run_until(60, launched);
    let e = sim.election();
    let gatekeeper = sim.index_of(&e.gatekeepers[0].worker);
    let refused = sim.workers[gatekeeper]
        .rt
        .bootstrap(binding(&sim.chain.blocks))
        .unwrap_err();
    assert!(refused.to_string().contains("gatekeeper role"), "{refused}");
}

/// Sealed files can be rolled back (no monotonic counter): restoring the genesis node's files
/// from before the launch brings its role back. What it can do with it stays bound to the real
/// chain: it answers only keys the real chain elected, and it retires again at the launch.
#[test]
fn a_pre_launch_backup_of_the_genesis_node_yields_no_key() {
    let mut sim = Sim::new("backup", 3, 3);
    let backup = dir("genesis-backup");
    copy_dir(&sim.genesis.dir.0, &backup.0);
    let before_launch = sim.height();
    sim.run_until(60, launched);
    assert!(sim.genesis.rt.genesis().is_none());

    // The host restores the backup: the role is back, still bound to the real chain.
    let restored = sim.enter(|| open(&backup.0));
    let root = *restored.genesis().unwrap().root_key();
    let forged = SyntheticChain::new(8);
    assert!(matches!(
        restored.init(
            forged.chain_id,
            &forged.headers[0],
            &forged.group_key,
            &forged.chain_proof
        ),
        Err(RuntimeError::Genesis(_))
    ));
    // Fed the real chain only as far as the host likes (here: not past the launch), it knows
    // only the real elections, and answers no key but an elected gatekeeper's.
    if before_launch > restored.state().map_or(0, |s| s.synced_height()) {
        let from = restored.state().unwrap().synced_height() + 1;
        restored.sync(&sim.batch(from, before_launch)).unwrap();
    }
    let e = sim.election();
    for seed in [1u8, 66, 200] {
        let outsider = StaticSecret::from([seed; 32]);
        let holder = KeyHolder {
            worker: restored.genesis().unwrap().public().0,
            ecdh_key: restored.genesis().unwrap().public().1,
            endpoint: "http://genesis".into(),
            tee: Some(veil_primitives::TeeKind::Dev),
        };
        for round in [e.round, e.round.saturating_sub(1), 1] {
            let (_, request) =
                KeyRequest::start(outsider.as_bytes(), holder.clone(), &sim.identity, round, 0)
                    .unwrap();
            let answer = restored.answer_key_request(&request);
            assert!(
                answer.is_err(),
                "an outsider got an answer in round {round}"
            );
        }
    }
    // Fed the rest of the real chain, it sees the launch and retires again.
    let from = restored.state().unwrap().synced_height() + 1;
    restored.sync(&sim.batch(from, sim.height())).unwrap();
    assert!(restored.genesis().is_none());
    let info = restored.info();
    assert_eq!(
        info.genesis,
        Some(veil_primitives::GenesisNodeStatus::Retired)
    );
    // And the key is in none of its files any more.
    for f in crate::common::files(&backup.0) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(32).any(|w| w == root), "{}", f.display());
    }
    assert_eq!(from_hex(&info.public_key).unwrap().len(), 32);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
