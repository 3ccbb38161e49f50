//! Write Veil confidential contracts.
//!
//! A contract is a type implementing [`Contract`], exported with [`export!`]. Commands arrive
//! encrypted through the chain and run with a writable [`Context`]; queries come straight from
//! users in a signed session and run with a read-only [`QueryContext`]. Contracts talk to each
//! other with messages ([`Context::send`], handled in [`Contract::message`]), each answered by
//! exactly one reply. State lives in typed
//! handles ([`Item`], [`Map`]) in pRuntime's sealed store, never outside it in plaintext.
//! [`mock::MockHost`] runs a contract natively in unit tests.
//!
//! The SDK has no dependencies and builds with rustc 1.63 (Debian's toolchain) for
//! `wasm32-unknown-unknown`, and with current stable Rust.
//!
//! ```ignore
//! use veil_sdk::{export, reply, AccountId, Context, Contract, Env, Error, Item, QueryContext};
//!
//! struct Counter;
//! const COUNT: Item<u64> = Item::new(b"count");
//!
//! impl Contract for Counter {
//!     type Init = Init;
//!     type Command = Command;
//!     type Query = Query;
//!     fn init(cx: &mut Context, args: Init) -> Result<(), Error> {
//!         COUNT.save(cx, &args.start);
//!         Ok(())
//!     }
//!     fn command(cx: &mut Context, command: Command) -> Result<Vec<u8>, Error> {
//!         let Command::Add { by } = command;
//!         let count = COUNT.load_or(cx, 0)? + by;
//!         COUNT.save(cx, &count);
//!         reply(&count)
//!     }
//!     fn query(cx: &QueryContext, _: Query) -> Result<Vec<u8>, Error> {
//!         reply(&COUNT.load_or(cx, 0)?)
//!     }
//! }
//!
//! export! {
//!     contract: Counter,
//!     init: Init { start: u64 },
//!     commands: Command { 0 add => Add { by: u64 } -> u64 },
//!     queries: Query { 0 get => Get {} -> u64 },
//! }
//! ```

pub mod codec;
mod context;
pub mod entry;
mod error;
mod export;
#[cfg(any(target_arch = "wasm32", test))]
mod heap;
pub mod message;
#[cfg(not(target_arch = "wasm32"))]
pub mod mock;
mod storage;
mod sys;

pub use codec::{decode, encode, Decode, DecodeError, Encode};
pub use context::{AccountId, Context, ContractId, Env, QueryContext};
pub use entry::{reply, Contract};
pub use error::Error;
#[doc(hidden)]
pub use export::__abi_bytes;
pub use message::{Incoming, MessageReply, DEFAULT_MESSAGE_FUEL};
pub use storage::{Item, Map};
