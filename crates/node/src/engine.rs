//! Wires one validator together: consensus (simplex), block delivery and durable archives
//! (marshal), block broadcast, and the chain application.
//!
//! ```text
//!   p2p ──votes/certs──> simplex ──Inline──> marshal ──finalized blocks──> finalizer ─> Chain
//!                           │                  ▲  │                                     ▲
//!                           └─propose/verify───┘  └─archives (blocks + certificates)    │
//!                                   App ────────────────────────────────────────────────┘
//! ```
//!
//! Generic over the runtime and the network, so the same code runs on the tokio runtime with
//! real sockets and on the deterministic runtime with a simulated network.

use std::{sync::Arc, time::Duration};

use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox},
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{self, elector::RoundRobin},
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{Digested, Sha256, certificate::ConstantProvider};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Handle, Metrics, Quota, Spawner, Storage, buffer::paged::CacheRef,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU32, NZU64, NZUsize};
use rand::CryptoRng;
use veil_primitives::{AccountId, Block, BlockLimits};

use crate::{
    application::{App, start_finalizer},
    chain::LocalChain,
    genesis::Scheme,
};

/// Channel ids; identical on every validator.
pub mod channel {
    /// Simplex votes.
    pub const VOTES: u64 = 0;
    /// Simplex certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Simplex certificate backfill.
    pub const RESOLVER: u64 = 2;
    /// Full blocks from proposers.
    pub const BROADCAST: u64 = 3;
    /// Finalized block and certificate backfill.
    pub const BACKFILL: u64 = 4;
    /// Transaction gossip.
    pub const TRANSACTIONS: u64 = 5;
}

/// Per-peer, per-channel message rate, with the burst a peer may send at once.
///
/// The p2p layer preallocates every channel's inbound mailbox, and the shared outbound router
/// mailbox, at one burst per peer: the burst, not the rate, sets a validator's memory per peer
/// (a burst of 10,000 cost about 130 MB per additional validator). 256 is far above what
/// consensus sends a peer at once (a few votes and certificates per view, one block); a burst
/// beyond it is paced, not lost, on the way in, and resolvers retry what a sender drops.
pub fn quota() -> Quota {
    Quota::per_second(NZU32!(10_000)).allow_burst(NZU32!(MAX_BURST))
}

/// Most messages a peer may send on one channel at once (see [quota]).
pub const MAX_BURST: u32 = 256;

/// Largest peer-to-peer message for a network of `validators`.
pub fn max_message_size(validators: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, veil_primitives::Digest>(validators),
        marshal::max_payload_size::<Standard<Block>, Scheme>(validators, &BlockLimits::default()),
    ])
}

/// Marshal's mailbox: finalized blocks and certificates by height or hash.
pub type Marshal = Mailbox<Scheme, Standard<Block>>;

/// The five (sender, receiver) pairs of a validator.
pub struct Channels<S, R> {
    /// Votes.
    pub votes: (S, R),
    /// Certificates.
    pub certificates: (S, R),
    /// Certificate backfill.
    pub resolver: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
    /// Block backfill.
    pub backfill: (S, R),
    /// Transaction gossip.
    pub transactions: (S, R),
}

/// Consensus timing.
#[derive(Clone, Debug)]
pub struct Timing {
    /// How long to wait for a leader's proposal.
    pub leader_timeout: Duration,
    /// How long to wait for certification before nullifying.
    pub certification_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
        }
    }
}

/// A running validator's handles.
pub struct Engine {
    /// Finalized blocks and certificates.
    pub marshal: Marshal,
    /// Tasks; the validator runs while they do.
    pub handles: Vec<Handle<()>>,
}

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let buffer = NZUsize!(1 << 20);
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 64 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(65_536),
        codec_config,
        replay_buffer: buffer,
        freezer_key_write_buffer: buffer,
        freezer_value_write_buffer: buffer,
        ordinal_write_buffer: buffer,
    }
}

/// Starts a validator. `prefix` names its storage partitions.
#[allow(clippy::too_many_arguments)]
pub async fn start<E, S, R, P, B>(
    context: E,
    prefix: &str,
    chain: Arc<LocalChain<E>>,
    me: AccountId,
    scheme: Scheme,
    timing: Timing,
    peer_provider: P,
    blocker: B,
    channels: Channels<S, R>,
) -> anyhow::Result<Engine>
where
    E: Spawner + Metrics + Clock + Storage + CryptoRng + commonware_storage::Context,
    S: Sender<PublicKey = AccountId>,
    R: Receiver<PublicKey = AccountId>,
    P: Provider<PublicKey = AccountId>,
    B: Blocker<PublicKey = AccountId>,
{
    let page_cache = CacheRef::new(
        commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
        NZUsize!(1024),
    );
    let genesis = chain.genesis_block();
    let genesis_hash = genesis.hash();

    let certificates = immutable::Archive::init(
        context.child("finalizations"),
        // Threshold certificates decode without configuration.
        archive_config(prefix, "finalizations", &page_cache, ()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("opening finalizations archive: {e}"))?;
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(prefix, "blocks", &page_cache, BlockLimits::default()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("opening blocks archive: {e}"))?;

    let epocher = FixedEpocher::new(NZU64!(u64::MAX));
    let (actor, marshal_mailbox, _floor) = MarshalActor::<E, Standard<Block>, _, _, _, _, _>::init(
        context.child("marshal"),
        certificates,
        blocks,
        marshal::Config {
            provider: ConstantProvider::<Scheme, Epoch>::new(scheme.clone()),
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(Digested::precomputed(genesis, genesis_hash)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(1_024),
            prunable_items_per_section: NZU64!(4_096),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 20),
            key_write_buffer: NZUsize!(1 << 20),
            value_write_buffer: NZUsize!(1 << 20),
            block_codec_config: BlockLimits::default(),
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    let (broadcast_engine, buffer) = buffered::Engine::<_, AccountId, Block, _, _>::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me,
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: BlockLimits::default(),
            peer_provider,
            strategy: Sequential,
        },
    );
    let broadcast = broadcast_engine.start(channels.broadcast);

    let (finalized, finalizer) = start_finalizer(context.child("finalizer"), chain.clone());
    let (gossip_out, gossip_in) = match chain.take_gossip() {
        Some(outbox) => {
            let (a, b) = crate::gossip::start(
                context.child("gossip"),
                chain.clone(),
                outbox,
                channels.transactions,
                blocker.clone(),
            );
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let marshal_handle = actor.start(finalized, buffer, resolver);

    let inline: Inline<E, Scheme, App<E>, Block, FixedEpocher> = Inline::new(
        context.child("application"),
        App::new(chain),
        marshal_mailbox.clone(),
        epocher,
    );
    let consensus = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size: NZUsize!(1024),
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis_hash),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 20),
            page_cache,
            leader_timeout: timing.leader_timeout,
            certification_timeout: timing.certification_timeout,
            timeout_retry: Duration::from_secs(10),
            view_retention: ViewDelta::new(256),
            skip: simplex::SkipPolicy::Enabled {
                timeout: Duration::from_secs(12),
                budget: simplex::SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: simplex::ForwardPolicy::SilentVoters,
            track_historical_votes: false,
        },
    );
    let consensus = consensus.start(channels.votes, channels.certificates, channels.resolver);

    let mut handles = vec![broadcast, marshal_handle, consensus, finalizer];
    handles.extend(gossip_out);
    handles.extend(gossip_in);
    Ok(Engine {
        marshal: marshal_mailbox,
        handles,
    })
}
