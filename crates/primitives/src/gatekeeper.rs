//! The gatekeepers' protocol data: key holders, readiness, launch, and the gatekeepers' shared
//! egress stream.
//!
//! Gatekeepers are replicated deterministic state machines: each one signs the same
//! [GatekeeperMessage] for a sequence, the chain routes the first copy and drops identical
//! later ones, and records a [Divergence] when two copies differ.

use bytes::BufMut;
use commonware_codec::{Buf, Encode as _, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use crate::{
    AccountId, ChainIdentity, Destination, Digest, Height, MAX_ENDPOINT_BYTES, PrivateKey,
    Signature, TeeKind, hash_parts, namespace,
    wire::{read_string, string_size, write_string},
};

/// Topic of a gatekeeper's readiness confirmation ([Ready]), sent as worker egress.
pub const READY_TOPIC: &[u8] = b"veil/gatekeeper-ready";
/// Topic of the chain's launch announcement ([Launch]).
pub const LAUNCH_TOPIC: &[u8] = b"veil/launch";
/// Topic of the chain's announcement that a round's gatekeepers all hold the root key
/// ([Handover]).
pub const HANDOVER_TOPIC: &[u8] = b"veil/key-handover";
/// Topic of the gatekeepers' encrypted state checkpoints.
pub const GATEKEEPER_STATE_TOPIC: &[u8] = b"veil/gatekeeper-state";
/// Topic of the chain's divergence reports ([Divergence]).
pub const DIVERGENCE_TOPIC: &[u8] = b"veil/gatekeeper-divergence";
/// Topic of the chain's slashing reports ([Slashed]).
pub const SLASH_TOPIC: &[u8] = b"veil/slash";
/// Most gatekeepers an election may elect. An election is stored as one state value with each
/// gatekeeper (64 bytes) and each key holder (up to 322 bytes with a longest endpoint): at 100
/// that is under 39 KiB, below [crate::MAX_STATE_VALUE] with room to spare.
pub const MAX_GATEKEEPERS: u32 = 100;
/// Largest encrypted gatekeeper state checkpoint.
pub const MAX_GATEKEEPER_STATE_BYTES: usize = 64 * 1024;

/// The key check of a root key: a hash that identifies the key without revealing it, so the
/// chain and the gatekeepers can tell that everyone holds the same one.
pub fn root_key_check(era: u64, root_key: &[u8; 32]) -> Digest {
    hash_parts(&[namespace::ROOT_KEY_CHECK, &era.to_be_bytes(), root_key])
}

/// A pRuntime that holds the root key and answers the elected gatekeepers' key requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHolder {
    /// Identity key.
    pub worker: AccountId,
    /// X25519 key: the static key of its secure channel.
    pub ecdh_key: [u8; 32],
    /// Public API URL.
    pub endpoint: String,
    /// The TEE its attestation proved, as the chain verified it (a registration, or the
    /// genesis node's evidence at genesis); `None`: nothing the chain checked. A gatekeeper's
    /// pRuntime takes the root key only from an attested holder, and from a dev one only if
    /// it runs in dev mode itself.
    pub tee: Option<TeeKind>,
}

/// The genesis node, as the genesis spec names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisWorker {
    /// Identity and endpoint.
    pub holder: KeyHolder,
    /// [root_key_check] of the era-0 root key it created.
    pub key_check: Digest,
}

/// Where the genesis node is in its one-off life, as the chain and pRuntime report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenesisNodeStatus {
    /// It holds the root key and answers the elected gatekeepers' key requests (before
    /// launch).
    Active,
    /// It saw the launch and wiped its keys; it answers nothing.
    Retired,
    /// Genesis named no genesis node (the network never launches).
    None,
}

impl std::fmt::Display for GenesisNodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::None => "none",
        })
    }
}

/// Whether the network is live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Before every elected gatekeeper confirmed the root key: no contracts.
    #[default]
    Prelaunch,
    /// Launched at `height`; the root key's era is `era`.
    Launched {
        /// Launch block.
        height: Height,
        /// Root-key era.
        era: u64,
    },
}

