//! Deterministic simulation of a 4-validator network: the real engine, chain and storage on
//! commonware's deterministic runtime with a simulated network, under seeded crashes and loss.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use commonware_codec::EncodeSize as _;
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_cryptography::Signer as _;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Handle, Runner, Spawner, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, TestRng, probability};
use veil_chain::balances::Account;
use veil_node::{
    chain::{LocalChain, ProductionConfig, SubmitError},
    engine::{self, Channels, Marshal, Timing},
    genesis::{BalanceSpec, Generated, Genesis, generate},
    mempool::PoolError,
    open_chain,
};
use veil_primitives::{AccountId, Call, Digest, Params, PrivateKey, Transaction};

type Ctx = deterministic::Context;

struct Net {
    mempool_capacity: usize,
    genesis: Genesis,
    generated: Generated,
    oracle: Oracle<AccountId, Ctx>,
    link: Link,
    dirs: Vec<std::path::PathBuf>,
    _tmp: TempDir,
}

/// A directory removed on drop (redb indexes live on the real filesystem).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Validator {
    handle: Handle<()>,
    chain: Arc<LocalChain<Ctx>>,
    marshal: Marshal,
}

async fn setup(context: &Ctx, seed: u64, link: Link) -> Net {
    setup_with(context, seed, link, 10_000, Vec::new()).await
}

