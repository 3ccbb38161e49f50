//! Warm instances: one instantiation serves many calls, put back to its freshly instantiated
//! state after each, so a call sees exactly what a fresh instance would and nothing of the
//! calls before it.
//!
//! A call can change an instance's linear memory (contents and size), its mutable globals, and,
//! through bulk memory's table and segment instructions, its table and its passive segments.
//! A module using those instructions runs in a fresh instance every call. Every other module is
//! compiled with its mutable globals exported under reserved names (wasmi reaches globals only
//! through exports; execution is unchanged), and after every call, returned or trapped, the
//! reset writes the initial memory image back and every mutable global's initial value; an
//! instance whose memory grew is dropped instead.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmi::{Global, Instance, Memory, Store, Val};
use wasmparser::{Operator, Parser, Payload, ValType};

use crate::host::HostState;

/// Prefix of the exports added for mutable globals; a module exporting a name with this prefix
/// runs in fresh instances.
const GLOBAL_EXPORT: &str = "veil:global:";
/// Idle instances kept per module: one for commands and one for a concurrent query.
const MAX_IDLE: usize = 2;
/// Modules with more initial memory run fresh: resetting it costs about what instantiating
/// does, and a kept instance holds it for good.
const MAX_KEPT_PAGES: u64 = 16;
/// Linear memory of all the instances one VM keeps, across its modules: a miner with many
/// contracts keeps instances of the busiest and instantiates the rest.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of linear memory held by idle instances, shared by every module of one VM.
#[derive(Debug, Default)]
pub(crate) struct Budget(AtomicUsize);

