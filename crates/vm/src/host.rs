//! The host ABI: the `veil` functions a contract imports, and what each costs in fuel.
//!
//! Every function checks its pointers against linear memory and traps instead of reading or
//! writing outside it. Writes, events and randomness trap in query mode. Writes go to an
//! overlay that the caller commits only when the call succeeds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use veil_crypto::drbg::Drbg;
use wasmi::errors::HostError;
use wasmi::{Caller, Linker, Memory, StoreLimits, TrapCode};

use crate::{Changes, Limits, Outgoing, Randomness, Storage};

/// The import module of every host function.
pub(crate) const MODULE: &str = "veil";

/// Every host function's name (the deploy policy refuses other imports).
pub(crate) const FUNCTIONS: &[&str] = &[
    "input_len",
    "input_read",
    "output_write",
    "storage_get",
    "storage_read",
    "value_read",
    "storage_set",
    "storage_remove",
    "caller",
    "contract",
    "height",
    "block_hash",
    "emit_event",
    "random",
    "sha256",
    "panic",
    "send",
];

/// Fuel charged by host functions, on top of the wasm instructions (one unit each).
///
/// Storage writes cost most: they end up in the sealed store and in every checkpoint.
pub mod fuel {
    /// Any host call.
    pub const CALL: u64 = 50;
    /// Each byte copied between linear memory and the host.
    pub const BYTE: u64 = 1;
    /// A storage read, on top of its bytes.
    pub const READ: u64 = 500;
    /// A storage write or removal, on top of its bytes.
    pub const WRITE: u64 = 2_000;
    /// Each byte written to storage (charged again, on top of [`BYTE`]).
    pub const WRITE_BYTE: u64 = 4;
    /// Each 64-byte block hashed.
    pub const HASH_BLOCK: u64 = 20;
    /// Each 32 random bytes drawn (an HKDF expansion: about 80 ns here, against about 0.5 ns a
    /// wasm instruction; it was 40, at which a loop of draws ran four times longer per unit).
    pub const RANDOM_BLOCK: u64 = 160;
    /// Deriving a call's random stream, at its first draw (an HKDF extract).
    pub const RANDOM_SEED: u64 = 1_000;
    /// A message to another contract, on top of its bytes and the fuel it carries (twice:
    /// for the destination's handler and for the reply's): sealing, signing and a chain
    /// transaction.
    pub const SEND: u64 = 20_000;
}

/// A trap raised by a host function: the contract broke the ABI or a limit.
#[derive(Debug)]
pub(crate) struct Trap(pub(crate) String);

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl HostError for Trap {}

fn trap(message: impl Into<String>) -> wasmi::Error {
    wasmi::Error::host(Trap(message.into()))
}

/// Everything one call can see and change.
pub(crate) struct HostState {
    pub(crate) limits: StoreLimits,
    pub(crate) memory: Option<Memory>,
    pub(crate) vm: Limits,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) input: Vec<u8>,
    pub(crate) output: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) changes: Changes,
    pub(crate) written_bytes: usize,
    pub(crate) events: Vec<Vec<u8>>,
    pub(crate) event_bytes: usize,
    pub(crate) caller: [u8; 32],
    pub(crate) contract: [u8; 32],
    pub(crate) height: u64,
    pub(crate) block_hash: [u8; 32],
    pub(crate) random: Random,
    pub(crate) sent: Arc<BTreeMap<[u8; 32], u64>>,
    pub(crate) messages: Vec<Outgoing>,
    pub(crate) read_only: bool,
    pub(crate) panic: Option<String>,
}

/// A call's random stream, derived at its first draw: most calls draw nothing, and deriving it
/// (an HKDF extract) costs about as much as a small call.
pub(crate) enum Random {
    /// Queries, and calls run without a contract key.
    Unavailable,
    Seed(Randomness),
    Ready(Drbg),
}

