//! The contract VM: wasmi with fuel metering, a deploy policy, limits, and the host ABI.
//!
//! Deterministic by construction, so every miner that runs the same code on the same inputs
//! reaches the same state and spends the same fuel: modules are compiled eagerly (lazy
//! compilation charges fuel at a function's first call, which a warm miner and a replaying one
//! would not share), floats are refused at deploy, stacks and memory are bounded by the same
//! limits everywhere, and randomness comes from a DRBG over the contract key, the block hash and
//! the command's index. Every call starts from a freshly instantiated state (a new instance, or
//! a kept one reset to exactly that state: [`warm`]), so nothing survives in linear memory or
//! globals from one caller to the next.
//!
//! No I/O: the caller (pRuntime) provides a storage snapshot and commits the returned
//! [`Changes`] only when the call succeeded.

mod host;
mod policy;
mod warm;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};
use veil_primitives::contract::MessageOutcome;
use warm::{Budget, Ready, Warm};
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, Linker, Module, OperatorCost, Store, TrapCode,
};
use zeroize::Zeroizing;

pub use host::fuel;
pub use policy::DeployError;

/// Storage writes of a successful call: `None` removes the key.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The state a call reads (a snapshot: it does not change during the call).
pub trait Storage: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

impl Storage for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }
}

/// Bounds on code and on one call. Part of consensus: change them only at an era boundary.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest module accepted at deploy.
    pub max_code_bytes: usize,
    /// Linear memory of one instance.
    pub max_memory_bytes: usize,
    /// Elements of the one table.
    pub max_table_elements: usize,
    /// Nested wasm calls.
    pub max_recursion_depth: usize,
    /// Bytes of wasmi's value stack (locals and operands of every frame).
    pub max_stack_bytes: usize,
    /// A storage key.
    pub max_key_bytes: usize,
    /// A storage value.
    pub max_value_bytes: usize,
    /// Keys and values one call may write in total.
    pub max_written_bytes: usize,
    /// A call's output (result or error).
    pub max_output_bytes: usize,
    /// A call's events in total.
    pub max_event_bytes: usize,
    /// Events one call may emit (empty events cost fuel but no event bytes).
    pub max_events: usize,
    /// Messages one call may send to other contracts.
    pub max_messages: usize,
    /// Locals one function declares. wasmi zeroes a function's locals at every call and
    /// charges no fuel for it, so a loop calling a function with thousands of locals would
    /// burn CPU far beyond its fuel; rustc's functions declare a few dozen.
    pub max_function_locals: u32,
    /// Locals all functions declare together (compiling them costs time at every deploy).
    pub max_module_locals: u32,
    /// A message's payload.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_code_bytes: 512 * 1024,
            max_memory_bytes: 16 * 1024 * 1024,
            max_table_elements: 10_000,
            max_recursion_depth: 1_024,
            max_stack_bytes: 1024 * 1024,
            max_key_bytes: 1_024,
            max_value_bytes: 64 * 1024,
            max_written_bytes: 1024 * 1024,
            max_output_bytes: 64 * 1024,
            max_event_bytes: 64 * 1024,
            max_events: 256,
            max_messages: 16,
            max_message_bytes: veil_primitives::contract::MAX_MESSAGE_PAYLOAD,
            max_function_locals: 256,
            max_module_locals: 65_536,
        }
    }
}

/// Fuel of a `call` or `call_indirect` (other instructions cost one, or none for blocks).
pub const CALL_FUEL: u8 = 16;

/// A contract entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Instantiation, once.
    Init,
    /// A command from the chain.
    Command,
    /// A read-only query.
    Query,
    /// A message from another contract.
    Message,
}

impl Entry {
    /// Every entry point a module must export.
    pub const ALL: [Entry; 4] = [Entry::Init, Entry::Command, Entry::Query, Entry::Message];

    /// The export's name.
    pub fn export(self) -> &'static str {
        match self {
            Entry::Init => "init",
            Entry::Command => "handle_command",
            Entry::Query => "handle_query",
            Entry::Message => "handle_message",
        }
    }
}

/// Where a call's random bytes come from: the contract key (secret to pRuntime) and the
/// command's index in the block (the block hash comes from [`Call::block_hash`]).
pub struct Randomness {
    /// The contract key, or a key derived from it for randomness.
    pub key: Zeroizing<[u8; 32]>,
    /// Index of the command in its block.
    pub index: u64,
}