/// A network whose validators' mempools hold `mempool_capacity`, with `extra` accounts funded
/// at genesis.
async fn setup_with(
    context: &Ctx,
    seed: u64,
    link: Link,
    mempool_capacity: usize,
    extra: Vec<(AccountId, u128)>,
) -> Net {
    let addrs: Vec<_> = (0..4)
        .map(|i| format!("127.0.0.1:{}", 40_000 + i).parse().unwrap())
        .collect();
    let mut rng = TestRng::new(seed);
    let now = context
        .current()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut generated = generate(&mut rng, 7, now, &addrs, 1 << 60, Params::default()).unwrap();
    generated
        .spec
        .balances
        .extend(extra.into_iter().map(|(account, amount)| BalanceSpec {
            account: veil_primitives::to_hex(account),
            amount,
        }));
    let genesis = Genesis::from_spec(&generated.spec).unwrap();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: engine::max_message_size(4),
            max_peers_per_set: NZUsize!(4),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        genesis.participants.iter().cloned(),
    )
    .await;
    network.start();
    for a in genesis.participants.iter() {
        for b in genesis.participants.iter() {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .unwrap();
            }
        }
    }
    let root = std::env::temp_dir().join(format!(
        "veil-sim-{}-{seed}-{}",
        std::process::id(),
        context
            .current()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let dirs = (0..4)
        .map(|i| root.join(format!("v{i}")))
        .collect::<Vec<_>>();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    Net {
        mempool_capacity,
        genesis,
        generated,
        oracle,
        link,
        dirs,
        _tmp: TempDir(root),
    }
}

async fn start(context: &Ctx, net: &Net, i: usize) -> Validator {
    let (key, share) = net.generated.validators[i].clone();
    let me = key.public_key();
    let control = net.oracle.control(me.clone());
    let q = engine::quota();
    let channels = Channels {
        votes: control.register(engine::channel::VOTES, q).await.unwrap(),
        certificates: control
            .register(engine::channel::CERTIFICATES, q)
            .await
            .unwrap(),
        resolver: control
            .register(engine::channel::RESOLVER, q)
            .await
            .unwrap(),
        broadcast: control
            .register(engine::channel::BROADCAST, q)
            .await
            .unwrap(),
        backfill: control
            .register(engine::channel::BACKFILL, q)
            .await
            .unwrap(),
        transactions: control
            .register(engine::channel::TRANSACTIONS, q)
            .await
            .unwrap(),
    };
    let scheme = net.genesis.scheme(Some(share)).unwrap();
    let provider = net.oracle.manager();
    let genesis = net.genesis.clone();
    let index = net.dirs[i].join("index.redb");
    let mempool_capacity = net.mempool_capacity;
    let (tx, rx) = commonware_utils::channel::oneshot::channel();
    let handle =
        context
            .child("validator")
            .with_attribute("index", i)
            .spawn(move |ctx| async move {
                let prefix = format!("v{i}");
                let chain = open_chain(
                    ctx.child("chain"),
                    &prefix,
                    &genesis,
                    &index,
                    ProductionConfig {
                        block_interval: Duration::from_millis(100),
                        mempool_capacity,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                let engine = engine::start(
                    ctx.child("engine"),
                    &prefix,
                    chain.clone(),
                    me,
                    scheme,
                    Timing::default(),
                    provider,
                    control,
                    channels,
                )
                .await
                .unwrap();
                let _ = tx.send((chain, engine.marshal.clone()));
                futures::future::join_all(engine.handles).await;
            });
    let (chain, marshal) = rx.await.unwrap();
    Validator {
        handle,
        chain,
        marshal,
    }
}

/// Starts all four validators.
async fn start_all(context: &Ctx, net: &Net) -> Vec<Validator> {
    let mut vs = Vec::new();
    for i in 0..4 {
        vs.push(start(context, net, i).await);
    }
    vs
}

/// Replaces a crashed validator with a fresh process over the same storage.
async fn restart(context: &Ctx, net: &Net, vs: &mut Vec<Validator>, i: usize) {
    let old = vs.remove(i);
    old.handle.abort();
    drop(old);
    // Let the aborted tasks unwind and release the storage they hold.
    context.sleep(Duration::from_millis(10)).await;
    vs.insert(i, start(context, net, i).await);
}

async fn cut(net: &Net, who: &AccountId) {
    for p in net.genesis.participants.iter().filter(|p| *p != who) {
        let _ = net.oracle.remove_link(p.clone(), who.clone()).await;
        let _ = net.oracle.remove_link(who.clone(), p.clone()).await;
    }
}

async fn heal(net: &Net, who: &AccountId) {
    for p in net.genesis.participants.iter().filter(|p| *p != who) {
        let _ = net
            .oracle
            .add_link(p.clone(), who.clone(), net.link.clone())
            .await;
        let _ = net
            .oracle
            .add_link(who.clone(), p.clone(), net.link.clone())
            .await;
    }
}

/// Polls (in virtual time) until every validator's applied height reaches `h`.
async fn wait_all(context: &Ctx, vs: &[Validator], h: u64, deadline: Duration) {
    wait_height(context, &vs.iter().collect::<Vec<_>>(), h, deadline).await;
}

/// Polls (in virtual time) until every listed validator's applied height reaches `h`.
async fn wait_height(context: &Ctx, vs: &[&Validator], h: u64, deadline: Duration) {
    let start = context.current();
    loop {
        if vs.iter().all(|v| v.chain.tip().height >= h) {
            return;
        }
        let waited = context.current().duration_since(start).unwrap();
        assert!(
            waited < deadline,
            "validators did not reach height {h} within {deadline:?}: {:?}",
            vs.iter().map(|v| v.chain.tip().height).collect::<Vec<_>>()
        );
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Polls (in virtual time) until `v` has the receipt of transaction `hash`.
async fn wait_receipt(
    context: &Ctx,
    v: &Validator,
    hash: &veil_primitives::Digest,
    deadline: Duration,
) -> veil_node::store::StoredReceipt {
    let start = context.current();
    loop {
        if let Some(r) = v.chain.store.receipt(hash).unwrap() {
            return r;
        }
        let waited = context.current().duration_since(start).unwrap();
        assert!(
            waited < deadline,
            "transaction {hash:?} not finalized within {deadline:?}"
        );
        context.sleep(Duration::from_millis(50)).await;
    }
}

async fn account(v: &Validator, who: &AccountId) -> Account {
    v.chain.state.account_at(None, who).await.unwrap()
}

/// A transaction from the faucet (nonce 0), signed for the network's chain.
fn from_faucet(net: &Net, v: &Validator, call: Call) -> veil_primitives::SignedTransaction {
    let faucet: PrivateKey = net.generated.faucet.clone();
    Transaction {
        sender: faucet.public_key(),
        nonce: 0,
        expiry: 1_000,
        call,
    }
    .sign(&faucet, &v.chain.identity)
}

fn link() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(3),
        success_rate: probability!(1.0),
    }
}

fn public(net: &Net, i: usize) -> AccountId {
    net.generated.validators[i].0.public_key()
}

#[test]
fn finality_continues_with_one_crashed_and_it_catches_up() {
    deterministic::Runner::timed(Duration::from_secs(900)).start(|context| async move {
        let net = setup(&context, 1, link()).await;
        let mut vs = start_all(&context, &net).await;
        wait_all(&context, &vs, 3, Duration::from_secs(60)).await;

        // A transfer from the faucet, submitted to validator 0.
        let bob = PrivateKey::from_seed(99).public_key();
        let tx = from_faucet(
            &net,
            &vs[0],
            Call::Transfer {
                to: bob.clone(),
                amount: 12_345,
            },
        );
        let tx_hash: Digest = vs[0].chain.submit(tx).await.unwrap();

        // Crash validator 3 and cut its links.
        vs[3].handle.abort();
        let v3 = public(&net, 3);
        cut(&net, &v3).await;
        let h = vs[0].chain.tip().height;
        let live: Vec<&Validator> = vs[..3].iter().collect();
        wait_height(&context, &live, h + 10, Duration::from_secs(60)).await;
        let receipt = vs[0]
            .chain
            .store
            .receipt(&tx_hash)
            .unwrap()
            .expect("transfer finalized");
        assert_eq!(receipt.error, None);
        assert_eq!(account(&vs[1], &bob).await.free, 12_345);

        // Restart it from its storage; it catches up through its peers.
        heal(&net, &v3).await;
        restart(&context, &net, &mut vs, 3).await;
        let target = vs[0].chain.tip().height + 3;
        wait_all(&context, &vs, target, Duration::from_secs(120)).await;

        // Same chain and same balances everywhere.
        for v in &vs {
            assert_eq!(account(v, &bob).await.free, 12_345);
            let (_, hash) = v
                .marshal
                .get_info(Identifier::Height(Height::new(target)))
                .await
                .unwrap();
            let (_, hash0) = vs[0]
                .marshal
                .get_info(Identifier::Height(Height::new(target)))
                .await
                .unwrap();
            assert_eq!(hash, hash0);
        }
        let fin = vs[3]
            .marshal
            .get_finalization(Height::new(target))
            .await
            .expect("certificate");
        let block = vs[3].marshal.get_block(Height::new(target)).await.unwrap();
        assert_eq!(fin.proposal.payload, block.inner().hash());
    });
}

#[test]
fn halts_safely_with_two_crashed_and_resumes() {
    deterministic::Runner::timed(Duration::from_secs(900)).start(|context| async move {
        let net = setup(&context, 2, link()).await;
        let mut vs = start_all(&context, &net).await;
        wait_all(&context, &vs, 3, Duration::from_secs(60)).await;
        for i in [2, 3] {
            vs[i].handle.abort();
            cut(&net, &public(&net, i)).await;
        }
        // Let in-flight finalizations land, then nothing more may finalize.
        context.sleep(Duration::from_secs(5)).await;
        let stalled = vs[0].chain.tip().height.max(vs[1].chain.tip().height);
        context.sleep(Duration::from_secs(30)).await;
        assert_eq!(
            vs[0].chain.tip().height.max(vs[1].chain.tip().height),
            stalled,
            "finalized without a quorum"
        );

        for i in [2, 3] {
            heal(&net, &public(&net, i)).await;
            restart(&context, &net, &mut vs, i).await;
        }
        wait_all(&context, &vs, stalled + 3, Duration::from_secs(180)).await;
    });
}

#[test]
fn no_height_finalizes_two_blocks_across_seeds() {
    for seed in 0..12u64 {
        let lossy = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(15),
            success_rate: probability!(0.85),
        };
        deterministic::Runner::seeded(seed).start(|context| async move {
            let net = setup(&context, 100 + seed, lossy).await;
            let mut vs = start_all(&context, &net).await;
            wait_all(&context, &vs, 2, Duration::from_secs(120)).await;
            // Crash one validator chosen by the seed, restart it later.
            let victim = (seed % 4) as usize;
            vs[victim].handle.abort();
            let live: Vec<&Validator> = vs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != victim)
                .map(|(_, v)| v)
                .collect();
            let h = live[0].chain.tip().height;
            wait_height(&context, &live, h + 4, Duration::from_secs(120)).await;
            restart(&context, &net, &mut vs, victim).await;
            let h = vs[(victim + 1) % 4].chain.tip().height;
            wait_all(&context, &vs, h + 2, Duration::from_secs(240)).await;

            let top = vs.iter().map(|v| v.chain.tip().height).min().unwrap();
            let mut seen: BTreeMap<u64, Digest> = BTreeMap::new();
            for v in &vs {
                for height in 1..=top {
                    let (_, d) = v
                        .marshal
                        .get_info(Identifier::Height(Height::new(height)))
                        .await
                        .expect("finalized height present");
                    let prev = seen.entry(height).or_insert(d);
                    assert_eq!(
                        *prev, d,
                        "seed {seed}: height {height} finalized two blocks"
                    );
                }
            }
        });
    }
}

#[test]
fn light_client_checks_certificates_messages_and_state_proofs() {
    use commonware_codec::Encode as _;
    use veil_light::{
        Error,
        state::{verify_absence, verify_inclusion},
        verify_chain, verify_finality, verify_messages,
    };
    use veil_primitives::Destination;

    deterministic::Runner::timed(Duration::from_secs(600)).start(|context| async move {
        let net = setup(&context, 3, link()).await;
        let vs = start_all(&context, &net).await;
        let group_key = net.genesis.group_key();
        wait_all(&context, &vs, 2, Duration::from_secs(60)).await;

        // A message through mq, so some block has a non-empty messages root.
        let faucet: PrivateKey = net.generated.faucet.clone();
        let tx = from_faucet(
            &net,
            &vs[0],
            Call::SendMessage {
                destination: Destination::Topic(b"gatekeeper".to_vec()),
                payload: b"hello".to_vec(),
            },
        );
        let hash = vs[0].chain.submit(tx).await.unwrap();
        let receipt = wait_receipt(&context, &vs[0], &hash, Duration::from_secs(60)).await;
        let h = receipt.height;
        wait_all(&context, &vs, h + 2, Duration::from_secs(60)).await;

        let m = &vs[1].marshal;
        let block = m.get_block(Height::new(h)).await.unwrap();
        let header = block.inner().header.clone();
        let cert = m
            .get_finalization(Height::new(h))
            .await
            .unwrap()
            .encode()
            .to_vec();
        assert_eq!(verify_finality(&group_key, &header, &cert), Ok(()));

        // A forged certificate: every single-bit flip is rejected.
        for i in 0..cert.len() {
            let mut forged = cert.clone();
            forged[i] ^= 0x01;
            assert!(
                verify_finality(&group_key, &header, &forged).is_err(),
                "bit flip at {i} accepted"
            );
        }
        // A valid certificate for another block.
        let next = m
            .get_block(Height::new(h + 1))
            .await
            .unwrap()
            .inner()
            .header
            .clone();
        assert!(matches!(
            verify_finality(&group_key, &next, &cert),
            Err(Error::WrongBlock { .. })
        ));
        // A certificate checked against another network's key.
        let other = setup(&context, 4, link()).await.genesis.group_key();
        assert_eq!(
            verify_finality(&other, &header, &cert),
            Err(Error::BadSignature)
        );

        // Header chains up to the certified header.
        let mut headers = Vec::new();
        for height in 1..h {
            headers.push(
                m.get_block(Height::new(height))
                    .await
                    .unwrap()
                    .inner()
                    .header
                    .clone(),
            );
        }
        assert_eq!(verify_chain(&headers, &header), Ok(()));
        let mut broken = headers.clone();
        broken[0].timestamp += 1;
        assert!(verify_chain(&broken, &header).is_err());
        let mut skipped = headers.clone();
        skipped.remove(headers.len() / 2);
        if !skipped.is_empty() {
            assert!(verify_chain(&skipped, &header).is_err());
        }

        // The block's messages against its messages root.
        let messages = vs[1].chain.store.messages(h, 1 << 16).unwrap().unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].payload, b"hello");
        assert_eq!(verify_messages(&header, &messages), Ok(()));
        let mut tampered = messages.clone();
        tampered[0].payload = b"hellO".to_vec();
        assert_eq!(
            verify_messages(&header, &tampered),
            Err(Error::MessagesRoot)
        );
        assert_eq!(verify_messages(&header, &[]), Err(Error::MessagesRoot));

        // State proofs against the finalized state root, tied to a certified header.
        let key = veil_chain::keys::account(&faucet.public_key());
        let proven = vs[1].chain.state.prove(&key).await.unwrap();
        let at = m
            .get_block(Height::new(proven.height))
            .await
            .unwrap()
            .inner()
            .header
            .clone();
        assert_eq!(at.state_root, proven.root);
        let value = proven.value.clone().unwrap();
        assert!(verify_inclusion(
            &at.state_root,
            &key,
            &value,
            &proven.proof
        ));
        let mut wrong_value = value.clone();
        wrong_value[0] ^= 1;
        assert!(!verify_inclusion(
            &at.state_root,
            &key,
            &wrong_value,
            &proven.proof
        ));
        assert!(
            !verify_inclusion(&header.messages_root, &key, &value, &proven.proof),
            "wrong root accepted"
        );
        for cut in [1, proven.proof.len() / 2, proven.proof.len() - 1] {
            assert!(
                !verify_inclusion(&at.state_root, &key, &value, &proven.proof[..cut]),
                "truncated proof accepted"
            );
        }
        let absent = veil_chain::keys::account(&PrivateKey::from_seed(12345).public_key());
        let excl = vs[1].chain.state.prove(&absent).await.unwrap();
        assert!(excl.value.is_none());
        assert!(verify_absence(&excl.root, &absent, &excl.proof));
        assert!(
            !verify_absence(&excl.root, &key, &excl.proof),
            "exclusion of a present key accepted"
        );
        assert!(!verify_absence(
            &excl.root,
            &absent,
            &excl.proof[..excl.proof.len() - 1]
        ));
    });
}

