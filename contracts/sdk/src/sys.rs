//! The host ABI, the one place the SDK touches it.
//!
//! In wasm these are imports from the `veil` module that the VM provides (`crates/vm`); on
//! native targets they go to the thread's [`MockHost`](crate::mock::MockHost). Keys and
//! values are byte strings; ids and hashes are 32 bytes.

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "veil")]
    extern "C" {
        pub fn input_len() -> u32;
        pub fn input_read(ptr: *mut u8);
        pub fn output_write(ptr: *const u8, len: u32);
        pub fn storage_read(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i64;
        pub fn value_read(ptr: *mut u8);
        pub fn storage_set(key: *const u8, key_len: u32, value: *const u8, value_len: u32);
        pub fn storage_remove(key: *const u8, key_len: u32);
        pub fn caller(out: *mut u8);
        pub fn contract(out: *mut u8);
        pub fn height() -> u64;
        pub fn block_hash(out: *mut u8);
        pub fn emit_event(ptr: *const u8, len: u32);
        pub fn random(out: *mut u8, len: u32);
        pub fn sha256(ptr: *const u8, len: u32, out: *mut u8);
        pub fn panic(ptr: *const u8, len: u32);
        pub fn send(to: *const u8, ptr: *const u8, len: u32, fuel: u64) -> u64;
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use super::imports as host;

    // SAFETY (whole module): every pointer handed to the host points into a live buffer of
    // the length passed with it, or of 32 bytes where the host writes an id or a hash; the
    // host checks bounds against linear memory and traps instead of writing outside it.

    /// Reads the call's input into `out` (emptied), which keeps at least `VALUE_ROOM` bytes of
    /// capacity for the values, events and outcome that reuse the buffer after it.
    pub fn input_into(out: &mut Vec<u8>) {
        unsafe {
            let len = host::input_len() as usize;
            out.clear();
            crate::codec::reserve(out, len.max(VALUE_ROOM));
            // The host writes all `len` bytes or traps, so nothing uninitialized is exposed.
            host::input_read(out.as_mut_ptr());
            out.set_len(len);
        }
    }

    pub fn set_output(bytes: &[u8]) {
        unsafe { host::output_write(bytes.as_ptr(), bytes.len() as u32) }
    }

    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        unsafe {
            // No room offered: a missing entry costs no allocation, and a found one (kept by
            // the host unless empty) is copied into a buffer of its size.
            let len = host::storage_read(key.as_ptr(), key.len() as u32, core::ptr::null_mut(), 0);
            if len < 0 {
                return None;
            }
            let len = len as usize;
            let mut value = Vec::with_capacity(len);
            if len > 0 {
                host::value_read(value.as_mut_ptr());
            }
            // The host wrote all `len` bytes or trapped, so nothing uninitialized is exposed.
            value.set_len(len);
            Some(value)
        }
    }

    /// Room in the value buffer from its first use: most values fit, and then one host call
    /// reads them; most events and outcomes, encoded in the same buffer, fit too.
    const VALUE_ROOM: usize = 128;

    pub fn storage_get_into(key: &[u8], out: &mut Vec<u8>) -> bool {
        unsafe {
            // Room from the start of `out`: the host writes there only when the entry exists
            // and fits, so a missing entry leaves `out` as it was.
            crate::codec::reserve(out, VALUE_ROOM.saturating_sub(out.len()));
            let cap = out.capacity().min(u32::MAX as usize);
            let len =
                host::storage_read(key.as_ptr(), key.len() as u32, out.as_mut_ptr(), cap as u32);
            if len < 0 {
                return false;
            }
            let len = len as usize;
            if len > cap {
                // Kept by the host: copy it once there is room.
                out.clear();
                out.reserve(len);
                host::value_read(out.as_mut_ptr());
            }
            // The host wrote all `len` bytes or trapped, so nothing uninitialized is exposed.
            out.set_len(len);
            true
        }
    }

    pub fn storage_set(key: &[u8], value: &[u8]) {
        unsafe {
            host::storage_set(
                key.as_ptr(),
                key.len() as u32,
                value.as_ptr(),
                value.len() as u32,
            )
        }
    }

    pub fn storage_remove(key: &[u8]) {
        unsafe { host::storage_remove(key.as_ptr(), key.len() as u32) }
    }

    pub fn caller() -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { host::caller(out.as_mut_ptr()) };
        out
    }

    pub fn contract() -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { host::contract(out.as_mut_ptr()) };
        out
    }

    pub fn height() -> u64 {
        unsafe { host::height() }
    }

    pub fn block_hash() -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { host::block_hash(out.as_mut_ptr()) };
        out
    }

    pub fn emit_event(bytes: &[u8]) {
        unsafe { host::emit_event(bytes.as_ptr(), bytes.len() as u32) }
    }

    pub fn random(out: &mut [u8]) {
        unsafe { host::random(out.as_mut_ptr(), out.len() as u32) }
    }

    pub fn sha256(bytes: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { host::sha256(bytes.as_ptr(), bytes.len() as u32, out.as_mut_ptr()) };
        out
    }

    pub fn send(to: &[u8; 32], payload: &[u8], fuel: u64) -> u64 {
        unsafe { host::send(to.as_ptr(), payload.as_ptr(), payload.len() as u32, fuel) }
    }

    pub fn install_panic_hook() {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            unsafe { host::panic(message.as_ptr(), message.len() as u32) }
        }));
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    pub use crate::mock::sys::*;

    pub fn install_panic_hook() {}
}

pub(crate) use backend::*;
