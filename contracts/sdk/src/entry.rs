//! The contract trait and the four entry points the VM calls.
//!
//! Each wasm export (`init`, `handle_command`, `handle_query`, `handle_message`) takes no
//! parameters: it reads its input with `input_read` and answers with one `output_write` of
//! an outcome, `0 ‖ result bytes` for success or `1 ‖ code (u32) ‖ message (string)` for a
//! typed error. A trap (panic, out of fuel) writes nothing; the VM reports it.

use crate::codec::{self, Decode};
use crate::context::{Context, QueryContext};
use crate::error::Error;
use crate::message::Incoming;
use crate::storage::with_value_buffer;
use crate::sys;

/// A contract: its argument types and its handlers.
///
/// `export!` declares the argument types and emits the wasm exports and the ABI for a type
/// implementing this trait.
pub trait Contract {
    /// Arguments of `init`.
    type Init: Decode;
    /// The commands, one enum variant per method.
    type Command: Decode;
    /// The queries, one enum variant per method.
    type Query: Decode;

    /// Runs once, when the contract is instantiated.
    fn init(cx: &mut Context, args: Self::Init) -> Result<(), Error>;

    /// Handles a command; its writes are kept only if it returns `Ok`.
    fn command(cx: &mut Context, command: Self::Command) -> Result<Vec<u8>, Error>;

    /// Answers a query from a read-only view of the state.
    fn query(cx: &QueryContext, query: Self::Query) -> Result<Vec<u8>, Error>;

    /// Handles a message from another contract (its result is the reply the sender gets;
    /// an error or a trap replies with the code and keeps no write), or the reply to a message
    /// this contract sent (see [`crate::message`]). By default messages are refused and
    /// replies ignored.
    fn message(cx: &mut Context, incoming: Incoming) -> Result<Vec<u8>, Error> {
        let _ = cx;
        match incoming {
            Incoming::Message { .. } => Err(Error::new(
                Error::UNSUPPORTED,
                "this contract takes no messages",
            )),
            Incoming::Reply { .. } => Ok(Vec::new()),
        }
    }
}

/// Encodes a handler's value as its result bytes.
pub fn reply<T: codec::Encode + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(codec::encode(value))
}

/// The outcome bytes of a handler (see the module docs).
pub fn encode_outcome(result: &Result<Vec<u8>, Error>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_outcome_to(result, &mut out);
    out
}

fn encode_outcome_to(result: &Result<Vec<u8>, Error>, out: &mut Vec<u8>) {
    match result {
        Ok(bytes) => {
            codec::reserve(out, 1 + bytes.len());
            out.push(0);
            out.extend_from_slice(bytes);
        }
        Err(err) => {
            out.push(1);
            codec::Encode::encode_to(&err.code, out);
            codec::Encode::encode_to(&err.message, out);
        }
    }
}

/// Reads outcome bytes back (clients and the mock host).
pub fn decode_outcome(bytes: &[u8]) -> Result<Result<Vec<u8>, Error>, codec::DecodeError> {
    let mut input = bytes;
    match u8::decode_from(&mut input)? {
        0 => Ok(Ok(input.to_vec())),
        1 => {
            let code = u32::decode_from(&mut input)?;
            let message = String::decode_from(&mut input)?;
            if !input.is_empty() {
                return Err(codec::DecodeError::Trailing(input.len()));
            }
            Ok(Err(Error { code, message }))
        }
        tag => Err(codec::DecodeError::BadTag(tag)),
    }
}

fn input<T: Decode>() -> Result<T, Error> {
    with_value_buffer(|input| {
        sys::input_into(input);
        codec::decode(input)
    })
    .map_err(Error::bad_input)
}

fn respond(result: Result<Vec<u8>, Error>) {
    with_value_buffer(|out| {
        encode_outcome_to(&result, out);
        sys::set_output(out)
    })
}

#[doc(hidden)]
pub fn init<C: Contract>() {
    sys::install_panic_hook();
    respond(
        input::<C::Init>().and_then(|args| C::init(&mut Context::new(), args).map(|()| Vec::new())),
    )
}

#[doc(hidden)]
pub fn command<C: Contract>() {
    sys::install_panic_hook();
    respond(input::<C::Command>().and_then(|command| C::command(&mut Context::new(), command)))
}

#[doc(hidden)]
pub fn query<C: Contract>() {
    sys::install_panic_hook();
    respond(input::<C::Query>().and_then(|query| C::query(&QueryContext::new(), query)))
}

#[doc(hidden)]
pub fn message<C: Contract>() {
    sys::install_panic_hook();
    respond(
        with_value_buffer(|input| {
            sys::input_into(input);
            Incoming::from_input(input)
        })
        .map_err(Error::bad_input)
        .and_then(|incoming| C::message(&mut Context::new(), incoming)),
    )
}
