//! pRuntime against a byzantine host: every forged, tampered, skipped, reordered or replayed
//! batch is refused and leaves pRuntime's state (in memory and sealed on disk) unchanged.

use crate::common::{Dir, dir, files};

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_attestation::{DevQuote, Evidence, report_data};
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{Destination, Message, Origin, hash};
use veil_pruntime::{
    runtime::{Runtime, RuntimeError},
    sync::{Batch, SyncError},
    tee::DevTee,
};

fn open(d: &Dir) -> (Runtime, bool) {
    let tee = DevTee::new(&d.0.join("dev-key")).unwrap();
    Runtime::open(Box::new(tee), &d.0.join("data")).unwrap()
}

/// Initializes `rt` with `chain`'s genesis, group key and proof.
fn init(rt: &mut Runtime, chain: &SyntheticChain) -> Result<(), RuntimeError> {
    rt.init(
        chain.chain_id,
        &chain.headers[0],
        &chain.group_key,
        &chain.chain_proof,
    )
}

fn batch(chain: &SyntheticChain, from: u64, to: u64) -> Batch {
    Batch {
        headers: chain.headers[from as usize..=to as usize].to_vec(),
        certificate: chain.certificate(to),
        messages: chain.messages[from as usize..=to as usize].to_vec(),
        code: Vec::new(),
    }
}

#[test]
fn byzantine_host_cannot_move_pruntime() {
    let d = dir("byzantine");
    let (mut rt, created) = open(&d);
    assert!(created);
    let me = rt.identity().public_key();
    let mut chain = SyntheticChain::new(1);
    for h in 1..=20u64 {
        let to_me = Message {
            origin: Origin::Chain,
            destination: Destination::Worker(me.clone()),
            sequence: h,
            payload: vec![h as u8; 8],
        };
        let other = Message {
            origin: Origin::Chain,
            destination: Destination::Topic(b"gatekeeper".to_vec()),
            sequence: h,
            payload: vec![1, 2, 3],
        };
        chain.extend(if h % 2 == 0 {
            vec![to_me, other]
        } else {
            vec![]
        });
    }

    // Genesis must come with the group key genesis state commits to.
    let other_chain = SyntheticChain::new(2);
    let err = rt
        .init(
            chain.chain_id,
            &chain.headers[0],
            &other_chain.group_key,
            &chain.chain_proof,
        )
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Genesis(_)), "{err}");
    assert!(rt.state().is_none());
    init(&mut rt, &chain).unwrap();
    // Re-init with another genesis is refused.
    assert!(
        rt.init(
            other_chain.chain_id,
            &other_chain.headers[0],
            &other_chain.group_key,
            &other_chain.chain_proof
        )
        .is_err()
    );

    let (height, mine) = rt.sync(&batch(&chain, 1, 10)).unwrap();
    assert_eq!(height, 10);
    assert_eq!(mine.len(), 5);
    let before = rt.state().unwrap();
    let sealed = rt.sealed_state_bytes().unwrap();

    let mut refused = Vec::new();
    // A forged certificate: one bit flipped.
    let mut b = batch(&chain, 11, 15);
    let last = b.certificate.len() - 1;
    b.certificate[last] ^= 1;
    refused.push(("forged certificate", rt.sync(&b).unwrap_err()));
    // A valid certificate, but for another block.
    let mut b = batch(&chain, 11, 15);
    b.certificate = chain.certificate(14);
    refused.push(("certificate for another block", rt.sync(&b).unwrap_err()));
    // A tampered message.
    let mut b = batch(&chain, 11, 15);
    b.messages[1][0].payload[0] ^= 1;
    refused.push(("tampered message", rt.sync(&b).unwrap_err()));
    // A message withheld.
    let mut b = batch(&chain, 11, 15);
    b.messages[1].pop();
    refused.push(("withheld message", rt.sync(&b).unwrap_err()));
    // A skipped block.
    refused.push((
        "skipped block",
        rt.sync(&batch(&chain, 12, 15)).unwrap_err(),
    ));
    let mut b = batch(&chain, 11, 15);
    b.headers.remove(2);
    b.messages.remove(2);
    refused.push(("gap inside the batch", rt.sync(&b).unwrap_err()));
    // Reordered blocks.
    let mut b = batch(&chain, 11, 15);
    b.headers.swap(1, 2);
    b.messages.swap(1, 2);
    refused.push(("reordered", rt.sync(&b).unwrap_err()));
    // A replayed batch, whole or overlapping.
    refused.push(("replayed", rt.sync(&batch(&chain, 1, 10)).unwrap_err()));
    refused.push((
        "overlapping replay",
        rt.sync(&batch(&chain, 5, 15)).unwrap_err(),
    ));
    // A header altered after certification.
    let mut b = batch(&chain, 11, 15);
    b.headers[0].timestamp += 1;
    refused.push(("header altered", rt.sync(&b).unwrap_err()));
    // Messages for the wrong number of blocks.
    let mut b = batch(&chain, 11, 15);
    b.messages.pop();
    refused.push(("message lists missing", rt.sync(&b).unwrap_err()));
    // Empty.
    refused.push((
        "empty",
        rt.sync(&Batch {
            headers: vec![],
            certificate: vec![],
            messages: vec![],
            code: Vec::new(),
        })
        .unwrap_err(),
    ));

    for (case, err) in &refused {
        assert!(matches!(err, RuntimeError::Sync(_)), "{case}: {err}");
    }
    assert!(matches!(
        refused[4].1,
        RuntimeError::Sync(SyncError::Skipped {
            expected: 11,
            got: 12
        })
    ));
    assert!(matches!(
        refused[7].1,
        RuntimeError::Sync(SyncError::Replayed {
            expected: 11,
            got: 1
        })
    ));
    assert_eq!(
        rt.state().unwrap(),
        before,
        "state changed by a refused batch"
    );
    assert_eq!(
        rt.sealed_state_bytes().unwrap(),
        sealed,
        "sealed state rewritten by a refused batch"
    );

    // The honest batch still goes through.
    let (height, mine) = rt.sync(&batch(&chain, 11, 20)).unwrap();
    assert_eq!(height, 20);
    assert_eq!(mine.len(), 5);
    assert_eq!(rt.state().unwrap().messages_received, 10);
}