/// One call of an entry point.
pub struct Call {
    /// Which entry point. [`Entry::Query`] runs read-only.
    pub entry: Entry,
    /// The encoded arguments.
    pub input: Vec<u8>,
    /// The sender of the command or the signer of the query session.
    pub caller: [u8; 32],
    /// The contract's id.
    pub contract: [u8; 32],
    /// Height of the block (a query: of the state it reads).
    pub height: u64,
    /// Hash of that block.
    pub block_hash: [u8; 32],
    /// The random stream's seed; `None` makes `random` trap (queries).
    pub randomness: Option<Randomness>,
    /// Fuel the call may spend.
    pub fuel: u64,
    /// The next sequence of this contract's channel to each destination it has written to
    /// (absent: 0), so a message's id is known when it is sent.
    pub sent: Arc<BTreeMap<[u8; 32], u64>>,
}

/// A message a call sent to another contract: delivered only if the call succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The destination contract.
    pub to: [u8; 32],
    /// Its sequence in this contract's channel to `to` (the id its reply carries).
    pub sequence: u64,
    /// Fuel for the destination's handler and again for the reply's; paid by this call.
    pub fuel: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Why a call did not succeed. Its writes and events are discarded in every case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The contract returned a typed error.
    Error {
        /// The contract's error code.
        code: u32,
        /// Its message.
        message: String,
    },
    /// The call spent all its fuel.
    OutOfFuel,
    /// The contract trapped (a panic, a wasm trap, or a broken host-ABI rule).
    Trap(String),
}

/// What a call did.
#[derive(Debug)]
pub struct Outcome {
    /// The result bytes, or why there are none.
    pub result: Result<Vec<u8>, Failure>,
    /// Storage writes to commit (empty unless the call succeeded).
    pub changes: Changes,
    /// Events for the sender (empty unless the call succeeded).
    pub events: Vec<Vec<u8>>,
    /// Messages to other contracts, in the order sent (empty unless the call succeeded).
    pub messages: Vec<Outgoing>,
    /// Fuel spent, the same on every machine.
    pub fuel_used: u64,
}

/// A module that passed the deploy policy, compiled.
#[derive(Clone, Debug)]
pub struct Code {
    module: Module,
    hash: [u8; 32],
    abi: Option<String>,
    /// Instances kept between calls; `None` when the module runs fresh every call.
    warm: Option<Arc<Warm>>,
}

impl Code {
    /// SHA-256 of the module's bytes: the code hash commitments and envelopes bind.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The same code running every call in a fresh instance: what a kept instance must be
    /// indistinguishable from (tests and benchmarks compare the two).
    #[doc(hidden)]
    pub fn fresh_only(&self) -> Code {
        Code {
            warm: None,
            ..self.clone()
        }
    }

    /// Instances kept for reuse, ready for a call (0 when the module runs fresh every call).
    pub fn idle_instances(&self) -> usize {
        self.warm.as_ref().map_or(0, |warm| warm.idle())
    }

    /// The ABI description from the `veil_abi` custom section, if the module has one.
    pub fn abi(&self) -> Option<&str> {
        self.abi.as_deref()
    }

    /// Pages (64 KiB each) of linear memory the module starts with: a kept instance rewrites
    /// all of them after every call.
    pub fn initial_pages(&self) -> u64 {
        self.module
            .exports()
            .find(|export| export.name() == "memory")
            .and_then(|export| export.ty().memory().map(|ty| ty.minimum()))
            .unwrap_or(0)
    }

    /// Whether the VM keeps instances of the module between calls. It does not for a module
    /// that can change its tables or passive segments, or starts with more than 16 pages: each
    /// of its calls instantiates the module afresh.
    pub fn reuses_instances(&self) -> bool {
        self.warm.is_some()
    }
}

/// The VM: an engine configured once, and the host functions.
pub struct Vm {
    engine: Engine,
    linker: Linker<host::HostState>,
    limits: Limits,
    /// Memory of the instances kept between calls, across every module deployed here.
    kept: Arc<Budget>,
}

impl Vm {
    /// A VM enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        // A call is the interpreter's costliest instruction (a frame, its locals zeroed): at
        // wasmi's default of one fuel, a loop of calls ran several times longer per fuel than
        // other code, and more so with every local the callee declares.
        let costs = OperatorCost {
            call: CALL_FUEL,
            call_indirect: CALL_FUEL,
            ..OperatorCost::default()
        };
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .operator_cost(costs)
            .compilation_mode(CompilationMode::Eager)
            .floats(false)
            .allow_start_fn(false)
            .wasm_mutable_global(true)
            .wasm_sign_extension(true)
            .wasm_multi_value(true)
            .wasm_bulk_memory(true)
            // Needed to parse what current rustc emits; the policy refuses its instructions.
            .wasm_reference_types(true)
            .wasm_saturating_float_to_int(false)
            .wasm_multi_memory(false)
            .wasm_tail_call(false)
            .wasm_extended_const(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            // memory64 and SIMD are compiled out (features off), so always refused.
            .set_max_recursion_depth(limits.max_recursion_depth)
            .set_max_stack_height(limits.max_stack_bytes)
            .enforced_limits(EnforcedLimits::strict());
        let engine = Engine::new(&config);
        let mut linker = Linker::new(&engine);
        host::link(&mut linker).expect("host functions have distinct names");
        Self {
            engine,
            linker,
            limits,
            kept: Arc::default(),
        }
    }