#[test]
fn gossiped_transaction_is_finalized_after_its_entry_validator_crashes() {
    deterministic::Runner::timed(Duration::from_secs(600)).start(|context| async move {
        let net = setup(&context, 5, link()).await;
        let vs = start_all(&context, &net).await;
        wait_all(&context, &vs, 2, Duration::from_secs(60)).await;
        let carol = PrivateKey::from_seed(7).public_key();
        let tx = from_faucet(
            &net,
            &vs[0],
            Call::Transfer {
                to: carol.clone(),
                amount: 5,
            },
        );
        let hash = vs[0].chain.submit(tx).await.unwrap();
        // Wait until a peer holds it, then take the entry validator down before it can lead.
        let start_t = context.current();
        while !vs[1].chain.mempool.lock().contains(&hash)
            && vs[1].chain.store.receipt(&hash).unwrap().is_none()
        {
            assert!(
                context.current().duration_since(start_t).unwrap() < Duration::from_secs(10),
                "gossip never arrived"
            );
            context.sleep(Duration::from_millis(5)).await;
        }
        vs[0].handle.abort();
        cut(&net, &public(&net, 0)).await;
        let receipt = wait_receipt(&context, &vs[2], &hash, Duration::from_secs(60)).await;
        assert_eq!(receipt.error, None);
        wait_height(&context, &[&vs[3]], receipt.height, Duration::from_secs(30)).await;
        assert_eq!(account(&vs[3], &carol).await.free, 5);
    });
}

