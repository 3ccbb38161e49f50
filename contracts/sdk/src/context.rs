//! What a handler sees of the world: a read-only view for queries, a writable one for commands.
//!
//! A query gets [`QueryContext`], which has no method that writes, so a query that writes does
//! not compile; the VM also traps any write made in query mode.

use std::fmt;

use crate::codec::{self, Decode, DecodeError, Encode};
use crate::message::DEFAULT_MESSAGE_FUEL;
use crate::storage::with_value_buffer;
use crate::sys;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in &self.0 {
                    write!(f, "{:02x}", byte)?;
                }
                Ok(())
            }
        }

        impl Encode for $name {
            #[inline]
            fn encode_to(&self, out: &mut Vec<u8>) {
                self.0.encode_to(out)
            }
            #[inline]
            fn size_hint(&self) -> usize {
                32
            }
        }

        impl Decode for $name {
            #[inline]
            fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok($name(<[u8; 32]>::decode_from(input)?))
            }
        }
    };
}

id!(
    /// An account: the 32-byte ed25519 public key that signed the command or the query session.
    AccountId
);
id!(
    /// A contract on the chain.
    ContractId
);

/// What commands and queries both read: the environment and storage.
pub trait Env {
    /// The account that sent the command, or that signed the query session.
    fn caller(&self) -> AccountId {
        AccountId(sys::caller())
    }

    /// This contract.
    fn contract(&self) -> ContractId {
        ContractId(sys::contract())
    }

    /// Height of the block being executed (a query: the height of the state it reads).
    fn height(&self) -> u64 {
        sys::height()
    }

    /// Hash of the latest block known as it runs: for a command or a message, the parent of the
    /// block that carries it (its own hash is not known while it executes, and every miner
    /// replaying it sees the same); for a query, the block whose state it reads.
    fn block_hash(&self) -> [u8; 32] {
        sys::block_hash()
    }

    /// SHA-256 of `bytes`.
    fn sha256(&self, bytes: &[u8]) -> [u8; 32] {
        sys::sha256(bytes)
    }

    /// Reads a raw storage entry.
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        sys::storage_get(key)
    }

    /// Reads a raw storage entry into `out` (replacing its contents), reusing its allocation;
    /// returns whether the entry exists (`out` is unchanged if not).
    fn get_raw_into(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        sys::storage_get_into(key, out)
    }
}

/// A command's (and `init`'s and a message's) view: reads, writes, events, randomness,
/// messages to other contracts.
///
/// Writes take effect only if the handler returns `Ok`: on an error or a trap the VM discards
/// every write and event of the call.
pub struct Context {
    _private: (),
}

/// A query's view: reads only.
pub struct QueryContext {
    _private: (),
}

impl Env for Context {}
impl Env for QueryContext {}

impl Context {
    pub(crate) fn new() -> Self {
        Context { _private: () }
    }

    /// Writes a raw storage entry.
    #[inline]
    pub fn set_raw(&mut self, key: &[u8], value: &[u8]) {
        sys::storage_set(key, value)
    }

    /// Removes a raw storage entry.
    pub fn remove_raw(&mut self, key: &[u8]) {
        sys::storage_remove(key)
    }

    /// Emits an event; it reaches the sender of the command, encrypted, with the result.
    pub fn emit<E: Encode + ?Sized>(&mut self, event: &E) {
        with_value_buffer(|bytes| {
            codec::reserve(bytes, event.size_hint());
            event.encode_to(bytes);
            sys::emit_event(bytes)
        })
    }

    /// Fills `out` from the contract's deterministic random stream: a DRBG over the contract
    /// key, the block hash and the index of the command (or message) among this contract's in
    /// the block, so every miner, and every miner replaying the contract's log, draws the same
    /// bytes, and nobody outside pRuntime can predict them.
    pub fn random_bytes(&mut self, out: &mut [u8]) {
        sys::random(out)
    }

    /// Sends `message` to contract `to` with [`DEFAULT_MESSAGE_FUEL`]; returns its id, which
    /// its reply carries (see [`crate::message`]). The message leaves only if this handler
    /// returns `Ok`; it is sealed to `to`'s key, so only `to` reads it.
    pub fn send<M: Encode + ?Sized>(&mut self, to: ContractId, message: &M) -> u64 {
        self.send_with_fuel(to, message, DEFAULT_MESSAGE_FUEL)
    }

    /// Like [`send`](Self::send), with `fuel` for the destination's handler and again for this
    /// contract's handling of the reply; this call pays both at once.
    pub fn send_with_fuel<M: Encode + ?Sized>(
        &mut self,
        to: ContractId,
        message: &M,
        fuel: u64,
    ) -> u64 {
        with_value_buffer(|bytes| {
            codec::reserve(bytes, message.size_hint());
            message.encode_to(bytes);
            sys::send(&to.0, bytes, fuel)
        })
    }

    /// A random `u64` from the same stream.
    pub fn random_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.random_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

impl QueryContext {
    pub(crate) fn new() -> Self {
        QueryContext { _private: () }
    }
}
