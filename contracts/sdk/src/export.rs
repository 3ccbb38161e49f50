//! `export!`: a contract's argument types, its wasm exports and its ABI description.

/// Declares a contract's methods and exports it.
///
/// ```ignore
/// veil_sdk::export! {
///     contract: Token,
///     init: Init { supply: u128 },
///     commands: Command {
///         0 transfer => Transfer { to: AccountId, amount: u128 } -> (),
///     },
///     queries: Query {
///         0 balance => Balance { who: AccountId } -> u128,
///         1 total_supply => TotalSupply {} -> u128,
///     },
/// }
/// ```
///
/// This defines the struct `Init` and the enums `Command` and `Query` (each variant encoded
/// as its tag byte, then its fields; tags are explicit so they stay stable as methods are
/// added), the wasm exports `init`, `handle_command`, `handle_query` and `handle_message`
/// that call the [`Contract`](crate::Contract) implementation of `Token`, and the ABI: a JSON
/// description of the methods (name, tag, argument names and types, result type), as the
/// constant `ABI` and, in wasm, as the custom section `veil_abi`, from which the CLI and
/// clients call methods by name with JSON arguments.
#[macro_export]
macro_rules! export {
    (
        contract: $contract:ty,
        init: $init:ident { $($ifield:ident : $ity:ty),* $(,)? },
        commands: $command:ident {
            $($ctag:literal $cname:ident => $cvariant:ident { $($cfield:ident : $cty:ty),* $(,)? } -> $cret:ty),* $(,)?
        },
        queries: $query:ident {
            $($qtag:literal $qname:ident => $qvariant:ident { $($qfield:ident : $qty:ty),* $(,)? } -> $qret:ty),* $(,)?
        } $(,)?
    ) => {
        /// Arguments of `init`.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $init { $(#[allow(missing_docs)] pub $ifield: $ity),* }
        $crate::codec_struct!($init { $($ifield: $ity),* });

        $crate::__export_enum!($command { $($ctag $cvariant { $($cfield: $cty),* }),* });
        $crate::__export_enum!($query { $($qtag $qvariant { $($qfield: $qty),* }),* });

        /// The contract's ABI description (JSON).
        pub const ABI: &str = concat!(
            "{\"veil_abi\":1,\"init\":[",
            $crate::__abi_args!($($ifield: $ity),*),
            "],\"commands\":[",
            $crate::__abi_methods!($($ctag $cname ($($cfield: $cty),*) -> $cret),*),
            "],\"queries\":[",
            $crate::__abi_methods!($($qtag $qname ($($qfield: $qty),*) -> $qret),*),
            "]}"
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[no_mangle]
            pub extern "C" fn init() {
                $crate::entry::init::<$contract>()
            }

            #[no_mangle]
            pub extern "C" fn handle_command() {
                $crate::entry::command::<$contract>()
            }

            #[no_mangle]
            pub extern "C" fn handle_query() {
                $crate::entry::query::<$contract>()
            }

            #[no_mangle]
            pub extern "C" fn handle_message() {
                $crate::entry::message::<$contract>()
            }

            #[link_section = "veil_abi"]
            #[used]
            static ABI_SECTION: [u8; ABI.len()] = $crate::__abi_bytes(ABI);
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_enum {
    ($name:ident { $($tag:literal $variant:ident { $($field:ident : $ty:ty),* }),* }) => {
        #[allow(missing_docs)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($variant { $($field: $ty),* }),* }

        impl $crate::Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                match self {
                    $($name::$variant { $($field),* } => {
                        out.push($tag);
                        $($crate::Encode::encode_to($field, out);)*
                    })*
                    // Reached only by a contract without commands or queries (an empty enum).
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
            }
            fn size_hint(&self) -> usize {
                match self {
                    $($name::$variant { $($field),* } => 1 $(+ $crate::Encode::size_hint($field))*,)*
                    #[allow(unreachable_patterns)]
                    _ => 0,
                }
            }
        }

        impl $crate::Decode for $name {
            fn decode_from(input: &mut &[u8]) -> Result<Self, $crate::DecodeError> {
                let tag = <u8 as $crate::Decode>::decode_from(input)?;
                $(if tag == $tag {
                    return Ok($name::$variant { $($field: <$ty as $crate::Decode>::decode_from(input)?),* });
                })*
                Err($crate::DecodeError::BadTag(tag))
            }
        }

        const _: () = {
            let tags: &[u8] = &[$($tag),*];
            let mut i = 0;
            while i < tags.len() {
                let mut j = i + 1;
                while j < tags.len() {
                    assert!(tags[i] != tags[j], "two methods share a tag");
                    j += 1;
                }
                i += 1;
            }
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __abi_args {
    () => { "" };
    ($name:ident : $ty:ty) => {
        concat!("{\"name\":\"", stringify!($name), "\",\"type\":\"", stringify!($ty), "\"}")
    };
    ($name:ident : $ty:ty, $($rest:tt)+) => {
        concat!($crate::__abi_args!($name: $ty), ",", $crate::__abi_args!($($rest)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __abi_methods {
    () => { "" };
    ($tag:literal $name:ident ($($args:tt)*) -> $ret:ty) => {
        concat!(
            "{\"name\":\"", stringify!($name), "\",\"tag\":", stringify!($tag),
            ",\"args\":[", $crate::__abi_args!($($args)*), "],\"returns\":\"", stringify!($ret), "\"}"
        )
    };
    ($tag:literal $name:ident ($($args:tt)*) -> $ret:ty, $($rest:tt)+) => {
        concat!(
            $crate::__abi_methods!($tag $name ($($args)*) -> $ret), ",",
            $crate::__abi_methods!($($rest)+)
        )
    };
}

/// Copies the ABI text into the array the custom section holds (const, so it costs no code).
#[doc(hidden)]
pub const fn __abi_bytes<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}
