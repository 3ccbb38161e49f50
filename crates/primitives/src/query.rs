//! Authenticated queries: sessions, requests and signed answers (whitepaper §3.1, CQRS).
//!
//! A user signs one [SessionGrant] with her account key: it names a session X25519 key, the
//! contracts it may query and an expiry (24 hours by default, 7 days at most), and she may
//! revoke it on chain before then. Queries go straight to the contract's miner, sealed with
//! the keys of a static X25519 agreement between the session key and the worker's registered
//! key (`veil_crypto::envelope::SessionKeys`), each under a counter the worker never accepts
//! twice. The answer is sealed back and carries a [Commitment] to the state it read, which the
//! worker signs once per contract and block.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use crate::{
    AccountId, ChainIdentity, Digest, Height, PrivateKey, Signature,
    contract::{ContractId, MAX_REPLY_PLAINTEXT},
    namespace,
};

/// Most contracts one session names.
pub const MAX_SESSION_CONTRACTS: usize = 16;
/// Default session lifetime (milliseconds).
pub const DEFAULT_SESSION_MS: u64 = 24 * 60 * 60 * 1000;
/// Longest session lifetime a worker accepts (milliseconds).
pub const MAX_SESSION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Largest query input.
pub const MAX_QUERY_INPUT: usize = 16 * 1024;
/// Largest sealed query request (a bucket size).
pub const MAX_QUERY_BYTES: usize = 20 * 1024;
/// Largest sealed answer (a bucket size).
pub const MAX_ANSWER_BYTES: usize = 20 * 1024;

/// What a user allows a session key to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionGrant {
    /// The account the queries act as (the contract's `caller`).
    pub account: AccountId,
    /// The session's X25519 public key.
    pub session: [u8; 32],
    /// The contracts the session may query (1 to [MAX_SESSION_CONTRACTS]).
    pub contracts: Vec<ContractId>,
    /// When it was issued (block-time milliseconds).
    pub issued: u64,
    /// When it ends (block-time milliseconds; at most [MAX_SESSION_MS] after `issued`).
    pub expiry: u64,
}

/// A grant with its account's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedGrant {
    /// The grant.
    pub grant: SessionGrant,
    /// The account's signature over it (domain `_VEIL_QUERY_SESSION`, bound to the chain).
    pub signature: Signature,
}

impl SessionGrant {
    fn signing_payload(&self, chain: &ChainIdentity) -> Vec<u8> {
        chain.bind(self)
    }

    /// Signs the grant for `chain` with the account's key.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedGrant {
        let signature = key.sign(namespace::QUERY_SESSION, &self.signing_payload(chain));
        SignedGrant {
            grant: self,
            signature,
        }
    }
}

impl SignedGrant {
    /// Whether the account signed this grant for `chain`.
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.grant.account.verify(
            namespace::QUERY_SESSION,
            &self.grant.signing_payload(chain),
            &self.signature,
        )
    }
}

/// What a query asks, sealed inside the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryCall {
    /// The contract.
    pub contract: ContractId,
    /// The encoded query.
    pub input: Vec<u8>,
    /// Answer only from a state at this height or later (read-your-writes).
    pub min_height: Height,
}

/// The state an answer was read from, signed by the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// The contract.
    pub contract: ContractId,
    /// The height the worker had executed.
    pub height: Height,
    /// That block's hash.
    pub block_hash: Digest,
    /// The contract's state root there.
    pub state_root: Digest,
    /// The contract's code.
    pub code_hash: Digest,
    /// The worker.
    pub worker: AccountId,
    /// Whether the worker runs in an insecure dev TEE (nothing proves its state is private).
    pub insecure: bool,
}

impl Commitment {
    /// The bytes the worker signs (domain `_VEIL_QUERY_COMMITMENT`).
    pub fn signing_payload(&self, chain: &ChainIdentity) -> Vec<u8> {
        chain.bind(self)
    }

    /// Whether `signature` is the worker's over this commitment for `chain`.
    pub fn verify(&self, chain: &ChainIdentity, signature: &Signature) -> bool {
        self.worker.verify(
            namespace::QUERY_COMMITMENT,
            &self.signing_payload(chain),
            signature,
        )
    }
}

/// What a query returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    /// The encoded result.
    Ok(Vec<u8>),
    /// The contract's typed error.
    Error {
        /// Its code.
        code: u32,
        /// Its message.
        message: String,
    },
    /// The query trapped or ran out of fuel.
    Failed(String),
    /// The worker has not executed `min_height` yet; it is at the commitment's height.
    NotYet,
}

/// A sealed answer's plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryAnswer {
    /// The outcome.
    pub outcome: QueryOutcome,
    /// The state it was read from.
    pub commitment: Commitment,
    /// The worker's signature over the commitment.
    pub signature: Signature,
}

/// A worker's query epoch: random, drawn each time its pRuntime starts, and bound into every
/// request and answer. A worker keeps its sessions' counters in memory only; the epoch makes a
/// request sealed before a restart unusable after it, where the counter alone would let it be
/// replayed once more.
pub type QueryEpoch = [u8; 16];