/// A flood of transactions that cannot execute (nonce gaps, more than their senders can pay)
/// fills no pool: an honest transfer still gets in and finalizes, and the queued ones lapse.
#[test]
fn a_flood_of_unexecutable_transactions_fills_no_mempool() {
    deterministic::Runner::timed(Duration::from_secs(600)).start(|context| async move {
        let attackers: Vec<PrivateKey> = (0..150)
            .map(|i| PrivateKey::from_seed(10_000 + i))
            .collect();
        let transfer = |k: &PrivateKey, nonce: u64, chain: &veil_primitives::ChainIdentity| {
            Transaction {
                sender: k.public_key(),
                nonce,
                expiry: 1_000,
                call: Call::Transfer {
                    to: k.public_key(),
                    amount: 0,
                },
            }
            .sign(k, chain)
        };
        // Each attacker holds exactly one fee.
        let probe = veil_primitives::ChainIdentity {
            chain_id: 7,
            genesis_hash: veil_primitives::hash(b"any"),
        };
        let fee = Params::default().fee(transfer(&attackers[0], 1, &probe).encode_size());
        let funded = attackers.iter().map(|k| (k.public_key(), fee)).collect();
        let net = setup_with(&context, 6, link(), 100, funded).await;
        let vs = start_all(&context, &net).await;
        wait_all(&context, &vs, 2, Duration::from_secs(60)).await;
        let chain = vs[0].chain.identity;

        let mut unaffordable = 0;
        let mut pairs = Vec::new();
        for a in &attackers {
            let txs = [transfer(a, 1, &chain), transfer(a, 5, &chain)];
            for tx in &txs {
                for v in &vs {
                    if let Err(SubmitError::Pool(PoolError::Unaffordable { .. })) =
                        v.chain.submit(tx.clone()).await
                    {
                        unaffordable += 1;
                    }
                }
            }
            pairs.push(txs.map(|t| t.hash()));
        }
        assert!(unaffordable > 0, "no sender was held to its balance");
        for v in &vs {
            let pool = v.chain.mempool.lock();
            // One fee pays for one pending transaction, never two.
            for [first, second] in &pairs {
                assert!(!(pool.contains(first) && pool.contains(second)));
            }
            assert!(
                pool.len() <= 25,
                "gapped transactions took {} slots",
                pool.len()
            );
        }

        // An honest transfer still gets in and finalizes.
        let carol = PrivateKey::from_seed(7).public_key();
        let tx = from_faucet(
            &net,
            &vs[0],
            Call::Transfer {
                to: carol.clone(),
                amount: 5,
            },
        );
        let hash = vs[0].chain.submit(tx).await.unwrap();
        let receipt = wait_receipt(&context, &vs[1], &hash, Duration::from_secs(60)).await;
        assert_eq!(receipt.error, None);

        // The gapped transactions never execute; they lapse instead of holding the pools.
        let start_t = context.current();
        while vs.iter().any(|v| !v.chain.mempool.lock().is_empty()) {
            assert!(
                context.current().duration_since(start_t).unwrap() < Duration::from_secs(120),
                "queued transactions never lapsed"
            );
            context.sleep(Duration::from_millis(100)).await;
        }
        wait_height(&context, &[&vs[3]], receipt.height, Duration::from_secs(30)).await;
        assert_eq!(account(&vs[3], &carol).await.free, 5);
    });
}