    /// Bytes of linear memory held by instances kept between calls (at most 64 MiB).
    pub fn kept_bytes(&self) -> usize {
        self.kept.used()
    }

    /// The limits this VM enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks `wasm` against the deploy policy and compiles it.
    pub fn deploy(&self, wasm: &[u8]) -> Result<Code, DeployError> {
        policy::check(wasm, &self.limits)?;
        let plan = warm::plan(wasm);
        let module = Module::new(&self.engine, plan.as_ref().map_or(wasm, |p| &p.wasm))
            .map_err(|err| DeployError::Invalid(err.to_string()))?;
        policy::check_exports(&module)?;
        let abi = module
            .custom_sections()
            .find(|section| section.name() == "veil_abi")
            .map(|section| String::from_utf8_lossy(section.data()).into_owned());
        // Instantiate once: imports link with the right signatures, memory fits the limits.
        // That instance's state is the one every call starts from.
        let mut store = Box::new(Store::new(
            &self.engine,
            self.state(empty_call(), empty_storage()),
        ));
        store.limiter(limiter);
        let instance = self
            .linker
            .instantiate_and_start(&mut *store, &module)
            .map_err(|err| DeployError::Instantiate(err.to_string()))?;
        let memory = instance
            .get_memory(&*store, "memory")
            .ok_or(DeployError::Memory)?;
        let warm = plan
            .and_then(|plan| Warm::new(plan, store, instance, memory, self.kept.clone()))
            .map(Arc::new);
        Ok(Code {
            module,
            hash: Sha256::digest(wasm).into(),
            abi,
            warm,
        })
    }

    fn state(&self, call: Call, storage: Arc<dyn Storage>) -> host::HostState {
        host::HostState {
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(self.limits.max_memory_bytes)
                .table_elements(self.limits.max_table_elements)
                .instances(1)
                .tables(1)
                .memories(1)
                .build(),
            memory: None,
            vm: self.limits.clone(),
            storage,
            input: call.input,
            output: None,
            value: None,
            changes: host::no_changes(),
            written_bytes: 0,
            events: Vec::new(),
            event_bytes: 0,
            caller: call.caller,
            contract: call.contract,
            height: call.height,
            block_hash: call.block_hash,
            random: call
                .randomness
                .map_or(host::Random::Unavailable, host::Random::Seed),
            sent: call.sent,
            messages: Vec::new(),
            read_only: call.entry == Entry::Query,
            panic: None,
        }
    }

    /// Runs one entry point of `code` on `storage`.
    pub fn execute(&self, code: &Code, call: Call, storage: Arc<dyn Storage>) -> Outcome {
        let fuel = call.fuel;
        let entry = call.entry;
        let state = self.state(call, storage);
        let (mut store, mut ready) = match code.warm.as_ref().and_then(|w| w.take()) {
            Some(idle) => {
                let mut store = idle.store;
                *store.data_mut() = state;
                (store, Some(idle.ready))
            }
            None => {
                let mut store = Box::new(Store::new(&self.engine, state));
                store.limiter(limiter);
                (store, None)
            }
        };
        let result = self.run(&mut store, code, entry, fuel, &mut ready);
        let mut fuel_used = fuel - store.get_fuel().unwrap_or(0);
        let mut state =
            std::mem::replace(store.data_mut(), self.state(empty_call(), empty_storage()));
        // Returned or trapped, the call changed at most the memory and the mutable globals of
        // a kept module (one that can change its tables or passive segments is never kept):
        // the reset puts both back, so even an instance that stopped halfway is kept.
        if let (Some(warm), Some(ready)) = (&code.warm, ready) {
            warm.put(store, ready);
        }
        let result = match result {
            Ok(()) => match state.output.take() {
                Some(output) => outcome(&output),
                None => Err(Failure::Trap("the call wrote no output".into())),
            },
            Err(err) if err.as_trap_code() == Some(TrapCode::OutOfFuel) => Err(Failure::OutOfFuel),
            Err(err) => Err(Failure::Trap(
                match (state.panic.take(), err.downcast_ref::<host::Trap>()) {
                    (Some(panic), _) => format!("panicked: {panic}"),
                    (None, Some(host::Trap(reason))) => reason.clone(),
                    (None, None) => err.to_string(),
                },
            )),
        };
        if result == Err(Failure::OutOfFuel) {
            // wasmi stops before an instruction it cannot pay for in full; the call still
            // spent its whole allowance.
            fuel_used = fuel;
        }
        let (changes, events, messages) = match result {
            Ok(_) => (state.changes, state.events, state.messages),
            Err(_) => (Changes::new(), Vec::new(), Vec::new()),
        };
        Outcome {
            result,
            changes,
            events,
            messages,
            fuel_used,
        }
    }