fn aad(
    domain: &[u8],
    chain: &ChainIdentity,
    worker: &AccountId,
    epoch: &QueryEpoch,
    session: &[u8; 32],
    counter: u64,
) -> Vec<u8> {
    let mut aad = domain.to_vec();
    aad.extend_from_slice(&chain.chain_id.to_be_bytes());
    aad.extend_from_slice(chain.genesis_hash.as_ref());
    aad.extend_from_slice(worker.as_ref());
    aad.extend_from_slice(epoch);
    aad.extend_from_slice(session);
    aad.extend_from_slice(&counter.to_be_bytes());
    aad
}

/// Associated data of request number `counter` of a session, sent in the worker's `epoch`.
pub fn request_aad(
    chain: &ChainIdentity,
    worker: &AccountId,
    epoch: &QueryEpoch,
    session: &[u8; 32],
    counter: u64,
) -> Vec<u8> {
    aad(
        namespace::QUERY_REQUEST,
        chain,
        worker,
        epoch,
        session,
        counter,
    )
}

/// Associated data of the answer to request number `counter`.
pub fn answer_aad(
    chain: &ChainIdentity,
    worker: &AccountId,
    epoch: &QueryEpoch,
    session: &[u8; 32],
    counter: u64,
) -> Vec<u8> {
    aad(
        namespace::QUERY_ANSWER,
        chain,
        worker,
        epoch,
        session,
        counter,
    )
}

impl Write for SessionGrant {
    fn write(&self, buf: &mut impl BufMut) {
        self.account.write(buf);
        self.session.write(buf);
        self.contracts.write(buf);
        self.issued.write(buf);
        self.expiry.write(buf);
    }
}

impl EncodeSize for SessionGrant {
    fn encode_size(&self) -> usize {
        self.account.encode_size() + 32 + self.contracts.encode_size() + 16
    }
}

impl Read for SessionGrant {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            account: crate::wire::read_account(buf)?,
            session: <[u8; 32]>::read(buf)?,
            contracts: Vec::<ContractId>::read_cfg(
                buf,
                &(RangeCfg::new(1..=MAX_SESSION_CONTRACTS), ()),
            )?,
            issued: u64::read(buf)?,
            expiry: u64::read(buf)?,
        })
    }
}

impl Write for SignedGrant {
    fn write(&self, buf: &mut impl BufMut) {
        self.grant.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedGrant {
    fn encode_size(&self) -> usize {
        self.grant.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedGrant {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            grant: SessionGrant::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

impl Write for QueryCall {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.input.write(buf);
        self.min_height.write(buf);
    }
}

impl EncodeSize for QueryCall {
    fn encode_size(&self) -> usize {
        32 + self.input.encode_size() + 8
    }
}

impl Read for QueryCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: Digest::read(buf)?,
            input: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_QUERY_INPUT), ()))?,
            min_height: u64::read(buf)?,
        })
    }
}

impl Write for Commitment {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.height.write(buf);
        self.block_hash.write(buf);
        self.state_root.write(buf);
        self.code_hash.write(buf);
        self.worker.write(buf);
        self.insecure.write(buf);
    }
}

impl EncodeSize for Commitment {
    fn encode_size(&self) -> usize {
        32 + 8 + 32 + 32 + 32 + self.worker.encode_size() + 1
    }
}

impl Read for Commitment {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: Digest::read(buf)?,
            height: u64::read(buf)?,
            block_hash: Digest::read(buf)?,
            state_root: Digest::read(buf)?,
            code_hash: Digest::read(buf)?,
            worker: crate::wire::read_account(buf)?,
            insecure: bool::read(buf)?,
        })
    }
}

fn read_text(buf: &mut impl Buf) -> Result<String, Error> {
    let bytes = Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_REPLY_PLAINTEXT), ()))?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("QueryOutcome", "text is not UTF-8"))
}

impl Write for QueryOutcome {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Ok(output) => {
                0u8.write(buf);
                output.write(buf);
            }
            Self::Error { code, message } => {
                1u8.write(buf);
                code.write(buf);
                message.as_bytes().to_vec().write(buf);
            }
            Self::Failed(reason) => {
                2u8.write(buf);
                reason.as_bytes().to_vec().write(buf);
            }
            Self::NotYet => 3u8.write(buf),
        }
    }
}

impl EncodeSize for QueryOutcome {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Ok(output) => output.encode_size(),
            Self::Error { message, .. } => 4 + message.as_bytes().to_vec().encode_size(),
            Self::Failed(reason) => reason.as_bytes().to_vec().encode_size(),
            Self::NotYet => 0,
        }
    }
}

impl Read for QueryOutcome {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Ok(Vec::<u8>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_REPLY_PLAINTEXT), ()),
            )?)),
            1 => Ok(Self::Error {
                code: u32::read(buf)?,
                message: read_text(buf)?,
            }),
            2 => Ok(Self::Failed(read_text(buf)?)),
            3 => Ok(Self::NotYet),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for QueryAnswer {
    fn write(&self, buf: &mut impl BufMut) {
        self.outcome.write(buf);
        self.commitment.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for QueryAnswer {
    fn encode_size(&self) -> usize {
        self.outcome.encode_size() + self.commitment.encode_size() + self.signature.encode_size()
    }
}

impl Read for QueryAnswer {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            outcome: QueryOutcome::read(buf)?,
            commitment: Commitment::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}