/// A finalized header with an altered body (a transaction dropped, a signature swapped) is
/// refused wherever it enters: its bytes do not decode as a block, and a catching-up node asked
/// to apply it refuses, changes nothing, then applies the genuine block and the ones after it.
#[test]
fn an_altered_body_under_a_finalized_header_is_refused() {
    deterministic::Runner::timed(Duration::from_secs(600)).start(|context| async move {
        let net = setup(&context, 8, link()).await;
        let vs = start_all(&context, &net).await;
        wait_all(&context, &vs, 2, Duration::from_secs(60)).await;
        // A block with two transactions from two senders.
        let carol = PrivateKey::from_seed(7).public_key();
        let first = from_faucet(
            &net,
            &vs[0],
            Call::Transfer {
                to: carol.clone(),
                amount: 5,
            },
        );
        let second = Transaction {
            sender: first.transaction.sender.clone(),
            nonce: 1,
            expiry: 1_000,
            call: Call::Transfer {
                to: carol.clone(),
                amount: 6,
            },
        }
        .sign(&net.generated.faucet, &vs[0].chain.identity);
        let a = vs[0].chain.submit(first).await.unwrap();
        let b = vs[0].chain.submit(second).await.unwrap();
        let ra = wait_receipt(&context, &vs[0], &a, Duration::from_secs(60)).await;
        let rb = wait_receipt(&context, &vs[0], &b, Duration::from_secs(60)).await;
        let target = ra.height.max(rb.height) + 2;
        wait_all(&context, &vs, target, Duration::from_secs(60)).await;
        let with_txs = vs[0]
            .marshal
            .get_block(Height::new(ra.height))
            .await
            .unwrap()
            .inner()
            .clone();
        assert!(!with_txs.transactions.is_empty());

        // Altered bodies under the genuine, finalized header.
        let mut dropped = with_txs.clone();
        dropped.transactions.pop();
        let mut swapped = with_txs.clone();
        let other = from_faucet(
            &net,
            &vs[0],
            Call::Transfer {
                to: carol.clone(),
                amount: 99,
            },
        );
        swapped.transactions[0].signature = other.signature.clone();
        let limits = veil_primitives::BlockLimits::default();
        for altered in [&dropped, &swapped] {
            assert_eq!(
                altered.hash(),
                with_txs.hash(),
                "same header, same block hash"
            );
            let bytes = commonware_codec::Encode::encode(altered);
            let decoded =
                <veil_primitives::Block as commonware_codec::Decode>::decode_cfg(bytes, &limits);
            // The dropped transaction changes the root; a swapped signature changes the
            // transaction's encoding, so the root too.
            assert!(decoded.is_err(), "an altered body decoded");
        }

        // A node catching up from genesis is handed the altered block (as if it had got past
        // the decoder): it refuses, keeps its state, then applies the genuine chain.
        let dir = net.dirs[0].parent().unwrap().join("catching-up");
        std::fs::create_dir_all(&dir).unwrap();
        let late = open_chain(
            context.child("late"),
            "late",
            &net.genesis,
            &dir.join("index.redb"),
            ProductionConfig::default(),
        )
        .await
        .unwrap();
        for h in 1..ra.height {
            let block = vs[0].marshal.get_block(Height::new(h)).await.unwrap();
            late.finalize(block.inner()).await.unwrap();
        }
        let before = late.tip();
        for altered in [&dropped, &swapped] {
            let e = late.finalize(altered).await.unwrap_err().to_string();
            assert!(
                e.contains("does not commit to") || e.contains("bad signature"),
                "{e}"
            );
            assert_eq!(late.tip(), before, "nothing applied");
        }
        for h in ra.height..=target {
            let block = vs[0].marshal.get_block(Height::new(h)).await.unwrap();
            late.finalize(block.inner()).await.unwrap();
        }
        assert_eq!(late.tip().height, target);
        assert_eq!(account(&vs[0], &carol).await.free, 11);
        let carol_late = late.state.account_at(None, &carol).await.unwrap();
        assert_eq!(carol_late.free, 11);
    });
}
