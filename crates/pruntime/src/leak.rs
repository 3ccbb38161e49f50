//! A test allocator that looks for a secret in every heap block freed while it is armed: the
//! check that plaintext copies of the root key are wiped before their memory is released.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering},
};

/// The system allocator, scanning freed blocks for [freed_copies]' pattern.
pub(crate) struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static PATTERN: [AtomicU8; 32] = [const { AtomicU8::new(0) }; 32];
static FOUND: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

// SAFETY: forwards to `System`; only reads a block before it is freed.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Acquire) && layout.size() >= 32 {
            // SAFETY: the block is live and `layout.size()` bytes long until freed below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let pattern: [u8; 32] = std::array::from_fn(|i| PATTERN[i].load(Ordering::Relaxed));
            if block.windows(32).any(|w| w == pattern) {
                FOUND.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    // `realloc` keeps its default (alloc, copy, dealloc), so a moved block is scanned too.
}

/// Counts freed blocks holding `secret` while `f` runs. Only one caller at a time arms it.
pub(crate) fn freed_copies(secret: &[u8; 32], f: impl FnOnce()) -> usize {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for (slot, b) in PATTERN.iter().zip(secret) {
        slot.store(*b, Ordering::Relaxed);
    }
    FOUND.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Release);
    f();
    ARMED.store(false, Ordering::Release);
    FOUND.load(Ordering::Relaxed)
}
