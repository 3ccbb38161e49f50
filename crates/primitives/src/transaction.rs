use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{Encode, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use crate::{
    AccountId, Balance, ChainIdentity, Destination, Digest, Height, Params, PrivateKey,
    Registration, RegistryParams, Signature, SignedGatekeeperMessage, SignedWorkerMessage,
    StakingCall, StakingParams,
    contract::{ContractCall, ContractParams},
    hash, namespace,
};

/// Bounds for decoding transactions from untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub struct TxLimits {
    /// Largest payload of a `SendMessage` call.
    pub max_payload: usize,
}

impl Default for TxLimits {
    fn default() -> Self {
        Self {
            max_payload: Params::default().max_tx_bytes as usize,
        }
    }
}

/// Governance actions, accepted only from the governance key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GovernanceCall {
    /// Replace the chain parameters.
    SetParams(Params),
    /// Hand governance to another key.
    SetGovernanceKey(AccountId),
    /// Replace the registration policy. Workers whose code is no longer allowlisted are
    /// deregistered.
    SetRegistryParams(RegistryParams),
    /// Replace the staking parameters.
    SetStakingParams(StakingParams),
    /// Replace the contract parameters (fuel price, fuel limit, code fee).
    SetContractParams(ContractParams),
}

/// What a transaction asks the chain to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Move native tokens to another account.
    Transfer {
        /// Recipient.
        to: AccountId,
        /// Amount moved (fees are charged on top).
        amount: Balance,
    },
    /// A governance action.
    Governance(GovernanceCall),
    /// Route a message through `mq` to a worker, contract or topic.
    SendMessage {
        /// Receiver.
        destination: Destination,
        /// Opaque payload.
        payload: Vec<u8>,
    },
    /// Register (or renew) a worker, with its attestation evidence. The sender is the operator.
    Register(Box<Registration>),
    /// Relay a registered worker's signed egress message. Anyone may relay it; the first copy
    /// of each sequence wins.
    WorkerMessage(Box<SignedWorkerMessage>),
    /// Bond, unbond, stand a worker as gatekeeper candidate, or nominate.
    Staking(StakingCall),
    /// Relay one gatekeeper's copy of a message of the gatekeepers' shared stream. The first
    /// copy of each sequence is routed; identical later copies are dropped, and a different
    /// one is recorded as a divergence.
    GatekeeperMessage(Box<SignedGatekeeperMessage>),
    /// Upload code, instantiate or reassign a contract, or send one an encrypted command.
    Contract(ContractCall),
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The account that signs and pays.
    pub sender: AccountId,
    /// Must equal the sender's next nonce.
    pub nonce: u64,
    /// Last height at which the transaction may be included.
    pub expiry: Height,
    /// The action.
    pub call: Call,
}

/// A transaction with the sender's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The signed content.
    pub transaction: Transaction,
    /// Signature under [namespace::TRANSACTION] over [signing_payload].
    pub signature: Signature,
}

/// The bytes a sender signs: chain id, genesis hash, then the encoded transaction.
pub fn signing_payload(chain: &ChainIdentity, tx: &Transaction) -> Vec<u8> {
    chain.bind(tx)
}

impl Transaction {
    /// Signs the transaction for one chain.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedTransaction {
        let signature = key.sign(namespace::TRANSACTION, &signing_payload(chain, &self));
        SignedTransaction {
            transaction: self,
            signature,
        }
    }
}

impl SignedTransaction {
    /// Checks the signature for this chain.
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.transaction.sender.verify(
            namespace::TRANSACTION,
            &signing_payload(chain, &self.transaction),
            &self.signature,
        )
    }

    /// The transaction hash: SHA-256 of the signed encoding.
    pub fn hash(&self) -> Digest {
        hash(&self.encode())
    }
}

impl Write for GovernanceCall {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::SetParams(p) => {
                0u8.write(buf);
                p.write(buf);
            }
            Self::SetGovernanceKey(k) => {
                1u8.write(buf);
                k.write(buf);
            }
            Self::SetRegistryParams(p) => {
                2u8.write(buf);
                p.write(buf);
            }
            Self::SetStakingParams(p) => {
                3u8.write(buf);
                p.write(buf);
            }
            Self::SetContractParams(p) => {
                4u8.write(buf);
                p.write(buf);
            }
        }
    }
}

