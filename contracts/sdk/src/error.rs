//! Typed errors with numeric codes: what a command or query returns instead of a result.

use std::fmt;

use crate::codec::DecodeError;

/// A contract's refusal: a numeric code a client can match on, and a message for people.
///
/// Codes from [`Error::RESERVED`] up belong to the SDK and the VM; a contract uses the
/// codes below it, usually through [`errors!`](crate::errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Stable code.
    pub code: u32,
    /// Human-readable reason.
    pub message: String,
}

impl Error {
    /// First code reserved for the SDK and the VM.
    pub const RESERVED: u32 = 0xffff_0000;
    /// Arguments did not decode as the method's arguments.
    pub const BAD_INPUT: u32 = 0xffff_0001;
    /// A stored value did not decode as its handle's type.
    pub const CORRUPT_STATE: u32 = 0xffff_0002;
    /// The contract has no handler for this entry point.
    pub const UNSUPPORTED: u32 = 0xffff_0003;
    /// The contract panicked (the mock host's stand-in for a trap).
    pub const TRAPPED: u32 = 0xffff_0004;

    /// An error with a code and a message.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_input(err: DecodeError) -> Self {
        Error::new(Error::BAD_INPUT, format!("bad arguments: {}", err))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

/// Declares a contract's error enum with explicit codes and messages, convertible into
/// [`Error`] with `?`.
///
/// ```ignore
/// veil_sdk::errors! {
///     pub enum TokenError {
///         InsufficientBalance = 1 => "insufficient balance",
///     }
/// }
/// ```
#[macro_export]
macro_rules! errors {
    ($vis:vis enum $name:ident { $($variant:ident = $code:literal => $message:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        $vis enum $name { $($variant = $code),* }

        impl $name {
            /// The stable numeric code.
            pub fn code(self) -> u32 {
                self as u32
            }
        }

        impl From<$name> for $crate::Error {
            fn from(err: $name) -> $crate::Error {
                let message = match err { $($name::$variant => $message),* };
                $crate::Error::new(err.code(), message)
            }
        }

        const _: () = {
            let codes = [$($code as u32),*];
            let mut i = 0;
            while i < codes.len() {
                assert!(codes[i] < $crate::Error::RESERVED, "error code in the SDK's range");
                let mut j = i + 1;
                while j < codes.len() {
                    assert!(codes[i] != codes[j], "two errors share a code");
                    j += 1;
                }
                i += 1;
            }
        };
    };
}
