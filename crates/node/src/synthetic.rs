//! A synthetic chain: a real genesis (QMDB state root and group-key proof) and real threshold
//! certificates over hand-made headers, for testing and benchmarking light clients and pRuntime
//! without running consensus. Never used by a running node.

use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::types::{Finalization, Finalize, Proposal},
    types::{Epoch, Round, View},
};
use commonware_parallel::Sequential;
use commonware_runtime::{Runner as _, deterministic};
use commonware_utils::{TestRng, iter::NonEmpty};
use veil_primitives::{Digest, Header, Message, Params, hash};

use crate::{
    genesis::{Genesis, Scheme, generate},
    state::StateStore,
};

/// A chain built by hand: headers, per-block messages, and certificates on demand.
pub struct SyntheticChain {
    /// Chain id.
    pub chain_id: u64,
    /// The genesis spec it was made from.
    pub genesis: Genesis,
    /// Headers by height (index 0 is genesis).
    pub headers: Vec<Header>,
    /// Messages by height.
    pub messages: Vec<Vec<Message>>,
    /// Encoded group key.
    pub group_key: Vec<u8>,
    /// Proof of the group key under the genesis state root.
    pub chain_proof: Vec<u8>,
    signers: Vec<Scheme>,
}

impl SyntheticChain {
    /// A 4-validator chain at genesis.
    pub fn new(seed: u64) -> Self {
        let addrs: Vec<_> = (0..4)
            .map(|i| {
                format!("127.0.0.1:{}", 41_000 + i)
                    .parse()
                    .expect("address")
            })
            .collect();
        let mut rng = TestRng::new(seed);
        let generated = generate(&mut rng, 9, 1_000, &addrs, 1 << 40, Params::default())
            .expect("generate genesis");
        let genesis = Genesis::from_spec(&generated.spec).expect("genesis spec");
        let signers = generated
            .validators
            .iter()
            .map(|(_, share)| genesis.scheme(Some(share.clone())).expect("scheme"))
            .collect();
        let state = genesis.state.clone();
        let (root, proof) = deterministic::Runner::default().start(|ctx| async move {
            let changes = veil_chain::genesis_changes(&state)
                .await
                .expect("genesis changes");
            let (store, root) = StateStore::open(ctx, "genesis", || changes)
                .await
                .expect("state store");
            let proof = store
                .prove(&veil_chain::keys::chain())
                .await
                .expect("proof");
            (root.expect("created"), proof.proof)
        });
        let header = Header {
            height: 0,
            parent: Digest::from([0u8; 32]),
            timestamp: genesis.state.timestamp,
            state_root: root,
            transactions_root: veil_crypto::merkle::empty_root(),
            messages_root: veil_crypto::merkle::empty_root(),
        };
        Self {
            chain_id: genesis.chain_id,
            group_key: genesis.group_key().encode().to_vec(),
            genesis,
            headers: vec![header],
            messages: vec![Vec::new()],
            chain_proof: proof,
            signers,
        }
    }

    /// Appends a block carrying `messages`; returns its header.
    pub fn extend(&mut self, messages: Vec<Message>) -> &Header {
        let parent = self.headers.last().expect("genesis");
        let height = parent.height + 1;
        let header = Header {
            height,
            parent: parent.hash(),
            // One block a second, as the simulated chain's block environment has it.
            timestamp: parent.timestamp + 1_000,
            state_root: hash(&height.to_be_bytes()),
            transactions_root: veil_crypto::merkle::empty_root(),
            messages_root: crate::chain::messages_root(&messages),
        };
        self.headers.push(header);
        self.messages.push(messages);
        self.headers.last().expect("just pushed")
    }

    /// An encoded finalization certificate for the block at `height`, signed by a quorum.
    pub fn certificate(&self, height: u64) -> Vec<u8> {
        let header = &self.headers[height as usize];
        let proposal = Proposal::new(
            Round::new(Epoch::zero(), View::new(height)),
            View::new(height.saturating_sub(1)),
            header.hash(),
        );
        let votes: Vec<Finalize<Scheme, Digest>> = self
            .signers
            .iter()
            .take(3)
            .map(|s| Finalize::sign(s, proposal.clone()).expect("signer"))
            .collect();
        let fin = Finalization::from_owned_finalizes(
            &self.signers[0],
            NonEmpty::try_new(votes.into_iter()).expect("votes"),
            &Sequential,
        )
        .expect("assemble");
        fin.encode().to_vec()
    }
}