impl HostState {
    fn drbg(&mut self) -> Option<&mut Drbg> {
        if let Random::Seed(seed) = &self.random {
            self.random = Random::Ready(Drbg::with_domain(
                veil_primitives::namespace::CONTRACT_DRBG,
                seed.key.as_ref(),
                &self.block_hash,
                &seed.index.to_be_bytes(),
            ));
        }
        match &mut self.random {
            Random::Ready(drbg) => Some(drbg),
            _ => None,
        }
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.changes.get(key) {
            Some(change) => change.clone(),
            None => self.storage.get(key),
        }
    }
}

type Cx<'a> = Caller<'a, HostState>;

fn charge(caller: &mut Cx<'_>, cost: u64) -> Result<(), wasmi::Error> {
    let fuel = caller.get_fuel()?;
    if fuel < cost {
        caller.set_fuel(0)?;
        return Err(TrapCode::OutOfFuel.into());
    }
    caller.set_fuel(fuel - cost)
}

fn bytes_cost(len: usize) -> u64 {
    fuel::CALL + fuel::BYTE * len as u64
}

fn read(caller: &mut Cx<'_>, ptr: u32, len: u32) -> Result<Vec<u8>, wasmi::Error> {
    charge(caller, bytes_cost(len as usize))?;
    let memory = caller.data().memory.ok_or_else(|| trap("no memory"))?;
    let (data, _) = memory.data_and_store_mut(&mut *caller);
    let start = ptr as usize;
    data.get(start..start + len as usize)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| trap(format!("read of {len} bytes at {ptr} is outside memory")))
}

fn write(caller: &mut Cx<'_>, ptr: u32, bytes: &[u8]) -> Result<(), wasmi::Error> {
    charge(caller, fuel::CALL)?;
    copy_out(caller, ptr, bytes)
}

/// Copies `bytes` into linear memory at `ptr`, charging for the bytes only.
fn copy_out(caller: &mut Cx<'_>, ptr: u32, bytes: &[u8]) -> Result<(), wasmi::Error> {
    charge(caller, fuel::BYTE * bytes.len() as u64)?;
    let memory = caller.data().memory.ok_or_else(|| trap("no memory"))?;
    let (data, _) = memory.data_and_store_mut(&mut *caller);
    let start = ptr as usize;
    let len = bytes.len();
    data.get_mut(start..start + len)
        .ok_or_else(|| trap(format!("write of {len} bytes at {ptr} is outside memory")))?
        .copy_from_slice(bytes);
    Ok(())
}

fn key(caller: &mut Cx<'_>, ptr: u32, len: u32) -> Result<Vec<u8>, wasmi::Error> {
    let limit = caller.data().vm.max_key_bytes;
    if len as usize > limit {
        return Err(trap(format!(
            "storage key of {len} bytes, over the limit of {limit}"
        )));
    }
    read(caller, ptr, len)
}

fn writable(caller: &Cx<'_>, what: &str) -> Result<(), wasmi::Error> {
    if caller.data().read_only {
        return Err(trap(format!("{what} in a query (queries are read-only)")));
    }
    Ok(())
}

fn change(caller: &mut Cx<'_>, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), wasmi::Error> {
    let size = key.len() + value.as_ref().map_or(0, Vec::len);
    charge(caller, fuel::WRITE + fuel::WRITE_BYTE * size as u64)?;
    let state = caller.data_mut();
    state.written_bytes += size;
    if state.written_bytes > state.vm.max_written_bytes {
        let limit = state.vm.max_written_bytes;
        return Err(trap(format!(
            "call writes more than {limit} bytes of storage"
        )));
    }
    state.changes.insert(key, value);
    Ok(())
}

