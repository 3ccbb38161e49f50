//! What a contract module may contain: checked once, at deploy, before it is compiled.
//!
//! Accepted: MVP wasm plus mutable globals, sign extension, multi-value, bulk memory and one
//! funcref table (what rustc 1.63 and current stable emit for `wasm32-unknown-unknown`);
//! imports only from the `veil` host module; one memory of its own, exported as `memory`; the
//! four entry points as `() -> ()` functions. Refused, each with its own error: floats, start
//! functions, reference-type instructions, SIMD, tail calls, threads, memory64, multi-memory,
//! and anything over the limits, locals included ([`Limits::max_function_locals`]). Current
//! stable rustc encodes `call_indirect` in the reference-types form, so the parser runs with
//! that proposal on and this scan refuses its instructions instead.

use wasmparser::{Operator, Parser, Payload, RefType, TypeRef};

use crate::host;
use crate::{Entry, Limits};

/// Why a module was refused at deploy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// The module is larger than the code limit.
    #[error("code is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the module.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a well-formed wasm module, or it failed validation (floats, disabled proposals).
    #[error("invalid wasm module: {0}")]
    Invalid(String),
    /// The module has a start function, which would run outside any entry point.
    #[error("start functions are not allowed")]
    StartFunction,
    /// An instruction of a proposal the VM does not accept.
    #[error("instruction {0} is not allowed (reference types)")]
    Instruction(String),
    /// An import the host does not provide.
    #[error("import {module}.{name} is not provided by the host (only `veil` functions are)")]
    Import {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A table that is not the one funcref table.
    #[error("only one funcref table is allowed")]
    Table,
    /// A function declares more locals than the limit, or all functions together do.
    #[error("{what} declares {count} locals, over the limit of {limit}")]
    Locals {
        /// `a function` or `the module`.
        what: &'static str,
        /// Locals declared.
        count: u64,
        /// The limit.
        limit: u32,
    },
    /// A memory that is imported, missing, or not exported as `memory`.
    #[error("the module must define one memory and export it as `memory`")]
    Memory,
    /// A required entry point is missing or has the wrong type.
    #[error("missing export `{0}` of type () -> ()")]
    Export(&'static str),
    /// The module links against the host with the wrong signatures, or cannot be instantiated
    /// within the limits.
    #[error("module does not instantiate: {0}")]
    Instantiate(String),
}

/// Scans the module's sections and instructions against the policy.
pub(crate) fn check(wasm: &[u8], limits: &Limits) -> Result<(), DeployError> {
    if wasm.len() > limits.max_code_bytes {
        return Err(DeployError::TooLarge {
            size: wasm.len(),
            limit: limits.max_code_bytes,
        });
    }
    let invalid = |err: wasmparser::BinaryReaderError| DeployError::Invalid(err.to_string());
    let mut tables = 0usize;
    let mut memories = 0usize;
    let mut module_locals = 0u64;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::StartSection { .. } => return Err(DeployError::StartFunction),
            Payload::ImportSection(imports) => {
                for import in imports {
                    let import = import.map_err(invalid)?;
                    let known = import.module == host::MODULE
                        && host::FUNCTIONS.contains(&import.name)
                        && matches!(import.ty, TypeRef::Func(_));
                    if !known {
                        return Err(DeployError::Import {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                        });
                    }
                }
            }
            Payload::TableSection(section) => {
                for table in section {
                    let table = table.map_err(invalid)?;
                    tables += 1;
                    if tables > 1 || table.ty.element_type != RefType::FUNCREF || table.ty.table64 {
                        return Err(DeployError::Table);
                    }
                }
            }
            Payload::MemorySection(section) => memories += section.count() as usize,
            Payload::CodeSectionEntry(body) => {
                let mut locals = 0u64;
                for group in body.get_locals_reader().map_err(invalid)? {
                    locals += u64::from(group.map_err(invalid)?.0);
                    if locals > u64::from(limits.max_function_locals) {
                        return Err(DeployError::Locals {
                            what: "a function",
                            count: locals,
                            limit: limits.max_function_locals,
                        });
                    }
                }
                module_locals += locals;
                if module_locals > u64::from(limits.max_module_locals) {
                    return Err(DeployError::Locals {
                        what: "the module",
                        count: module_locals,
                        limit: limits.max_module_locals,
                    });
                }
                let mut operators = body.get_operators_reader().map_err(invalid)?;
                while !operators.eof() {
                    let refused = match operators.read().map_err(invalid)? {
                        Operator::TypedSelect { .. } => "select (typed)",
                        Operator::RefNull { .. } => "ref.null",
                        Operator::RefIsNull => "ref.is_null",
                        Operator::RefFunc { .. } => "ref.func",
                        Operator::TableFill { .. } => "table.fill",
                        Operator::TableGet { .. } => "table.get",
                        Operator::TableSet { .. } => "table.set",
                        Operator::TableGrow { .. } => "table.grow",
                        Operator::TableSize { .. } => "table.size",
                        _ => continue,
                    };
                    return Err(DeployError::Instruction(refused.to_string()));
                }
            }
            _ => {}
        }
    }
    if memories != 1 {
        return Err(DeployError::Memory);
    }
    Ok(())
}

/// Checks the compiled module's exports: `memory` and the four entry points.
pub(crate) fn check_exports(module: &wasmi::Module) -> Result<(), DeployError> {
    let export = |name: &str| module.exports().find(|export| export.name() == name);
    match export("memory").map(|export| export.ty().memory().is_some()) {
        Some(true) => {}
        _ => return Err(DeployError::Memory),
    }
    for entry in Entry::ALL {
        let name = entry.export();
        let ok = export(name)
            .and_then(|export| export.ty().func().cloned())
            .is_some_and(|ty| ty.params().is_empty() && ty.results().is_empty());
        if !ok {
            return Err(DeployError::Export(name));
        }
    }
    Ok(())
}