    /// Calls `entry` on `ready`, or on a new instance (kept in `ready` if the module is reused).
    fn run(
        &self,
        store: &mut Store<host::HostState>,
        code: &Code,
        entry: Entry,
        fuel: u64,
        ready: &mut Option<Ready>,
    ) -> Result<(), wasmi::Error> {
        let (instance, memory) = match ready {
            Some(ready) => (ready.instance, ready.memory),
            None => {
                let instance = self
                    .linker
                    .instantiate_and_start(&mut *store, &code.module)?;
                let memory = instance
                    .get_memory(&*store, "memory")
                    .ok_or_else(|| wasmi::Error::new("module exports no memory"))?;
                *ready = code
                    .warm
                    .as_ref()
                    .and_then(|warm| warm.ready(store, instance));
                (instance, memory)
            }
        };
        store.data_mut().memory = Some(memory);
        // Set after instantiation, so fuel counts the call alone, whichever instance runs it.
        store.set_fuel(fuel)?;
        let func = instance.get_typed_func::<(), ()>(&*store, entry.export())?;
        func.call(&mut *store, ())
    }
}

fn limiter(state: &mut host::HostState) -> &mut dyn wasmi::ResourceLimiter {
    &mut state.limits
}

/// Storage for an instance between calls: shared, so parking an instance allocates nothing.
fn empty_storage() -> Arc<dyn Storage> {
    static EMPTY: LazyLock<Arc<dyn Storage>> =
        LazyLock::new(|| Arc::new(BTreeMap::<Vec<u8>, Vec<u8>>::new()));
    EMPTY.clone()
}

fn empty_call() -> Call {
    Call {
        entry: Entry::Init,
        input: Vec::new(),
        caller: [0; 32],
        contract: [0; 32],
        height: 0,
        block_hash: [0; 32],
        randomness: None,
        fuel: 0,
        sent: {
            static NONE: LazyLock<Arc<BTreeMap<[u8; 32], u64>>> = LazyLock::new(Arc::default);
            NONE.clone()
        },
    }
}

/// The input of [`Entry::Message`] for a message: `0 ‖ from (32) ‖ id (u64 LE) ‖ payload`.
pub fn message_input(from: &[u8; 32], id: u64, payload: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(41 + payload.len());
    input.push(0);
    input.extend_from_slice(from);
    input.extend_from_slice(&id.to_le_bytes());
    input.extend_from_slice(payload);
    input
}

/// The input of [`Entry::Message`] for a reply from `from` to message `id`: `1 ‖ from (32) ‖
/// id (u64 LE) ‖ outcome`, the outcome being `0 ‖ payload`, `1 ‖ code (u32 LE)` or `2` (not
/// delivered).
pub fn reply_input(from: &[u8; 32], id: u64, outcome: &MessageOutcome) -> Vec<u8> {
    let mut input = Vec::with_capacity(42);
    input.push(1);
    input.extend_from_slice(from);
    input.extend_from_slice(&id.to_le_bytes());
    match outcome {
        MessageOutcome::Ok(payload) => {
            input.push(0);
            input.extend_from_slice(payload);
        }
        MessageOutcome::Err(code) => {
            input.push(1);
            input.extend_from_slice(&code.to_le_bytes());
        }
        MessageOutcome::NotDelivered => input.push(2),
    }
    input
}

/// Reads the outcome the SDK writes: `0 ‖ result` or `1 ‖ code (u32 LE) ‖ message (u32 LE
/// length, UTF-8)`.
fn outcome(output: &[u8]) -> Result<Vec<u8>, Failure> {
    let malformed = || Failure::Trap("malformed outcome".into());
    match output.split_first() {
        Some((0, result)) => Ok(result.to_vec()),
        Some((1, rest)) if rest.len() >= 8 => {
            let code = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
            let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
            let message = rest
                .get(8..)
                .filter(|m| m.len() == len)
                .ok_or_else(malformed)?;
            // Invalid UTF-8 grows in the lossy conversion (three bytes per replaced byte):
            // cut back to the bytes the contract wrote, so the output limit still holds.
            let mut message = String::from_utf8_lossy(message).into_owned();
            if message.len() > len {
                let mut end = len;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            Err(Failure::Error { code, message })
        }
        _ => Err(malformed()),
    }
}