/// Registers every host function on `linker`.
pub(crate) fn link(linker: &mut Linker<HostState>) -> Result<(), wasmi::Error> {
    linker.func_wrap(
        MODULE,
        "input_len",
        |mut caller: Cx<'_>| -> Result<u32, wasmi::Error> {
            charge(&mut caller, fuel::CALL)?;
            Ok(caller.data().input.len() as u32)
        },
    )?;
    linker.func_wrap(MODULE, "input_read", |mut caller: Cx<'_>, ptr: u32| {
        let input = std::mem::take(&mut caller.data_mut().input);
        let result = write(&mut caller, ptr, &input);
        caller.data_mut().input = input;
        result
    })?;
    linker.func_wrap(
        MODULE,
        "output_write",
        |mut caller: Cx<'_>, ptr: u32, len: u32| {
            let limit = caller.data().vm.max_output_bytes;
            if len as usize > limit {
                return Err(trap(format!(
                    "output of {len} bytes, over the limit of {limit}"
                )));
            }
            if caller.data().output.is_some() {
                return Err(trap("output written twice"));
            }
            let output = read(&mut caller, ptr, len)?;
            caller.data_mut().output = Some(output);
            Ok(())
        },
    )?;
    linker.func_wrap(
        MODULE,
        "storage_get",
        |mut caller: Cx<'_>, ptr: u32, len: u32| -> Result<i64, wasmi::Error> {
            let key = key(&mut caller, ptr, len)?;
            charge(&mut caller, fuel::READ)?;
            let value = caller.data().get(&key);
            let size = value.as_ref().map_or(0, Vec::len);
            charge(&mut caller, fuel::BYTE * size as u64)?;
            let found = value.as_ref().map_or(-1, |value| value.len() as i64);
            caller.data_mut().value = value;
            Ok(found)
        },
    )?;
    // `storage_get` and `value_read` in one call when the value fits in `cap` bytes at `out`
    // (most do: the SDK passes its value buffer); otherwise it is kept for `value_read`.
    linker.func_wrap(
        MODULE,
        "storage_read",
        |mut caller: Cx<'_>,
         kptr: u32,
         klen: u32,
         out: u32,
         cap: u32|
         -> Result<i64, wasmi::Error> {
            let key = key(&mut caller, kptr, klen)?;
            charge(&mut caller, fuel::READ)?;
            let value = caller.data().get(&key);
            let size = value.as_ref().map_or(0, Vec::len);
            charge(&mut caller, fuel::BYTE * size as u64)?;
            caller.data_mut().value = None;
            let Some(value) = value else {
                return Ok(-1);
            };
            if size <= cap as usize {
                copy_out(&mut caller, out, &value)?;
            } else {
                caller.data_mut().value = Some(value);
            }
            Ok(size as i64)
        },
    )?;
    linker.func_wrap(MODULE, "value_read", |mut caller: Cx<'_>, ptr: u32| {
        let value = caller
            .data_mut()
            .value
            .take()
            .ok_or_else(|| trap("no value to read"))?;
        write(&mut caller, ptr, &value)
    })?;
    linker.func_wrap(
        MODULE,
        "storage_set",
        |mut caller: Cx<'_>, kptr: u32, klen: u32, vptr: u32, vlen: u32| {
            writable(&caller, "storage write")?;
            let limit = caller.data().vm.max_value_bytes;
            if vlen as usize > limit {
                return Err(trap(format!(
                    "value of {vlen} bytes, over the limit of {limit}"
                )));
            }
            let key = key(&mut caller, kptr, klen)?;
            let value = read(&mut caller, vptr, vlen)?;
            change(&mut caller, key, Some(value))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "storage_remove",
        |mut caller: Cx<'_>, ptr: u32, len: u32| {
            writable(&caller, "storage removal")?;
            let key = key(&mut caller, ptr, len)?;
            change(&mut caller, key, None)
        },
    )?;
    linker.func_wrap(MODULE, "caller", |mut caller: Cx<'_>, ptr: u32| {
        let id = caller.data().caller;
        write(&mut caller, ptr, &id)
    })?;
    linker.func_wrap(MODULE, "contract", |mut caller: Cx<'_>, ptr: u32| {
        let id = caller.data().contract;
        write(&mut caller, ptr, &id)
    })?;
    linker.func_wrap(
        MODULE,
        "height",
        |mut caller: Cx<'_>| -> Result<u64, wasmi::Error> {
            charge(&mut caller, fuel::CALL)?;
            Ok(caller.data().height)
        },
    )?;
    linker.func_wrap(MODULE, "block_hash", |mut caller: Cx<'_>, ptr: u32| {
        let hash = caller.data().block_hash;
        write(&mut caller, ptr, &hash)
    })?;
    linker.func_wrap(
        MODULE,
        "emit_event",
        |mut caller: Cx<'_>, ptr: u32, len: u32| {
            writable(&caller, "event")?;
            let total = caller.data().event_bytes + len as usize;
            let limit = caller.data().vm.max_event_bytes;
            if total > limit {
                return Err(trap(format!("events of a call over {limit} bytes")));
            }
            let most = caller.data().vm.max_events;
            if caller.data().events.len() >= most {
                return Err(trap(format!("more than {most} events in a call")));
            }
            let event = read(&mut caller, ptr, len)?;
            let state = caller.data_mut();
            state.event_bytes = total;
            state.events.push(event);
            Ok(())
        },
    )?;
    linker.func_wrap(
        MODULE,
        "random",
        |mut caller: Cx<'_>, ptr: u32, len: u32| {
            writable(&caller, "randomness")?;
            if len as usize > caller.data().vm.max_output_bytes {
                return Err(trap("random draw too large"));
            }
            // Each 32 bytes cost an HKDF expansion, the first draw the extract too: paid
            // before they are drawn.
            let seed = match caller.data().random {
                Random::Seed(_) => fuel::RANDOM_SEED,
                _ => 0,
            };
            charge(
                &mut caller,
                seed + fuel::RANDOM_BLOCK * (len as u64).div_ceil(32),
            )?;
            let mut bytes = vec![0u8; len as usize];
            caller
                .data_mut()
                .drbg()
                .ok_or_else(|| trap("no randomness in this call"))?
                .fill(&mut bytes);
            write(&mut caller, ptr, &bytes)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "sha256",
        |mut caller: Cx<'_>, ptr: u32, len: u32, out: u32| {
            charge(&mut caller, fuel::HASH_BLOCK * (len as u64).div_ceil(64))?;
            let bytes = read(&mut caller, ptr, len)?;
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            write(&mut caller, out, &digest)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "send",
        |mut caller: Cx<'_>, to: u32, ptr: u32, len: u32, fuel: u64| -> Result<u64, wasmi::Error> {
            writable(&caller, "message")?;
            let state = caller.data();
            if state.messages.len() >= state.vm.max_messages {
                let limit = state.vm.max_messages;
                return Err(trap(format!("a call sends at most {limit} messages")));
            }
            if len as usize > state.vm.max_message_bytes {
                let limit = state.vm.max_message_bytes;
                return Err(trap(format!(
                    "message of {len} bytes, over the limit of {limit}"
                )));
            }
            let max = veil_primitives::contract::MAX_MESSAGE_FUEL;
            if fuel == 0 || fuel > max {
                return Err(trap(format!(
                    "a message carries 1 to {max} fuel, not {fuel}"
                )));
            }
            // The destination's handler and the reply's are paid here, by the sender.
            charge(&mut caller, fuel::SEND + 2 * fuel)?;
            let to: [u8; 32] = read(&mut caller, to, 32)?
                .try_into()
                .expect("read 32 bytes");
            let payload = read(&mut caller, ptr, len)?;
            let state = caller.data_mut();
            let earlier = state.messages.iter().filter(|m| m.to == to).count() as u64;
            let sequence = state.sent.get(&to).copied().unwrap_or(0) + earlier;
            state.messages.push(Outgoing {
                to,
                sequence,
                fuel,
                payload,
            });
            Ok(sequence)
        },
    )?;
    linker.func_wrap(MODULE, "panic", |mut caller: Cx<'_>, ptr: u32, len: u32| {
        // Kept for the caller's encrypted result; bounded so a panic cannot flood it.
        let bytes = read(&mut caller, ptr, len.min(1_024))?;
        caller.data_mut().panic = Some(String::from_utf8_lossy(&bytes).into_owned());
        Ok(())
    })?;
    Ok(())
}

/// An empty overlay.
pub(crate) fn no_changes() -> Changes {
    BTreeMap::new()
}
