//! Typed storage handles over the contract's key-value store.
//!
//! An [`Item`] is one value under its name; a [`Map`] is many under its name and an encoded key.
//! The storage key is the name's length (one byte), the name, then (for a map) the key's
//! encoding, so two handles with different names never share an entry. Names must be unique
//! within a contract and at most 255 bytes.

use std::marker::PhantomData;

use crate::codec::{self, Decode, Encode};
use crate::context::{Context, Env};
use crate::error::Error;

fn prefixed(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len() + 32);
    key.push(name.len() as u8);
    key.extend_from_slice(name);
    key
}

fn load<T: Decode>(env: &impl Env, key: &[u8]) -> Result<Option<T>, Error> {
    match env.get_raw(key) {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes).map(Some).map_err(|err| {
            Error::new(
                Error::CORRUPT_STATE,
                format!("stored value does not decode: {}", err),
            )
        }),
    }
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
        load(env, &prefixed(self.name))
    }

    /// The stored value, or `default` if none.
    pub fn load_or(&self, env: &impl Env, default: T) -> Result<T, Error> {
        Ok(self.load(env)?.unwrap_or(default))
    }

    /// Stores `value`.
    pub fn save(&self, cx: &mut Context, value: &T) {
        cx.set_raw(&prefixed(self.name), &codec::encode(value))
    }

    /// Removes the value.
    pub fn remove(&self, cx: &mut Context) {
        cx.remove_raw(&prefixed(self.name))
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

    fn key(&self, key: &K) -> Vec<u8> {
        let mut full = prefixed(self.name);
        key.encode_to(&mut full);
        full
    }

    /// The value under `key`, if any.
    pub fn load(&self, env: &impl Env, key: &K) -> Result<Option<V>, Error> {
        load(env, &self.key(key))
    }

    /// The value under `key`, or `default` if none.
    pub fn load_or(&self, env: &impl Env, key: &K, default: V) -> Result<V, Error> {
        Ok(self.load(env, key)?.unwrap_or(default))
    }

    /// Whether `key` has a value.
    pub fn contains(&self, env: &impl Env, key: &K) -> bool {
        env.get_raw(&self.key(key)).is_some()
    }

    /// Stores `value` under `key`.
    pub fn save(&self, cx: &mut Context, key: &K, value: &V) {
        cx.set_raw(&self.key(key), &codec::encode(value))
    }

    /// Removes the value under `key`.
    pub fn remove(&self, cx: &mut Context, key: &K) {
        cx.remove_raw(&self.key(key))
    }
}