/// A gatekeeper's readiness confirmation: it holds the root key whose check is `key_check`,
/// for election `round`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// Election round.
    pub round: u64,
    /// [root_key_check] of the key it holds.
    pub key_check: Digest,
}

/// The launch announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The election round whose gatekeepers all confirmed.
    pub round: u64,
    /// Root-key era.
    pub era: u64,
    /// The gatekeepers.
    pub gatekeepers: Vec<AccountId>,
}

/// Every gatekeeper of a round confirmed: they are the key holders now, and a gatekeeper of an
/// earlier round outside them wipes its root key (whitepaper §4.7: the members of the old set
/// not in the new one destroy theirs), so no copy stays where nobody is accountable for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The round whose gatekeepers all confirmed.
    pub round: u64,
    /// Its gatekeepers.
    pub gatekeepers: Vec<AccountId>,
}

/// Elected gatekeepers that did not confirm before the deadline lose part of their backer's
/// bond and of the stake nominators exposed to them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slashed {
    /// The round that expired.
    pub round: u64,
    /// The gatekeeper.
    pub worker: AccountId,
    /// The account whose bond backed it.
    pub backer: AccountId,
    /// Amount taken from the backer and the exposed nominators (into the reward pool).
    pub amount: u128,
}

/// Two gatekeepers signed different messages for one sequence of the gatekeepers' stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The sequence.
    pub sequence: u64,
    /// [GatekeeperMessage::content_hash] of the copy routed first.
    pub routed: Digest,
    /// Content hash of the copy that differs.
    pub other: Digest,
    /// Who signed the copy that differs.
    pub signer: AccountId,
}

/// One message of the gatekeepers' shared egress stream, signed by one gatekeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatekeeperMessage {
    /// The gatekeeper that signed this copy.
    pub signer: AccountId,
    /// Receiver.
    pub destination: Destination,
    /// Position in the gatekeepers' stream.
    pub sequence: u64,
    /// Payload.
    pub payload: Vec<u8>,
}

impl GatekeeperMessage {
    /// Hash of what every honest gatekeeper signs identically (everything but the signer).
    pub fn content_hash(&self) -> Digest {
        hash_parts(&[
            &self.destination.encode(),
            &self.sequence.to_be_bytes(),
            &self.payload,
        ])
    }

    fn signing_payload(&self, chain: &ChainIdentity) -> Vec<u8> {
        chain.bind(self)
    }

    /// Signs the message for `chain`.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedGatekeeperMessage {
        let signature = key.sign(namespace::GATEKEEPER_MESSAGE, &self.signing_payload(chain));
        SignedGatekeeperMessage {
            message: self,
            signature,
        }
    }
}

/// A [GatekeeperMessage] and its signer's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedGatekeeperMessage {
    /// The message.
    pub message: GatekeeperMessage,
    /// Signature under [namespace::GATEKEEPER_MESSAGE] over chain id, genesis hash and message.
    pub signature: Signature,
}

impl SignedGatekeeperMessage {
    /// Whether the signer signed this message for `chain`.
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.message.signer.verify(
            namespace::GATEKEEPER_MESSAGE,
            &self.message.signing_payload(chain),
            &self.signature,
        )
    }
}

impl Write for KeyHolder {
    fn write(&self, buf: &mut impl BufMut) {
        self.worker.write(buf);
        self.ecdh_key.write(buf);
        write_string(&self.endpoint, buf);
        self.tee.write(buf);
    }
}

impl EncodeSize for KeyHolder {
    fn encode_size(&self) -> usize {
        self.worker.encode_size() + 32 + string_size(&self.endpoint) + self.tee.encode_size()
    }
}

impl Read for KeyHolder {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            worker: crate::wire::read_account(buf)?,
            ecdh_key: <[u8; 32]>::read(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            tee: Option::<TeeKind>::read(buf)?,
        })
    }
}

/// Bounds a list of key holders.
pub fn holders_cfg() -> (RangeCfg<usize>, ()) {
    (RangeCfg::new(0..=MAX_GATEKEEPERS as usize), ())
}

impl Write for GenesisWorker {
    fn write(&self, buf: &mut impl BufMut) {
        self.holder.write(buf);
        self.key_check.write(buf);
    }
}