impl EncodeSize for GovernanceCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::SetParams(p) => p.encode_size(),
            Self::SetGovernanceKey(k) => k.encode_size(),
            Self::SetRegistryParams(p) => p.encode_size(),
            Self::SetStakingParams(p) => p.encode_size(),
            Self::SetContractParams(p) => p.encode_size(),
        }
    }
}

impl Read for GovernanceCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::SetParams(Params::read(buf)?)),
            1 => Ok(Self::SetGovernanceKey(crate::wire::read_account(buf)?)),
            2 => Ok(Self::SetRegistryParams(RegistryParams::read(buf)?)),
            3 => Ok(Self::SetStakingParams(StakingParams::read(buf)?)),
            4 => Ok(Self::SetContractParams(ContractParams::read(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Call {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Transfer { to, amount } => {
                0u8.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::Governance(g) => {
                1u8.write(buf);
                g.write(buf);
            }
            Self::SendMessage {
                destination,
                payload,
            } => {
                2u8.write(buf);
                destination.write(buf);
                payload.write(buf);
            }
            Self::Register(r) => {
                3u8.write(buf);
                r.write(buf);
            }
            Self::WorkerMessage(m) => {
                4u8.write(buf);
                m.write(buf);
            }
            Self::Staking(c) => {
                5u8.write(buf);
                c.write(buf);
            }
            Self::GatekeeperMessage(m) => {
                6u8.write(buf);
                m.write(buf);
            }
            Self::Contract(c) => {
                7u8.write(buf);
                c.write(buf);
            }
        }
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Transfer { to, amount } => to.encode_size() + amount.encode_size(),
            Self::Governance(g) => g.encode_size(),
            Self::SendMessage {
                destination,
                payload,
            } => destination.encode_size() + payload.encode_size(),
            Self::Register(r) => r.encode_size(),
            Self::WorkerMessage(m) => m.encode_size(),
            Self::Staking(c) => c.encode_size(),
            Self::GatekeeperMessage(m) => m.encode_size(),
            Self::Contract(c) => c.encode_size(),
        }
    }
}

impl Read for Call {
    type Cfg = TxLimits;
    fn read_cfg(buf: &mut impl Buf, limits: &TxLimits) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Transfer {
                to: crate::wire::read_account(buf)?,
                amount: u128::read(buf)?,
            }),
            1 => Ok(Self::Governance(GovernanceCall::read(buf)?)),
            2 => Ok(Self::SendMessage {
                destination: Destination::read(buf)?,
                payload: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=limits.max_payload), ()))?,
            }),
            3 => Ok(Self::Register(Box::new(Registration::read(buf)?))),
            4 => Ok(Self::WorkerMessage(Box::new(
                SignedWorkerMessage::read_cfg(buf, &limits.max_payload)?,
            ))),
            5 => Ok(Self::Staking(StakingCall::read(buf)?)),
            6 => Ok(Self::GatekeeperMessage(Box::new(
                SignedGatekeeperMessage::read_cfg(buf, &limits.max_payload)?,
            ))),
            7 => Ok(Self::Contract(ContractCall::read(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.sender.write(buf);
        self.nonce.write(buf);
        self.expiry.write(buf);
        self.call.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.sender.encode_size() + 8 + 8 + self.call.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = TxLimits;
    fn read_cfg(buf: &mut impl Buf, limits: &TxLimits) -> Result<Self, Error> {
        Ok(Self {
            sender: crate::wire::read_account(buf)?,
            nonce: u64::read(buf)?,
            expiry: u64::read(buf)?,
            call: Call::read_cfg(buf, limits)?,
        })
    }
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.transaction.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.transaction.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedTransaction {
    type Cfg = TxLimits;
    fn read_cfg(buf: &mut impl Buf, limits: &TxLimits) -> Result<Self, Error> {
        Ok(Self {
            transaction: Transaction::read_cfg(buf, limits)?,
            signature: Signature::read(buf)?,
        })
    }
}
