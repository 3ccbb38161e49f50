//! Contracts in deterministic simulation ([crate::sim]): the real chain, pRuntimes and host
//! duties.

use commonware_cryptography::Signer as _;
use veil_chain::{contracts as chain_contracts, gatekeeper as chain_gk};
use veil_primitives::{
    Call, Destination, Origin, PrivateKey,
    contract::{CONTRACT_KEY_TOPIC, ContractCall, ContractKey, contract_id},
    hash,
};
use veil_pruntime::roles::gatekeeper::contracts::{contract_key, open_sealed, public_key};

use crate::{
    bootstrap::assert_absent,
    common::files,
    sim::{Sim, launched},
};

/// A module that passes the deploy policy.
fn module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#,
    )
    .unwrap()
}

#[test]
fn the_gatekeepers_publish_each_new_contracts_key_once_derived_from_the_root_key() {
    let mut sim = Sim::new("contract-key", 5, 3);
    let root_key = *sim.genesis.rt.genesis().unwrap().root_key();
    sim.run_until(60, launched);

    let developer = PrivateKey::from_seed(1004);
    let nonce = sim
        .read(async |o| veil_chain::balances::account(o, &developer.public_key()).await)
        .unwrap()
        .nonce;
    let code = module();
    let upload = ContractCall::UploadCode {
        hash: hash(&code),
        size: code.len() as u32,
        index: 0,
        chunk: code.clone(),
    };
    sim.submit(&developer, Call::Contract(upload)).unwrap();
    sim.block();
    let miner = sim.workers[4].key();
    let instantiate = ContractCall::Instantiate {
        code: hash(&code),
        miner,
    };
    sim.submit(&developer, Call::Contract(instantiate)).unwrap();
    let id = contract_id(&developer.public_key(), nonce + 1);

    let published = |s: &Sim| {
        s.read(async |o| chain_contracts::contract(o, &id).await)
            .unwrap()
            .and_then(|info| info.public_key)
    };
    sim.run_until(20, |s| published(s).is_some());
    let expected = contract_key(&root_key, &sim.identity, &id);
    assert_eq!(published(&sim), Some(public_key(&expected)));

    // Every gatekeeper signed the same record: one routed, the copies dropped, no divergence.
    sim.run_until(10, |s| {
        s.workers
            .iter()
            .all(|w| w.rt.info().gatekeeper_pending == 0)
    });
    assert_eq!(sim.read(chain_gk::divergences).unwrap(), 0);
    let records: Vec<ContractKey> = sim
        .chain
        .messages
        .iter()
        .filter(|m| {
            m.origin == Origin::Gatekeepers
                && m.destination == Destination::Topic(CONTRACT_KEY_TOPIC.to_vec())
        })
        .map(|m| commonware_codec::DecodeExt::decode(m.payload.clone()).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    // The sealed key on chain opens only under the root key, to the contract key.
    assert_eq!(
        open_sealed(&root_key, &sim.identity, &records[0]).as_deref(),
        Some(&*expected)
    );
    assert!(open_sealed(&[0u8; 32], &sim.identity, &records[0]).is_none());

    // The contract key itself, in no form, in chain state, host traffic or pRuntime files.
    let mut state = Vec::new();
    for (k, v) in &sim.chain.state.0 {
        state.extend_from_slice(k.as_ref());
        state.extend_from_slice(v);
    }
    assert_absent("chain state", &state, &expected);
    assert_absent("host traffic", &sim.traffic(), &expected);
    for w in sim.workers.iter().chain([&sim.genesis]) {
        for f in files(&w.dir.0) {
            let bytes = std::fs::read(&f).unwrap();
            assert_absent(&format!("{}", f.display()), &bytes, &expected);
        }
    }
}
