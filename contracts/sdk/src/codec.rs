//! The contract codec: what arguments, results, events and stored values look like as bytes.
//!
//! Fixed and stable so that clients in any language can speak it: integers are little-endian
//! at their full width, `bool` is one byte (0 or 1), byte strings, strings and vectors are a
//! `u32` little-endian length then their items, `Option` is a tag byte (0 none, 1 some), arrays
//! and ids are their raw bytes, structs are their fields in order and enums one explicit tag
//! byte then the variant's fields. Decoding never panics and never allocates more than the
//! input could hold.

use std::fmt;

/// Why bytes did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a value.
    Truncated,
    /// A `bool`, `Option` or enum tag outside its range.
    BadTag(u8),
    /// A string that is not UTF-8.
    BadUtf8,
    /// Bytes left over after the value.
    Trailing(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "input ends inside a value"),
            DecodeError::BadTag(tag) => write!(f, "unknown tag {}", tag),
            DecodeError::BadUtf8 => write!(f, "string is not UTF-8"),
            DecodeError::Trailing(n) => write!(f, "{} bytes after the value", n),
        }
    }
}

/// A value that writes itself in the contract codec.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The length of the encoding, or less if it is costly to tell: [`encode`] reserves this
    /// much up front. In wasm every reallocation of a growing buffer costs fuel.
    fn size_hint(&self) -> usize {
        0
    }
}

/// A value that reads itself from the contract codec.
pub trait Decode: Sized {
    /// Reads one value from the front of `input` and advances it.
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError>;
}

/// Encodes one value.
pub fn encode<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.size_hint());
    value.encode_to(&mut out);
    out
}

/// Makes room for `additional` more bytes in `buf`. An empty buffer is allocated directly: in
/// wasm, `reserve` on one goes through two more calls (about 120 instructions of fuel).
#[inline]
pub(crate) fn reserve(buf: &mut Vec<u8>, additional: usize) {
    if buf.capacity() == 0 {
        *buf = Vec::with_capacity(additional);
    } else {
        buf.reserve(additional);
    }
}

/// Decodes exactly one value: bytes left over are an error.
pub fn decode<T: Decode>(mut input: &[u8]) -> Result<T, DecodeError> {
    let value = T::decode_from(&mut input)?;
    if input.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::Trailing(input.len()))
    }
}

/// Takes `n` bytes from the front of `input`.
#[inline]
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn size_hint(&self) -> usize {
                std::mem::size_of::<$t>()
            }
        }
        impl Decode for $t {
            #[inline]
            fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
                let mut bytes = [0u8; std::mem::size_of::<$t>()];
                bytes.copy_from_slice(take(input, std::mem::size_of::<$t>())?);
                Ok(<$t>::from_le_bytes(bytes))
            }
        }
    )*};
}
int!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
    fn size_hint(&self) -> usize {
        1
    }
}

impl Decode for bool {
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match u8::decode_from(input)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag(tag)),
        }
    }
}

impl Encode for () {
    fn encode_to(&self, _: &mut Vec<u8>) {}
}

impl Decode for () {
    fn decode_from(_: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(())
    }
}

fn length(input: &mut &[u8]) -> Result<usize, DecodeError> {
    let len = u32::decode_from(input)? as usize;
    // Every item takes at least one byte, except unit-like ones, which nobody stores by the
    // billion: a length beyond the input is a lie and refused before allocating.
    if len > input.len() {
        return Err(DecodeError::Truncated);
    }
    Ok(len)
}

fn put_length(len: usize, out: &mut Vec<u8>) {
    (len as u32).encode_to(out);
}

impl Encode for str {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_length(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    fn size_hint(&self) -> usize {
        4 + self.len()
    }
}

impl Encode for String {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_str().encode_to(out);
    }
    fn size_hint(&self) -> usize {
        self.as_str().size_hint()
    }
}

impl Decode for String {
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let len = length(input)?;
        let bytes = take(input, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::BadUtf8)
    }
}

