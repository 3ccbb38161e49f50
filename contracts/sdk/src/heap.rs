//! The contract's allocator: size classes over the memory the module starts with.
//!
//! std's allocator on `wasm32-unknown-unknown` (dlmalloc) takes no memory from the module's
//! initial pages: its first allocation of every call grows linear memory. The VM keeps an
//! instance between calls only while its memory keeps its initial size (it resets the contents
//! to the initial image), so with dlmalloc every call paid for a fresh instance. This allocator
//! starts at `__heap_base`, uses the initial pages first and grows memory only when they are
//! spent.
//!
//! Blocks come in power-of-two classes from 16 bytes to 16 MiB. Every block starts 16-byte
//! aligned, and further if its request asks. Freed blocks go to their class's list and serve the
//! next request of that class whose alignment they meet (they are never merged). A
//! reallocation within its class stays in place, and so does one that grows the block handed
//! out last: a `Vec` that doubles with nothing allocated in between grows without copying and
//! without leaving its smaller blocks behind, up to 8 MiB under the VM's 16 MiB of memory. A
//! call is short and its instance starts afresh, so the waste of unmerged blocks does not
//! accumulate across calls.
//!
//! The logic is written over [`Memory`] so that it runs natively in tests, on a simulated
//! linear memory.

use core::alloc::Layout;

const PAGE: usize = 65_536;
const MIN_CLASS: u32 = 4;
const MAX_CLASS: u32 = 24;
const CLASSES: usize = (MAX_CLASS - MIN_CLASS + 1) as usize;
/// Every block starts at a multiple of this.
const MIN_ALIGN: usize = 1 << MIN_CLASS;

/// Linear memory as the allocator sees it.
pub(crate) trait Memory {
    /// The first byte the allocator may use.
    fn base(&self) -> usize;
    /// The end of memory: the first byte past its last page.
    fn end(&self) -> usize;
    /// Adds `pages` pages at the end; false if refused.
    fn grow(&mut self, pages: usize) -> bool;
}

pub(crate) struct Allocator<M> {
    memory: M,
    /// Head of each class's list of free blocks (0: empty); a free block holds the next.
    free: [usize; CLASSES],
    /// The first byte never handed out, and the end of the memory this allocator owns (0: not
    /// yet read).
    next: usize,
    end: usize,
}

/// The class of a request, or `None` if it is beyond the largest or aligned beyond a page.
fn class(layout: &Layout) -> Option<u32> {
    if layout.align() > PAGE {
        return None;
    }
    let size = layout.size().max(layout.align()).max(MIN_ALIGN);
    let bits = usize::BITS - (size - 1).leading_zeros();
    (bits <= MAX_CLASS).then_some(bits)
}

fn align_up(at: usize, align: usize) -> Option<usize> {
    Some(at.checked_add(align - 1)? & !(align - 1))
}

impl<M> Allocator<M> {
    pub(crate) const fn new(memory: M) -> Self {
        Allocator {
            memory,
            free: [0; CLASSES],
            next: 0,
            end: 0,
        }
    }
}