impl EncodeSize for GenesisWorker {
    fn encode_size(&self) -> usize {
        self.holder.encode_size() + 32
    }
}

impl Read for GenesisWorker {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            holder: KeyHolder::read(buf)?,
            key_check: Digest::read(buf)?,
        })
    }
}

impl Write for Phase {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Prelaunch => 0u8.write(buf),
            Self::Launched { height, era } => {
                1u8.write(buf);
                height.write(buf);
                era.write(buf);
            }
        }
    }
}

impl EncodeSize for Phase {
    fn encode_size(&self) -> usize {
        match self {
            Self::Prelaunch => 1,
            Self::Launched { .. } => 17,
        }
    }
}

impl Read for Phase {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Prelaunch),
            1 => Ok(Self::Launched {
                height: u64::read(buf)?,
                era: u64::read(buf)?,
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Ready {
    fn write(&self, buf: &mut impl BufMut) {
        self.round.write(buf);
        self.key_check.write(buf);
    }
}

impl EncodeSize for Ready {
    fn encode_size(&self) -> usize {
        8 + 32
    }
}

impl Read for Ready {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            round: u64::read(buf)?,
            key_check: Digest::read(buf)?,
        })
    }
}

impl Write for Launch {
    fn write(&self, buf: &mut impl BufMut) {
        self.round.write(buf);
        self.era.write(buf);
        self.gatekeepers.write(buf);
    }
}

impl EncodeSize for Launch {
    fn encode_size(&self) -> usize {
        16 + self.gatekeepers.encode_size()
    }
}

impl Read for Launch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            round: u64::read(buf)?,
            era: u64::read(buf)?,
            gatekeepers: Vec::<AccountId>::read_cfg(buf, &holders_cfg())?,
        })
    }
}

impl Write for Handover {
    fn write(&self, buf: &mut impl BufMut) {
        self.round.write(buf);
        self.gatekeepers.write(buf);
    }
}

impl EncodeSize for Handover {
    fn encode_size(&self) -> usize {
        8 + self.gatekeepers.encode_size()
    }
}

impl Read for Handover {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            round: u64::read(buf)?,
            gatekeepers: Vec::<AccountId>::read_cfg(buf, &holders_cfg())?,
        })
    }
}

impl Write for Slashed {
    fn write(&self, buf: &mut impl BufMut) {
        self.round.write(buf);
        self.worker.write(buf);
        self.backer.write(buf);
        self.amount.write(buf);
    }
}

impl EncodeSize for Slashed {
    fn encode_size(&self) -> usize {
        8 + self.worker.encode_size() + self.backer.encode_size() + 16
    }
}

impl Read for Slashed {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            round: u64::read(buf)?,
            worker: crate::wire::read_account(buf)?,
            backer: crate::wire::read_account(buf)?,
            amount: u128::read(buf)?,
        })
    }
}

impl Write for Divergence {
    fn write(&self, buf: &mut impl BufMut) {
        self.sequence.write(buf);
        self.routed.write(buf);
        self.other.write(buf);
        self.signer.write(buf);
    }
}

impl EncodeSize for Divergence {
    fn encode_size(&self) -> usize {
        8 + 32 + 32 + self.signer.encode_size()
    }
}

impl Read for Divergence {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            sequence: u64::read(buf)?,
            routed: Digest::read(buf)?,
            other: Digest::read(buf)?,
            signer: crate::wire::read_account(buf)?,
        })
    }
}

impl Write for GatekeeperMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.signer.write(buf);
        self.destination.write(buf);
        self.sequence.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for GatekeeperMessage {
    fn encode_size(&self) -> usize {
        self.signer.encode_size() + self.destination.encode_size() + 8 + self.payload.encode_size()
    }
}

impl Read for GatekeeperMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            signer: crate::wire::read_account(buf)?,
            destination: Destination::read(buf)?,
            sequence: u64::read(buf)?,
            payload: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=*max_payload), ()))?,
        })
    }
}

impl Write for SignedGatekeeperMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.message.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedGatekeeperMessage {
    fn encode_size(&self) -> usize {
        self.message.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedGatekeeperMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            message: GatekeeperMessage::read_cfg(buf, max_payload)?,
            signature: Signature::read(buf)?,
        })
    }
}
