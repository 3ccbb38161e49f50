//! Typed storage handles over the contract's key-value store.
//!
//! An [`Item`] is one value under its name; a [`Map`] is many under its name and an encoded key.
//! The storage key is the name's length (one byte), the name, then (for a map) the key's
//! encoding, so two handles with different names never share an entry. Names must be unique
//! within a contract and at most 255 bytes.

use std::cell::Cell;
use std::marker::PhantomData;
use std::thread::LocalKey;

use crate::codec::{self, Decode, Encode};
use crate::context::{Context, Env};
use crate::error::Error;

thread_local! {
    // The buffers of a storage key and of a value, reused by every read and write of a call
    // (the value buffer also for the input, events, messages and the outcome). In wasm an
    // allocation and its free cost about 140 instructions of fuel, and a transfer reads and
    // writes two entries.
    static KEY: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static VALUE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on the (emptied) buffer kept in `slot`, then keeps the buffer for the next use. A
/// use nested inside `f` finds the slot empty and works on a new buffer.
fn with_buffer<R>(slot: &'static LocalKey<Cell<Vec<u8>>>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = slot.with(Cell::take);
    buf.clear();
    let result = f(&mut buf);
    slot.with(|kept| kept.set(buf));
    result
}

/// Runs `f` on the call's reused value buffer (emptied): storage values, and also the input,
/// events and the outcome, which would otherwise each cost an allocation.
pub(crate) fn with_value_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    with_buffer(&VALUE, f)
}

/// Runs `f` on the storage key of `name` and (for a map entry) `key`.
fn with_key<K: Encode, R>(name: &[u8], key: Option<&K>, f: impl FnOnce(&[u8]) -> R) -> R {
    with_buffer(&KEY, |full| {
        codec::reserve(full, 1 + name.len() + key.map_or(0, K::size_hint));
        full.push(name.len() as u8);
        full.extend_from_slice(name);
        if let Some(key) = key {
            key.encode_to(full);
        }
        f(full)
    })
}

fn load<T: Decode>(env: &impl Env, key: &[u8]) -> Result<Option<T>, Error> {
    with_buffer(&VALUE, |value| {
        if !env.get_raw_into(key, value) {
            return Ok(None);
        }
        codec::decode(value).map(Some).map_err(|err| {
            Error::new(
                Error::CORRUPT_STATE,
                format!("stored value does not decode: {}", err),
            )
        })
    })
}

fn save<T: Encode>(cx: &mut Context, key: &[u8], value: &T) {
    with_buffer(&VALUE, |bytes| {
        codec::reserve(bytes, value.size_hint());
        value.encode_to(bytes);
        cx.set_raw(key, bytes)
    })
}

/// One value of type `T` stored under a name.
pub struct Item<T> {
    name: &'static [u8],
    _value: PhantomData<fn() -> T>,
}

impl<T: Encode + Decode> Item<T> {
    /// A handle for the value stored under `name`.
    pub const fn new(name: &'static [u8]) -> Self {
        assert!(name.len() <= 255, "storage name longer than 255 bytes");
        Item {
            name,
            _value: PhantomData,
        }
    }

    /// The stored value, if any.
    pub fn load(&self, env: &impl Env) -> Result<Option<T>, Error> {
        with_key(self.name, None::<&()>, |key| load(env, key))
    }

    /// The stored value, or `default` if none.
    pub fn load_or(&self, env: &impl Env, default: T) -> Result<T, Error> {
        Ok(self.load(env)?.unwrap_or(default))
    }

    /// Stores `value`.
    pub fn save(&self, cx: &mut Context, value: &T) {
        with_key(self.name, None::<&()>, |key| save(cx, key, value))
    }

    /// Removes the value.
    pub fn remove(&self, cx: &mut Context) {
        with_key(self.name, None::<&()>, |key| cx.remove_raw(key))
    }
}

/// Values of type `V` stored under a name and keys of type `K`.
pub struct Map<K, V> {
    name: &'static [u8],
    _entry: PhantomData<fn() -> (K, V)>,
}

impl<K: Encode, V: Encode + Decode> Map<K, V> {
    /// A handle for the entries stored under `name`.
    pub const fn new(name: &'static [u8]) -> Self {
        assert!(name.len() <= 255, "storage name longer than 255 bytes");
        Map {
            name,
            _entry: PhantomData,
        }
    }

    /// The value under `key`, if any.
    pub fn load(&self, env: &impl Env, key: &K) -> Result<Option<V>, Error> {
        with_key(self.name, Some(key), |key| load(env, key))
    }

    /// The value under `key`, or `default` if none.
    pub fn load_or(&self, env: &impl Env, key: &K, default: V) -> Result<V, Error> {
        Ok(self.load(env, key)?.unwrap_or(default))
    }

    /// Whether `key` has a value.
    pub fn contains(&self, env: &impl Env, key: &K) -> bool {
        with_key(self.name, Some(key), |key| {
            with_buffer(&VALUE, |value| env.get_raw_into(key, value))
        })
    }

    /// Stores `value` under `key`.
    pub fn save(&self, cx: &mut Context, key: &K, value: &V) {
        with_key(self.name, Some(key), |key| save(cx, key, value))
    }

    /// Removes the value under `key`.
    pub fn remove(&self, cx: &mut Context, key: &K) {
        with_key(self.name, Some(key), |key| cx.remove_raw(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Item<Vec<u8>> = Item::new(b"a name longer than the map's");
    const SHORT: Map<u8, u8> = Map::new(b"s");

    /// Keys and values share two buffers within a call: no entry may see another's bytes.
    #[test]
    fn reused_buffers_carry_nothing_between_entries() {
        let mut cx = Context::new();
        LONG.save(&mut cx, &vec![7; 100]);
        SHORT.save(&mut cx, &1, &2);
        assert_eq!(SHORT.load(&cx, &1), Ok(Some(2)));
        assert_eq!(LONG.load(&cx), Ok(Some(vec![7; 100])));
        assert_eq!(SHORT.load(&cx, &3), Ok(None));
        assert!(SHORT.contains(&cx, &1));
        assert!(!SHORT.contains(&cx, &2));
        assert!(crate::mock::sys::keys().contains(&vec![1, b's', 1]));
        SHORT.remove(&mut cx, &1);
        assert_eq!(SHORT.load_or(&cx, &1, 9), Ok(9));
        LONG.save(&mut cx, &vec![1]);
        assert_eq!(LONG.load(&cx), Ok(Some(vec![1])));
        let name = &b"a name longer than the map's"[..];
        assert_eq!(crate::mock::sys::keys(), vec![[&[28u8][..], name].concat()]);
    }
}
