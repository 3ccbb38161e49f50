//! The contract's allocator: size classes over the memory the module starts with.
//!
//! std's allocator on `wasm32-unknown-unknown` (dlmalloc) takes no memory from the module's
//! initial pages: its first allocation of every call grows linear memory. The VM keeps an
//! instance between calls only while its memory keeps its initial size (it resets the contents
//! to the initial image), so with dlmalloc every call paid for a fresh instance. This allocator
//! starts at `__heap_base`, uses the initial pages first and grows memory only when they are
//! spent.
//!
//! Blocks come in power-of-two classes from 16 bytes up, each aligned to its size up to 64 KiB.
//! Freed blocks go to their class's list and serve the next allocation of that class (they are
//! never merged); a reallocation within its class stays in place. A call is short and its
//! instance starts afresh, so the waste does not accumulate across calls, but within one call a
//! doubling `Vec` leaves its smaller blocks behind: under the VM's 16 MiB of memory, one buffer
//! reaches 4 MiB.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;

const PAGE: usize = 65_536;
const MIN_CLASS: u32 = 4;
const MAX_CLASS: u32 = 24;
const CLASSES: usize = (MAX_CLASS - MIN_CLASS + 1) as usize;

struct State {
    /// Head of each class's list of free blocks (0: empty); a free block holds the next.
    free: [usize; CLASSES],
    /// The first byte never handed out, and the end of linear memory (0: not yet read).
    next: usize,
    end: usize,
}

/// The global allocator of every contract built with the SDK.
pub struct Heap(UnsafeCell<State>);

// SAFETY: `wasm32-unknown-unknown` without the atomics feature runs one thread.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(State {
    free: [0; CLASSES],
    next: 0,
    end: 0,
}));

extern "C" {
    /// Set by the linker: the first byte after the stack and the static data.
    static __heap_base: u8;
}

/// The class of a request, or `None` if it is beyond the largest or aligned beyond a page.
fn class(layout: &Layout) -> Option<u32> {
    if layout.align() > PAGE {
        return None;
    }
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    let bits = usize::BITS - (size - 1).leading_zeros();
    (bits <= MAX_CLASS).then(|| bits)
}

impl State {
    unsafe fn take(&mut self, class: u32) -> *mut u8 {
        let slot = (class - MIN_CLASS) as usize;
        let head = self.free[slot];
        if head != 0 {
            self.free[slot] = *(head as *const usize);
            return head as *mut u8;
        }
        let size = 1usize << class;
        let align = size.min(PAGE);
        let start = (self.next + align - 1) & !(align - 1);
        match start.checked_add(size) {
            Some(stop) if stop <= self.end => {
                self.next = stop;
                start as *mut u8
            }
            _ => self.take_beyond(size, align),
        }
    }

    /// The slow path of [`take`](Self::take): the first allocation of a call, or one that needs
    /// memory beyond what the allocator holds.
    #[cold]
    unsafe fn take_beyond(&mut self, size: usize, align: usize) -> *mut u8 {
        // Memory grown by anyone else (a contract may call `memory.grow` itself) is theirs:
        // continue after it.
        let end = wasm32::memory_size(0) * PAGE;
        if self.end == 0 {
            self.next = core::ptr::addr_of!(__heap_base) as usize;
        } else if end != self.end {
            self.next = end;
        }
        self.end = end;
        let start = (self.next + align - 1) & !(align - 1);
        let stop = match start.checked_add(size) {
            Some(stop) => stop,
            None => return core::ptr::null_mut(),
        };
        if stop > self.end {
            let pages = (stop - self.end + PAGE - 1) / PAGE;
            if wasm32::memory_grow(0, pages) != self.end / PAGE {
                return core::ptr::null_mut();
            }
            self.end += pages * PAGE;
        }
        self.next = stop;
        start as *mut u8
    }

    unsafe fn give(&mut self, ptr: *mut u8, class: u32) {
        let slot = (class - MIN_CLASS) as usize;
        *(ptr as *mut usize) = self.free[slot];
        self.free[slot] = ptr as usize;
    }
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(&layout) {
            Some(class) => (*self.0.get()).take(class),
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(class) = class(&layout) {
            (*self.0.get()).give(ptr, class);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if class(&layout) == class(&new) {
            return ptr;
        }
        let moved = self.alloc(new);
        if !moved.is_null() {
            core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        moved
    }
}