impl Budget {
    fn reserve(&self, bytes: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= MAX_KEPT_BYTES)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes held.
    pub(crate) fn used(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}
/// Granularity of the memory image: runs of zero blocks are not stored.
const BLOCK: usize = 4096;
/// A wasm page.
const PAGE: usize = 65_536;

/// The module to compile for reuse: the original with its mutable globals exported.
pub(crate) struct Plan {
    pub(crate) wasm: Vec<u8>,
    globals: Vec<String>,
}

/// Whether instances of `wasm` (already through the deploy policy) can be reused, and how.
pub(crate) fn plan(wasm: &[u8]) -> Option<Plan> {
    let mut globals = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            // The policy allows only function imports, so defined globals are numbered from 0.
            Payload::GlobalSection(section) => {
                for (index, global) in section.into_iter().enumerate() {
                    let ty = global.ok()?.ty;
                    if !ty.mutable {
                        continue;
                    }
                    // A reference's value belongs to the store it was read in and cannot be
                    // restored into another instance's store (floats are refused at deploy).
                    if !matches!(ty.content_type, ValType::I32 | ValType::I64) {
                        return None;
                    }
                    globals.push((index as u32, format!("{GLOBAL_EXPORT}{index}")));
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    if export.ok()?.name.starts_with(GLOBAL_EXPORT) {
                        return None;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut operators = body.get_operators_reader().ok()?;
                while !operators.eof() {
                    match operators.read().ok()? {
                        Operator::TableCopy { .. }
                        | Operator::TableInit { .. }
                        | Operator::ElemDrop { .. }
                        | Operator::MemoryInit { .. }
                        | Operator::DataDrop { .. } => return None,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let wasm = export_globals(wasm, &globals)?;
    Some(Plan {
        wasm,
        globals: globals.into_iter().map(|(_, name)| name).collect(),
    })
}

/// `wasm` with an export of each `(index, name)` global appended to its export section.
fn export_globals(wasm: &[u8], globals: &[(u32, String)]) -> Option<Vec<u8>> {
    const EXPORT_SECTION: u8 = 7;
    const GLOBAL_KIND: u8 = 3;
    let mut out = wasm.get(..8)?.to_vec();
    let mut at = 8;
    let mut exported = false;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, len) = leb_u32(wasm.get(at + 1..)?)?;
        let start = at + 1 + len;
        let end = start.checked_add(size as usize)?;
        let content = wasm.get(start..end)?;
        if id == EXPORT_SECTION {
            let (count, len) = leb_u32(content)?;
            let mut section = Vec::with_capacity(content.len() + globals.len() * 24);
            push_leb(&mut section, count.checked_add(globals.len() as u32)?);
            section.extend_from_slice(&content[len..]);
            for (index, name) in globals {
                push_leb(&mut section, name.len() as u32);
                section.extend_from_slice(name.as_bytes());
                section.push(GLOBAL_KIND);
                push_leb(&mut section, *index);
            }
            out.push(EXPORT_SECTION);
            push_leb(&mut out, section.len() as u32);
            out.extend_from_slice(&section);
            exported = true;
        } else {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    exported.then_some(out)
}

fn leb_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        if i == 4 && byte & 0xf0 != 0 {
            return None;
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn push_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An instance and the handles its calls and its reset need.
pub(crate) struct Ready {
    pub(crate) instance: Instance,
    pub(crate) memory: Memory,
    globals: Vec<Global>,
}

/// An instance ready for its next call, in its own store (boxed: a store is about 1.7 KB, and
/// it moves in and out of the pool on every call).
pub(crate) struct Idle {
    pub(crate) store: Box<Store<HostState>>,
    pub(crate) ready: Ready,
}

/// What a freshly instantiated instance holds, and the instances kept for reuse.
pub(crate) struct Warm {
    globals: Vec<String>,
    pages: u64,
    /// Non-zero blocks of the initial memory, by offset.
    image: Vec<(usize, Vec<u8>)>,
    initial: Vec<Val>,
    idle: Mutex<Vec<Idle>>,
    budget: std::sync::Arc<Budget>,
}

impl Warm {
    /// Records the state of `instance`, freshly instantiated from `plan`'s module, and keeps it
    /// for the first call.
    pub(crate) fn new(
        plan: Plan,
        mut store: Box<Store<HostState>>,
        instance: Instance,
        memory: Memory,
        budget: std::sync::Arc<Budget>,
    ) -> Option<Self> {
        let pages = memory.size(&*store);
        if pages > MAX_KEPT_PAGES {
            return None;
        }
        let globals = plan
            .globals
            .iter()
            .map(|name| instance.get_global(&*store, name))
            .collect::<Option<Vec<_>>>()?;
        let initial = globals.iter().map(|g| g.get(&*store)).collect();
        let image = memory
            .data(&*store)
            .chunks(BLOCK)
            .enumerate()
            .filter(|(_, block)| block.iter().any(|&b| b != 0))
            .map(|(i, block)| (i * BLOCK, block.to_vec()))
            .collect();
        let warm = Self {
            globals: plan.globals,
            pages,
            image,
            initial,
            idle: Mutex::new(Vec::new()),
            budget,
        };
        store.data_mut().memory = None;
        warm.put(
            store,
            Ready {
                instance,
                memory,
                globals,
            },
        );
        Some(warm)
    }

    /// The handles of a new instance of the planned module.
    pub(crate) fn ready(&self, store: &Store<HostState>, instance: Instance) -> Option<Ready> {
        let memory = instance.get_memory(store, "memory")?;
        let globals = self
            .globals
            .iter()
            .map(|name| instance.get_global(store, name))
            .collect::<Option<Vec<_>>>()?;
        Some(Ready {
            instance,
            memory,
            globals,
        })
    }

    /// How many instances are kept.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// An idle instance, if one is kept.
    pub(crate) fn take(&self) -> Option<Idle> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if idle.is_some() {
            self.budget.release(self.bytes());
        }
        idle
    }

    fn bytes(&self) -> usize {
        self.pages as usize * PAGE
    }

    /// Resets `ready` to the initial state and keeps it; drops it if its memory grew, or the
    /// module's pool or the VM's budget is full.
    pub(crate) fn put(&self, mut store: Box<Store<HostState>>, ready: Ready) {
        if ready.memory.size(&*store) != self.pages {
            return;
        }
        // One pass: zeros up to each block of the image (sorted by offset), then the block.
        let data = ready.memory.data_mut(&mut *store);
        let mut at = 0;
        for (offset, block) in &self.image {
            data[at..*offset].fill(0);
            at = *offset + block.len();
            data[*offset..at].copy_from_slice(block);
        }
        data[at..].fill(0);
        for (global, value) in ready.globals.iter().zip(&self.initial) {
            if global.set(&mut *store, value.clone()).is_err() {
                return;
            }
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && self.budget.reserve(self.bytes()) {
            idle.push(Idle { store, ready });
        }
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        let kept = self.idle.get_mut().map_or(0, |idle| idle.len());
        self.budget.release(kept * self.bytes());
    }
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm")
            .field("globals", &self.globals)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips_and_refuses_overlong_input() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            push_leb(&mut bytes, value);
            assert_eq!(leb_u32(&bytes), Some((value, bytes.len())));
        }
        assert_eq!(leb_u32(&[0x80; 6]), None);
        assert_eq!(leb_u32(&[0x80]), None);
        assert_eq!(leb_u32(&[0xff, 0xff, 0xff, 0xff, 0x7f]), None);
    }
}