impl<M: Memory> Allocator<M> {
    /// A block for `layout`, or null if memory cannot hold it.
    ///
    /// # Safety
    /// `M` must describe memory this allocator alone hands out (beyond what others grow).
    pub(crate) unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        match class(&layout) {
            Some(class) => self.take(class, layout.align()),
            None => core::ptr::null_mut(),
        }
    }

    /// Returns a block to its class's list.
    ///
    /// # Safety
    /// `ptr` came from this allocator for `layout` and is not used again.
    pub(crate) unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        if let Some(class) = class(&layout) {
            let slot = (class - MIN_CLASS) as usize;
            *(ptr as *mut usize) = self.free[slot];
            self.free[slot] = ptr as usize;
        }
    }

    /// Resizes a block: in place within its class or when it is the last one handed out,
    /// otherwise by moving it.
    ///
    /// # Safety
    /// As [`GlobalAlloc::realloc`](core::alloc::GlobalAlloc::realloc).
    pub(crate) unsafe fn realloc(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        let (old_class, new_class) = (class(&layout), class(&new));
        if old_class == new_class {
            return ptr;
        }
        if let (Some(old_class), Some(new_class)) = (old_class, new_class) {
            let at = ptr as usize;
            if new_class > old_class && at + (1 << old_class) == self.next {
                if let Some(stop) = at.checked_add(1 << new_class) {
                    if self.extend_to(stop) {
                        return ptr;
                    }
                }
            }
        }
        let moved = self.alloc(new);
        if !moved.is_null() {
            core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        moved
    }

    unsafe fn take(&mut self, class: u32, align: usize) -> *mut u8 {
        let slot = (class - MIN_CLASS) as usize;
        let head = self.free[slot];
        // Free blocks are 16-byte aligned; a request aligned further may have to pass one by.
        if head != 0 && head & (align - 1) == 0 {
            self.free[slot] = *(head as *const usize);
            return head as *mut u8;
        }
        let align = align.max(MIN_ALIGN);
        if let Some(start) = align_up(self.next, align) {
            if let Some(stop) = start.checked_add(1 << class) {
                if stop <= self.end {
                    self.next = stop;
                    return start as *mut u8;
                }
            }
        }
        self.take_beyond(1 << class, align)
    }

    /// The slow path of [`take`](Self::take): the first allocation of a call, or one that needs
    /// memory beyond what the allocator holds.
    #[cold]
    unsafe fn take_beyond(&mut self, size: usize, align: usize) -> *mut u8 {
        let end = self.memory.end();
        if self.end == 0 {
            self.next = self.memory.base();
        } else if end != self.end {
            // Memory grown by anyone else (a contract may call `memory.grow` itself) is
            // theirs: continue after it.
            self.next = end;
        }
        self.end = end;
        let stop =
            align_up(self.next, align).and_then(|start| Some((start, start.checked_add(size)?)));
        match stop {
            Some((start, stop)) if self.extend_to(stop) => start as *mut u8,
            _ => core::ptr::null_mut(),
        }
    }

    /// Hands out memory up to `stop`, growing memory if needed; false (nothing changed) if
    /// memory cannot grow that far or anyone else grew it since.
    unsafe fn extend_to(&mut self, stop: usize) -> bool {
        if stop > self.end {
            if self.memory.end() != self.end {
                return false;
            }
            let pages = (stop - self.end + PAGE - 1) / PAGE;
            if !self.memory.grow(pages) {
                return false;
            }
            self.end = self.memory.end();
        }
        self.next = stop;
        true
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::cell::UnsafeCell;

    use super::{Allocator, Memory, PAGE};

    extern "C" {
        /// Set by the linker: the first byte after the stack and the static data.
        static __heap_base: u8;
    }

    struct Linear;

    impl Memory for Linear {
        fn base(&self) -> usize {
            unsafe { core::ptr::addr_of!(__heap_base) as usize }
        }

        fn end(&self) -> usize {
            wasm32::memory_size(0) * PAGE
        }

        fn grow(&mut self, pages: usize) -> bool {
            wasm32::memory_grow(0, pages) != usize::MAX
        }
    }

    /// The global allocator of every contract built with the SDK.
    pub struct Heap(UnsafeCell<Allocator<Linear>>);

    // SAFETY: `wasm32-unknown-unknown` without the atomics feature runs one thread.
    unsafe impl Sync for Heap {}

    #[global_allocator]
    static HEAP: Heap = Heap(UnsafeCell::new(Allocator::new(Linear)));

    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            (*self.0.get()).alloc(layout)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            (*self.0.get()).dealloc(ptr, layout)
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            (*self.0.get()).realloc(ptr, layout, new_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A linear memory of up to `limit` pages inside a host buffer: "address 0" is the buffer's
    /// first page boundary, and the heap starts about 35 KB into the first page, as after a
    /// contract's 32 KiB stack and its data (`contracts/.cargo/config.toml`).
    struct Simulated {
        _buffer: Vec<u8>,
        zero: usize,
        pages: usize,
        limit: usize,
    }

    impl Simulated {
        fn new(pages: usize, limit: usize) -> Self {
            let buffer = vec![0u8; (limit + 1) * PAGE];
            let zero = align_up(buffer.as_ptr() as usize, PAGE).unwrap();
            Simulated {
                _buffer: buffer,
                zero,
                pages,
                limit,
            }
        }
    }

    impl Memory for Simulated {
        fn base(&self) -> usize {
            self.zero + 35_000
        }

        fn end(&self) -> usize {
            self.zero + self.pages * PAGE
        }

        fn grow(&mut self, pages: usize) -> bool {
            if self.pages + pages > self.limit {
                return false;
            }
            self.pages += pages;
            true
        }
    }

    /// xorshift64*: deterministic inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    struct Live {
        layout: Layout,
        fill: u8,
    }

    fn fill(at: usize, live: &Live) {
        unsafe { core::ptr::write_bytes(at as *mut u8, live.fill, live.layout.size()) }
    }

    fn intact(at: usize, live: &Live) -> bool {
        let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, live.layout.size()) };
        bytes.iter().all(|&b| b == live.fill)
    }

    /// Random allocations, frees and reallocations, sizes up to 200 KiB and alignments up to
    /// 4 KiB, memory growing on the way: every block is aligned, inside memory, disjoint from
    /// every other live block, and keeps its bytes until freed (across reallocation too).
    #[test]
    fn random_use_keeps_blocks_aligned_disjoint_and_intact() {
        for seed in 1..=4u64 {
            let memory = Simulated::new(1, 256);
            let (base, zero) = (memory.base(), memory.zero);
            let mut heap = Allocator::new(memory);
            let mut rng = Rng(seed);
            let mut live: BTreeMap<usize, Live> = BTreeMap::new();
            for step in 0..6_000u32 {
                let roll = rng.below(10);
                if (roll < 5 && live.len() < 400) || live.is_empty() {
                    let size = match rng.below(50) {
                        0 => rng.below(200_000) as usize,
                        1..=4 => rng.below(5_000) as usize,
                        _ => rng.below(100) as usize,
                    };
                    let align = 1usize << [0, 0, 0, 3, 4, 6, 12][rng.below(7) as usize];
                    let layout = Layout::from_size_align(size.max(1), align).unwrap();
                    let at = unsafe { heap.alloc(layout) } as usize;
                    assert_ne!(at, 0, "seed {seed} step {step}: out of memory");
                    let block = Live {
                        layout,
                        fill: step as u8,
                    };
                    fill(at, &block);
                    live.insert(at, block);
                } else {
                    let index = rng.below(live.len() as u64) as usize;
                    let at = *live.keys().nth(index).unwrap();
                    let block = live.remove(&at).unwrap();
                    assert!(intact(at, &block), "seed {seed} step {step}: block changed");
                    if roll < 8 {
                        unsafe { heap.dealloc(at as *mut u8, block.layout) };
                    } else {
                        let new_size =
                            (rng.below(2 * block.layout.size() as u64 + 64) + 1) as usize;
                        let moved =
                            unsafe { heap.realloc(at as *mut u8, block.layout, new_size) } as usize;
                        assert_ne!(moved, 0, "seed {seed} step {step}: out of memory");
                        let kept = block.layout.size().min(new_size);
                        let bytes =
                            unsafe { core::slice::from_raw_parts(moved as *const u8, kept) };
                        assert!(
                            bytes.iter().all(|&b| b == block.fill),
                            "realloc kept the bytes"
                        );
                        let grown = Live {
                            layout: Layout::from_size_align(new_size, block.layout.align())
                                .unwrap(),
                            fill: step as u8,
                        };
                        fill(moved, &grown);
                        live.insert(moved, grown);
                    }
                }
                // Aligned, inside memory, disjoint (blocks sorted by address must not overlap).
                let mut previous_end = base;
                for (&at, block) in &live {
                    assert_eq!(at % block.layout.align().max(MIN_ALIGN), 0);
                    assert!(
                        at >= previous_end,
                        "seed {seed} step {step}: blocks overlap"
                    );
                    previous_end = at + block.layout.size();
                }
                assert!(previous_end <= zero + heap.memory.pages * PAGE);
            }
            for (&at, block) in &live {
                assert!(intact(at, block), "seed {seed}: a block changed");
            }
        }
    }

    /// A buffer doubling with nothing allocated in between grows where it is: 8 MiB fit in
    /// 16 MiB of memory (moving, it left every smaller block behind and stopped at 4 MiB).
    #[test]
    fn a_doubling_buffer_grows_in_place_to_8_mib() {
        let mut heap = Allocator::new(Simulated::new(1, 256));
        let mut layout = Layout::from_size_align(16, 1).unwrap();
        let first = unsafe { heap.alloc(layout) };
        unsafe { *first = 0xab };
        let mut at = first;
        while layout.size() < 8 << 20 {
            let grown = unsafe { heap.realloc(at, layout, layout.size() * 2) };
            assert_eq!(grown, first, "grows in place at {} bytes", layout.size());
            at = grown;
            layout = Layout::from_size_align(layout.size() * 2, 1).unwrap();
        }
        assert_eq!(unsafe { *at }, 0xab);
        // Another allocation after it, and the buffer moves again when it grows.
        let other = unsafe { heap.alloc(Layout::from_size_align(16, 1).unwrap()) };
        assert!(!other.is_null());
        assert!(
            unsafe { heap.realloc(at, layout, 16 << 20) }.is_null(),
            "no room for 16 MiB"
        );
    }

    /// Memory grown by the contract itself is left alone: the allocator continues after it and
    /// never grows a block into it.
    #[test]
    fn memory_grown_by_others_is_theirs() {
        let mut heap = Allocator::new(Simulated::new(1, 256));
        let small = Layout::from_size_align(64, 1).unwrap();
        let first = unsafe { heap.alloc(small) } as usize;
        let end_before = heap.memory.end();
        assert!(heap.memory.grow(1));
        // The last block may not grow past the old end into the contract's page.
        let grown = unsafe { heap.realloc(first as *mut u8, small, PAGE) } as usize;
        assert!(grown >= end_before + PAGE, "moved past the contract's page");
        // The block it moved from serves the next request of its class.
        assert_eq!(unsafe { heap.alloc(small) } as usize, first);
        let next = unsafe { heap.alloc(Layout::from_size_align(128, 1).unwrap()) } as usize;
        assert!(next >= end_before + PAGE);
    }
}
