//! A native host for unit tests: storage, accounts, caller, height, and counts of storage
//! reads and writes, running a contract's handlers through the same encoded entry points the
//! VM calls.
//!
//! ```ignore
//! let mut host = MockHost::new();
//! let alice = MockHost::account("alice");
//! host.set_caller(alice);
//! host.init::<Token>(&Init { supply: 100 }).unwrap();
//! let balance: u128 = host.query_as::<Token, _>(&Query::Balance { who: alice }).unwrap();
//! ```
//!
//! Like the VM, a handler that returns an error or panics leaves storage as it was and sends
//! nothing, and a write in query mode is a trap. Messages a contract sends are collected
//! ([`MockHost::take_sent`]); a test delivers messages and replies with [`MockHost::message`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};

use crate::codec::{self, Decode, Encode};
use crate::context::{AccountId, ContractId};
use crate::entry::{self, Contract};
use crate::error::Error;
use crate::message::Incoming;

#[derive(Default)]
struct State {
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    input: Vec<u8>,
    output: Option<Vec<u8>>,
    value: Vec<u8>,
    events: Vec<Vec<u8>>,
    caller: [u8; 32],
    contract: [u8; 32],
    height: u64,
    block_hash: [u8; 32],
    query_mode: bool,
    random_counter: u64,
    reads: u64,
    writes: u64,
    /// Next message id per destination, counting delivered messages only.
    next_id: BTreeMap<[u8; 32], u64>,
    /// Messages of the running call.
    outgoing: Vec<SentMessage>,
    /// Messages of successful calls, in order.
    sent: Vec<SentMessage>,
    /// What each key the running call wrote held before its first write (`None`: absent), to
    /// put back if the call fails: undoing costs what the call wrote, not the whole storage.
    undo: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A message a contract sent on the mock host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The destination.
    pub to: ContractId,
    /// Its id (what `send` returned and the reply will carry).
    pub id: u64,
    /// Fuel it carries.
    pub fuel: u64,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|state| f(&mut state.borrow_mut()))
}

/// The host ABI as the mock provides it (what `sys` calls on native targets).
pub(crate) mod sys {
    use super::{sha256 as digest, with};

    pub fn input_into(out: &mut Vec<u8>) {
        with(|s| {
            out.clear();
            out.extend_from_slice(&s.input);
        })
    }

    pub fn set_output(bytes: &[u8]) {
        with(|s| s.output = Some(bytes.to_vec()))
    }

    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        with(|s| {
            s.reads += 1;
            let value = s.storage.get(key).cloned();
            if let Some(value) = &value {
                s.value = value.clone();
            }
            value
        })
    }

    pub fn storage_get_into(key: &[u8], out: &mut Vec<u8>) -> bool {
        match storage_get(key) {
            Some(value) => {
                *out = value;
                true
            }
            None => false,
        }
    }

    fn write(key: &[u8], f: impl FnOnce(&mut super::State)) {
        with(|s| {
            assert!(!s.query_mode, "trap: storage write in query mode");
            s.writes += 1;
            if !s.undo.contains_key(key) {
                let before = s.storage.get(key).cloned();
                s.undo.insert(key.to_vec(), before);
            }
            f(s)
        })
    }

    pub fn storage_set(key: &[u8], value: &[u8]) {
        write(key, |s| {
            s.storage.insert(key.to_vec(), value.to_vec());
        })
    }

    pub fn storage_remove(key: &[u8]) {
        write(key, |s| {
            s.storage.remove(key);
        })
    }

    /// Every stored key, in order.
    #[cfg(test)]
    pub fn keys() -> Vec<Vec<u8>> {
        with(|s| s.storage.keys().cloned().collect())
    }

    pub fn caller() -> [u8; 32] {
        with(|s| s.caller)
    }

    pub fn contract() -> [u8; 32] {
        with(|s| s.contract)
    }

    pub fn height() -> u64 {
        with(|s| s.height)
    }

    pub fn block_hash() -> [u8; 32] {
        with(|s| s.block_hash)
    }

    pub fn emit_event(bytes: &[u8]) {
        with(|s| {
            assert!(!s.query_mode, "trap: event in query mode");
            s.events.push(bytes.to_vec())
        })
    }

    pub fn random(out: &mut [u8]) {
        // Not the VM's DRBG (that one is keyed by the contract key): deterministic per test.
        with(|s| {
            assert!(!s.query_mode, "trap: randomness in query mode");
            for chunk in out.chunks_mut(32) {
                let mut seed = s.block_hash.to_vec();
                seed.extend_from_slice(&s.random_counter.to_le_bytes());
                s.random_counter += 1;
                chunk.copy_from_slice(&digest(&seed)[..chunk.len()]);
            }
        })
    }

    pub fn sha256(bytes: &[u8]) -> [u8; 32] {
        digest(bytes)
    }

    pub fn send(to: &[u8; 32], payload: &[u8], fuel: u64) -> u64 {
        with(|s| {
            assert!(!s.query_mode, "trap: message in query mode");
            let earlier = s.outgoing.iter().filter(|m| &m.to.0 == to).count() as u64;
            let id = s.next_id.get(to).copied().unwrap_or(0) + earlier;
            s.outgoing.push(super::SentMessage {
                to: super::ContractId(*to),
                id,
                fuel,
                payload: payload.to_vec(),
            });
            id
        })
    }
}

