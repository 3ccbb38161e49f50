//! A registered worker's egress: messages it signs with its identity key and any host relays
//! to the chain, which routes them through `mq` after checking signature and sequence.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use crate::{
    AccountId, ChainIdentity, Destination, Digest, Encode, PrivateKey, Signature, hash_parts,
    namespace, wire::bytes_cfg,
};

/// Topic of worker heartbeats. Payload: synced height (u64, big-endian) then that block's hash.
pub const HEARTBEAT_TOPIC: &[u8] = b"veil/heartbeat";

/// A message a registered worker sends through `mq` (egress), signed by its identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerMessage {
    /// The worker.
    pub sender: AccountId,
    /// Receiver.
    pub destination: Destination,
    /// Exactly the worker's next `mq` sequence.
    pub sequence: u64,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A [WorkerMessage] and the worker's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWorkerMessage {
    /// The message.
    pub message: WorkerMessage,
    /// Signature under [namespace::WORKER_MESSAGE] over chain id, genesis hash and message.
    pub signature: Signature,
}

impl WorkerMessage {
    /// The bytes a worker signs.
    pub fn signing_payload(&self, chain: &ChainIdentity) -> Vec<u8> {
        chain.bind(self)
    }

    /// Signs the message for `chain`.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedWorkerMessage {
        let signature = key.sign(namespace::WORKER_MESSAGE, &self.signing_payload(chain));
        SignedWorkerMessage {
            message: self,
            signature,
        }
    }
}

impl SignedWorkerMessage {
    /// Whether the sender signed this message for `chain`.
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.message.sender.verify(
            namespace::WORKER_MESSAGE,
            &self.message.signing_payload(chain),
            &self.signature,
        )
    }

    /// Hash identifying the signed message (for deduplication).
    pub fn hash(&self) -> Digest {
        hash_parts(&[&self.encode()])
    }
}

impl Write for WorkerMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.sender.write(buf);
        self.destination.write(buf);
        self.sequence.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for WorkerMessage {
    fn encode_size(&self) -> usize {
        self.sender.encode_size() + self.destination.encode_size() + 8 + self.payload.encode_size()
    }
}

impl Read for WorkerMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            sender: crate::wire::read_account(buf)?,
            destination: Destination::read(buf)?,
            sequence: u64::read(buf)?,
            payload: Vec::<u8>::read_cfg(buf, &bytes_cfg(*max_payload))?,
        })
    }
}

impl Write for SignedWorkerMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.message.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedWorkerMessage {
    fn encode_size(&self) -> usize {
        self.message.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedWorkerMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            message: WorkerMessage::read_cfg(buf, max_payload)?,
            signature: Signature::read(buf)?,
        })
    }
}