impl<T: Encode> Encode for [T] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_length(self.len(), out);
        for item in self {
            item.encode_to(out);
        }
    }
    fn size_hint(&self) -> usize {
        4 + self.iter().map(T::size_hint).sum::<usize>()
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_slice().encode_to(out);
    }
    fn size_hint(&self) -> usize {
        self.as_slice().size_hint()
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let len = length(input)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(T::decode_from(input)?);
        }
        Ok(items)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode_to(out);
            }
        }
    }
    fn size_hint(&self) -> usize {
        1 + self.as_ref().map_or(0, T::size_hint)
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match u8::decode_from(input)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode_from(input)?)),
            tag => Err(DecodeError::BadTag(tag)),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    #[inline]
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    #[inline]
    fn size_hint(&self) -> usize {
        N
    }
}

impl<const N: usize> Decode for [u8; N] {
    #[inline]
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(take(input, N)?);
        Ok(bytes)
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
        self.1.encode_to(out);
    }
    fn size_hint(&self) -> usize {
        self.0.size_hint() + self.1.size_hint()
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode_from(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok((A::decode_from(input)?, B::decode_from(input)?))
    }
}

/// Implements the codec for a struct with named fields, in field order.
///
/// ```ignore
/// veil_sdk::codec_struct!(Bid { bidder: AccountId, amount: u128 });
/// ```
#[macro_export]
macro_rules! codec_struct {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        impl $crate::Encode for $name {
            fn encode_to(&self, _out: &mut Vec<u8>) {
                $($crate::Encode::encode_to(&self.$field, _out);)*
            }
            fn size_hint(&self) -> usize {
                0 $(+ $crate::Encode::size_hint(&self.$field))*
            }
        }
        impl $crate::Decode for $name {
            fn decode_from(_input: &mut &[u8]) -> Result<Self, $crate::DecodeError> {
                Ok($name { $($field: <$ty as $crate::Decode>::decode_from(_input)?,)* })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_the_documented_layout() {
        assert_eq!(encode(&258u16), vec![2, 1]);
        assert_eq!(encode(&Some(true)), vec![1, 1]);
        assert_eq!(encode("ab"), vec![2, 0, 0, 0, b'a', b'b']);
        let value = (vec![1u128, 2], Some(String::from("x")));
        assert_eq!(
            decode::<(Vec<u128>, Option<String>)>(&encode(&value)),
            Ok(value)
        );
    }

    #[derive(Clone)]
    struct Pair {
        id: [u8; 32],
        note: Option<String>,
    }
    codec_struct!(Pair {
        id: [u8; 32],
        note: Option<String>
    });

    #[test]
    fn a_size_hint_is_the_encoded_length() {
        fn exact<T: Encode>(value: T) {
            assert_eq!(value.size_hint(), encode(&value).len());
        }
        exact(7u8);
        exact(-7i128);
        exact(true);
        exact(());
        exact(String::from("hello"));
        exact(vec![1u64, 2, 3]);
        exact(vec![String::from("a"), String::from("bcd")]);
        exact(Some(5u32));
        exact(None::<u32>);
        exact((1u16, [9u8; 4]));
        let pair = Pair {
            id: [1; 32],
            note: Some("x".into()),
        };
        exact(pair.clone());
        exact(vec![pair]);
    }

    #[test]
    fn bad_input_is_refused_without_allocating_for_the_lie() {
        assert_eq!(
            decode::<Vec<u64>>(&[255, 255, 255, 255]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode::<bool>(&[2]), Err(DecodeError::BadTag(2)));
        assert_eq!(
            decode::<u32>(&[1, 2, 3, 4, 5]),
            Err(DecodeError::Trailing(1))
        );
        assert_eq!(
            decode::<String>(&[1, 0, 0, 0, 0xff]),
            Err(DecodeError::BadUtf8)
        );
        assert_eq!(decode::<u64>(&[1]), Err(DecodeError::Truncated));
    }
}