/// A native stand-in for the VM, holding one contract's storage on this thread.
pub struct MockHost {
    _private: (),
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MockHost {
    /// A host with empty storage, height 1, and `MockHost::account("caller")` as the caller.
    pub fn new() -> Self {
        with(|s| {
            *s = State::default();
            s.caller = Self::account("caller").0;
            s.contract = [0xc0; 32];
            s.height = 1;
        });
        MockHost { _private: () }
    }

    /// A deterministic account for a name, for readable tests.
    pub fn account(name: &str) -> AccountId {
        AccountId(sha256(name.as_bytes()))
    }

    /// Sets who sends the next command or query.
    pub fn set_caller(&mut self, caller: AccountId) {
        with(|s| s.caller = caller.0)
    }

    /// Sets the block height.
    pub fn set_height(&mut self, height: u64) {
        with(|s| s.height = height)
    }

    /// Sets the contract's own id.
    pub fn set_contract(&mut self, contract: ContractId) {
        with(|s| s.contract = contract.0)
    }

    /// Runs `init`.
    pub fn init<C: Contract>(&mut self, args: &impl Encode) -> Result<(), Error> {
        self.run(false, args, entry::init::<C>).map(|_| ())
    }

    /// Runs a command; its writes stay only if it succeeds.
    pub fn command<C: Contract>(&mut self, command: &impl Encode) -> Result<Vec<u8>, Error> {
        self.run(false, command, entry::command::<C>)
    }

    /// Runs a command and decodes its result.
    pub fn command_as<C: Contract, T: Decode>(
        &mut self,
        command: &impl Encode,
    ) -> Result<T, Error> {
        decode_result(self.command::<C>(command)?)
    }

    /// Runs a query in read-only mode.
    pub fn query<C: Contract>(&self, query: &impl Encode) -> Result<Vec<u8>, Error> {
        self.run(true, query, entry::query::<C>)
    }

    /// Runs a query and decodes its answer.
    pub fn query_as<C: Contract, T: Decode>(&self, query: &impl Encode) -> Result<T, Error> {
        decode_result(self.query::<C>(query)?)
    }

    /// Delivers a message or a reply to the contract's `message` handler; its writes and
    /// messages stay only if it succeeds.
    pub fn message<C: Contract>(&mut self, incoming: &Incoming) -> Result<Vec<u8>, Error> {
        self.run_raw(false, incoming.to_input(), entry::message::<C>)
    }

    /// Messages sent by successful calls since the last call of this, in order.
    pub fn take_sent(&mut self) -> Vec<SentMessage> {
        with(|s| std::mem::take(&mut s.sent))
    }

    /// Storage reads since the last [`reset_counts`](Self::reset_counts).
    pub fn reads(&self) -> u64 {
        with(|s| s.reads)
    }

    /// Storage writes since the last [`reset_counts`](Self::reset_counts).
    pub fn writes(&self) -> u64 {
        with(|s| s.writes)
    }

    /// Resets the read and write counts.
    pub fn reset_counts(&mut self) {
        with(|s| {
            s.reads = 0;
            s.writes = 0
        })
    }

    /// Events emitted by successful commands so far, in order.
    pub fn events(&self) -> Vec<Vec<u8>> {
        with(|s| s.events.clone())
    }

    /// Number of storage entries.
    pub fn entries(&self) -> usize {
        with(|s| s.storage.len())
    }

    fn run(&self, query: bool, input: &impl Encode, entry: fn()) -> Result<Vec<u8>, Error> {
        self.run_raw(query, codec::encode(input), entry)
    }

    fn run_raw(&self, query: bool, input: Vec<u8>, entry: fn()) -> Result<Vec<u8>, Error> {
        let events = with(|s| {
            s.outgoing.clear();
            s.undo.clear();
            s.input = input;
            s.output = None;
            s.query_mode = query;
            s.events.len()
        });
        let trapped = panic::catch_unwind(AssertUnwindSafe(entry));
        let output = with(|s| s.output.take());
        let result = match (trapped, output) {
            (Err(panic), _) => Err(Error::new(Error::TRAPPED, panic_message(&panic))),
            (Ok(()), None) => Err(Error::new(Error::TRAPPED, "handler wrote no output")),
            (Ok(()), Some(output)) => entry::decode_outcome(&output)
                .unwrap_or_else(|err| Err(Error::new(Error::TRAPPED, err.to_string()))),
        };
        with(|s| {
            let outgoing = std::mem::take(&mut s.outgoing);
            let undo = std::mem::take(&mut s.undo);
            if result.is_err() {
                for (key, before) in undo {
                    match before {
                        Some(value) => s.storage.insert(key, value),
                        None => s.storage.remove(&key),
                    };
                }
                s.events.truncate(events);
                return;
            }
            for m in outgoing {
                *s.next_id.entry(m.to.0).or_insert(0) += 1;
                s.sent.push(m);
            }
        });
        result
    }
}

fn decode_result<T: Decode>(bytes: Vec<u8>) -> Result<T, Error> {
    codec::decode(&bytes).map_err(|err| Error::new(Error::BAD_INPUT, err.to_string()))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        String::from("panic")
    }
}