#[test]
fn identity_and_progress_survive_restart_and_quotes_bind_them() {
    let d = dir("restart");
    let mut chain = SyntheticChain::new(3);
    for _ in 0..5 {
        chain.extend(vec![]);
    }
    let (first_key, first_ecdh) = {
        let (mut rt, created) = open(&d);
        assert!(created);
        init(&mut rt, &chain).unwrap();
        rt.sync(&batch(&chain, 1, 5)).unwrap();
        (rt.identity().public_key(), rt.identity().ecdh_public())
    };
    let (rt, created) = open(&d);
    assert!(!created, "identity recreated on restart");
    assert_eq!(rt.identity().public_key(), first_key);
    assert_eq!(rt.identity().ecdh_public(), first_ecdh);
    assert_eq!(rt.info().synced_height, 5);

    // Evidence binds the keys, the genesis and a recent block.
    let recent = chain.headers[4].hash();
    let evidence: Evidence = rt.ra_quote(&recent).unwrap();
    let quote = DevQuote::decode(evidence.quote.clone()).unwrap();
    let expected = report_data(
        first_key.as_ref(),
        &first_ecdh,
        &chain.headers[0].hash(),
        &recent,
    );
    assert_eq!(quote.report_data, expected);
    assert!(matches!(
        rt.ra_quote(&hash(b"never synced")),
        Err(RuntimeError::UnknownBlock(_))
    ));

    // Public answers are signed; a changed payload no longer verifies.
    let mut answer = rt.sign_answer(&rt.info(), None).unwrap();
    assert!(answer.verify().is_ok());
    answer.payload = answer
        .payload
        .replace("\"synced_height\":5", "\"synced_height\":6");
    assert!(answer.verify().is_err());

    // Sealed data does not open under another key: a different dev key is another "enclave".
    drop(rt);
    std::fs::write(d.0.join("dev-key"), [0u8; 32]).unwrap();
    let tee = DevTee::new(&d.0.join("dev-key")).unwrap();
    assert!(Runtime::open(Box::new(tee), &d.0.join("data")).is_err());
}

#[test]
fn sealed_files_hold_no_plaintext_secrets() {
    let d = dir("leak");
    let (rt, _) = open(&d);
    let pk = rt.identity().public_key();
    let sealed = std::fs::read(d.0.join("data").join("identity")).unwrap();
    // The public key is derivable from the secret; it must not appear either.
    assert!(!sealed.windows(32).any(|w| w == pk.as_ref()));
    assert!(!sealed.windows(32).any(|w| w == rt.identity().ecdh_public()));
    let _ = pk.encode();
}

#[test]
fn bootstrap_seals_the_root_key_and_reveals_only_the_genesis_identity() {
    use base64::Engine as _;
    let d = dir("bootstrap");
    let (rt, _) = open(&d);
    assert!(rt.genesis().is_none());
    let chain = SyntheticChain::new(7);
    let b = rt.bootstrap(crate::sim::binding(&chain)).unwrap();
    assert!(b.created);
    let public = b.public.clone();
    let root = *rt.genesis().unwrap().root_key();
    assert_ne!(root, [0; 32]);
    assert_eq!(b.key_check, veil_primitives::root_key_check(0, &root));
    // Idempotent, and the same after a restart.
    let again = rt.bootstrap(crate::sim::binding(&chain)).unwrap();
    assert_eq!(
        (again.public, again.key_check, again.created),
        (public.clone(), b.key_check, false)
    );
    drop(rt);
    let (rt, _) = open(&d);
    assert_eq!(rt.genesis().unwrap().public(), public);
    assert_eq!(rt.genesis().unwrap().root_key(), &root);
    let info = serde_json::to_string(&rt.info()).unwrap();
    assert!(info.contains(&veil_primitives::to_hex(&public.0)));

    // The root key is nowhere outside pRuntime: not on disk, not in what it shows, in any form.
    let forms = [
        root.to_vec(),
        hex::encode(root).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(root)
            .into_bytes(),
    ];
    let found = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let on_disk = files(&d.0);
    // The role is sealed in the store's log (it reloaded after the restart above).
    assert!(
        on_disk
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "log")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    );
    for path in on_disk {
        let bytes = std::fs::read(&path).unwrap();
        for form in &forms {
            assert!(!found(&bytes, form), "root key in {}", path.display());
        }
    }
    for form in &forms {
        assert!(!found(info.as_bytes(), form), "root key in Info");
    }
}
