//! The application consensus drives: `propose` and `verify` on behalf of [LocalChain], and the
//! reporter that hands finalized blocks to the finalizer task.

use std::{sync::Arc, time::Duration};

use commonware_actor::Feedback;
use commonware_consensus::{
    Application, Reporter,
    marshal::{Update, ancestry::Ancestry},
    simplex::types::Context,
};
use commonware_cryptography::Digested;
use commonware_runtime::{Clock, Spawner};
use commonware_utils::{Acknowledgement as _, acknowledgement::Exact};
use futures::{StreamExt as _, channel::mpsc};
use tracing::error;
use veil_primitives::{AccountId, Block, Digest};

use crate::{
    chain::{LocalChain, MAX_FUTURE_DRIFT, unix_ms},
    genesis::Scheme,
};

/// The marshal application: proposes and verifies blocks for consensus.
pub struct App<E: commonware_storage::Context + Spawner + Clock> {
    chain: Arc<LocalChain<E>>,
}

impl<E: commonware_storage::Context + Spawner + Clock> Clone for App<E> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
        }
    }
}

impl<E: commonware_storage::Context + Spawner + Clock> App<E> {
    /// Wraps the chain.
    pub fn new(chain: Arc<LocalChain<E>>) -> Self {
        Self { chain }
    }
}

impl<E, R> Application<R> for App<E>
where
    E: commonware_storage::Context + Spawner + Clock,
    R: Clock + Send + Sync + 'static,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, AccountId>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, _context): (R, Self::Context),
        mut ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.next().await?;
        // Pace block production; an empty chain need not spin.
        let earliest =
            parent.inner().header.timestamp + self.chain.config.block_interval.as_millis() as u64;
        let now = unix_ms(runtime.current());
        if now < earliest {
            runtime.sleep(Duration::from_millis(earliest - now)).await;
        }
        let now = unix_ms(runtime.current());
        self.chain.build(now, &parent, &mut ancestry).await
    }

    async fn verify(
        &mut self,
        (runtime, _context): (R, Self::Context),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        // A timestamp too far ahead becomes acceptable once our clock catches up.
        let now = unix_ms(runtime.current());
        let ts = block.inner().header.timestamp;
        let drift = MAX_FUTURE_DRIFT.as_millis() as u64;
        if ts > now + drift {
            runtime.sleep(Duration::from_millis(ts - now - drift)).await;
        }
        match self.chain.check(&block, &parent, &mut ancestry).await {
            Some(v) => v,
            None => futures::future::pending().await,
        }
    }
}

/// Receives finalized blocks from marshal and hands them to the finalizer task.
#[derive(Clone)]
pub struct Finalized {
    to_finalizer: mpsc::UnboundedSender<(Digested<Block>, Exact)>,
}

impl Reporter for Finalized {
    type Activity = Update<Block>;

    fn report(&mut self, update: Update<Block>) -> Feedback {
        match update {
            Update::Tip(..) => Feedback::Ok,
            Update::Block(block, ack) => match self.to_finalizer.unbounded_send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
        }
    }
}

/// Starts the task that applies finalized blocks; returns the reporter for marshal.
pub fn start_finalizer<E>(
    context: E,
    chain: Arc<LocalChain<E>>,
) -> (Finalized, commonware_runtime::Handle<()>)
where
    E: commonware_storage::Context + Spawner + Clock,
{
    let (tx, mut rx) = mpsc::unbounded::<(Digested<Block>, Exact)>();
    let handle = context.spawn(move |_| async move {
        while let Some((block, ack)) = rx.next().await {
            match chain.finalize(block.inner()).await {
                Ok(()) => ack.acknowledge(),
                Err(e) => {
                    // Without this block's state nothing later can be applied; stop here and
                    // leave the block unacknowledged so it is redelivered after a restart.
                    error!(%e, "cannot apply finalized block; restart the node");
                    return;
                }
            }
        }
    });
    (Finalized { to_finalizer: tx }, handle)
}