/// SHA-256 (FIPS 180-4), so the mock's `sha256` matches the VM's without a dependency.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((bytes.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{sha256, MockHost};
    use crate::{reply, Context, Contract, Error, Map, QueryContext};

    const VALUES: Map<u8, u64> = Map::new(b"values");

    /// Sets key 1, overwrites key 2 twice, removes key 3, then fails if asked to.
    struct Scratch;

    impl Contract for Scratch {
        type Init = Init;
        type Command = Command;
        type Query = Query;

        fn init(cx: &mut Context, _: Init) -> Result<(), Error> {
            VALUES.save(cx, &2, &20);
            VALUES.save(cx, &3, &30);
            Ok(())
        }

        fn command(cx: &mut Context, command: Command) -> Result<Vec<u8>, Error> {
            let Command::Write { fail } = command;
            VALUES.save(cx, &1, &11);
            VALUES.save(cx, &2, &21);
            VALUES.save(cx, &2, &22);
            VALUES.remove(cx, &3);
            if fail {
                return Err(Error::new(Error::BAD_INPUT, "asked to fail"));
            }
            reply(&())
        }

        fn query(cx: &QueryContext, query: Query) -> Result<Vec<u8>, Error> {
            let Query::Get { key } = query;
            reply(&VALUES.load_or(cx, &key, 0)?)
        }
    }

    crate::export! {
        contract: Scratch,
        init: Init {},
        commands: Command {
            0 write => Write { fail: bool } -> (),
        },
        queries: Query {
            0 get => Get { key: u8 } -> u64,
        },
    }

    fn values(host: &MockHost) -> Vec<u64> {
        (1..=3)
            .map(|key| host.query_as::<Scratch, u64>(&Query::Get { key }).unwrap())
            .collect()
    }

    #[test]
    fn a_failed_call_leaves_every_key_as_it_was_and_a_good_one_keeps_its_writes() {
        let mut host = MockHost::new();
        host.init::<Scratch>(&Init {}).unwrap();
        assert_eq!(values(&host), [0, 20, 30]);
        assert!(host
            .command::<Scratch>(&Command::Write { fail: true })
            .is_err());
        assert_eq!(values(&host), [0, 20, 30]);
        assert_eq!(host.entries(), 2);
        host.command::<Scratch>(&Command::Write { fail: false })
            .unwrap();
        assert_eq!(values(&host), [11, 22, 0]);
        assert_eq!(host.entries(), 2);
        assert!(ABI.contains(r#"{"name":"write","tag":0,"args":[{"name":"fail","type":"bool"}]"#));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{:02x}", b)).collect()
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 1_000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
