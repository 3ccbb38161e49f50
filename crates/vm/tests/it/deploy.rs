//! The deploy policy: what a module may contain.

use proptest::prelude::*;
use veil_vm::{DeployError, Limits, Vm};

use crate::support::{example, wat};

/// A minimal contract in WAT whose entry points write an `Ok(())` outcome, plus `extra`.
pub(crate) fn module(extra: &str) -> String {
    module_with("", extra)
}

/// The same with more imports (which WAT wants before any function).
pub(crate) fn module_with(imports: &str, extra: &str) -> String {
    format!(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            {imports}
            (memory (export "memory") 1)
            (data (i32.const 0) "\00")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1)))
            {extra})"#
    )
}

fn deploy(wasm: &[u8]) -> Result<veil_vm::Code, DeployError> {
    Vm::new(Limits::default()).deploy(wasm)
}

#[test]
fn the_examples_built_with_rustc_1_63_deploy_with_their_abi() {
    for (name, method) in [
        ("token", "\"transfer\""),
        ("auction", "\"bid\""),
        ("vault", "\"deposit\""),
    ] {
        let code = deploy(&example(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        let abi = code
            .abi()
            .expect("the export! macro writes a veil_abi section");
        assert!(
            abi.starts_with("{\"veil_abi\":1,") && abi.contains(method),
            "{abi}"
        );
    }
}

#[test]
fn the_minimal_fixture_deploys() {
    deploy(&wat(&module(""))).unwrap();
}

#[test]
fn float_instructions_are_refused() {
    let floats =
        module("(func (result i32) (i32.trunc_f32_s (f32.add (f32.const 1) (f32.const 2))))");
    let float_param = module("(func (param f64))");
    for text in [floats, float_param] {
        let refused = deploy(&wat(&text)).unwrap_err();
        assert!(refused.to_string().contains("floating-point"), "{refused}");
    }
}

#[test]
fn malformed_and_oversized_modules_are_refused() {
    assert!(matches!(
        deploy(b"\0asm\x01\0\0\0garbage"),
        Err(DeployError::Invalid(_))
    ));
    assert!(matches!(
        deploy(b"not wasm at all"),
        Err(DeployError::Invalid(_))
    ));
    assert!(matches!(deploy(&[]), Err(DeployError::Invalid(_))));
    let limits = Limits {
        max_code_bytes: 100,
        ..Limits::default()
    };
    let big = wat(&module(""));
    assert_eq!(
        Vm::new(limits).deploy(&big).unwrap_err(),
        DeployError::TooLarge {
            size: big.len(),
            limit: 100
        }
    );
}

#[test]
fn start_functions_are_refused() {
    let start = module("(func $s) (start $s)");
    assert_eq!(
        deploy(&wat(&start)).unwrap_err(),
        DeployError::StartFunction
    );
}

#[test]
fn imports_other_than_host_functions_are_refused() {
    let foreign = module_with(r#"(import "env" "now" (func))"#, "");
    assert!(
        matches!(deploy(&wat(&foreign)), Err(DeployError::Import { module, .. }) if module == "env")
    );
    let unknown = module_with(r#"(import "veil" "exec" (func))"#, "");
    assert!(
        matches!(deploy(&wat(&unknown)), Err(DeployError::Import { name, .. }) if name == "exec")
    );
    let wrong_signature = module_with(r#"(import "veil" "height" (func (param i32)))"#, "");
    assert!(matches!(
        deploy(&wat(&wrong_signature)),
        Err(DeployError::Instantiate(_))
    ));
}

#[test]
fn reference_type_instructions_and_extra_tables_are_refused() {
    let table_size = module("(table 1 funcref) (func (result i32) (table.size 0))");
    assert!(
        matches!(deploy(&wat(&table_size)), Err(DeployError::Instruction(op)) if op == "table.size")
    );
    let ref_func =
        module("(table 1 funcref) (func $f) (elem declare func $f) (func (drop (ref.func $f)))");
    assert!(
        matches!(deploy(&wat(&ref_func)), Err(DeployError::Instruction(op)) if op == "ref.func")
    );
    let two_tables = module("(table 1 funcref) (table 1 funcref)");
    assert_eq!(deploy(&wat(&two_tables)).unwrap_err(), DeployError::Table);
    let one_table = module("(table 1 funcref) (func $f) (elem (i32.const 0) $f)");
    deploy(&wat(&one_table)).unwrap();
}

#[test]
fn disabled_proposals_are_refused() {
    let simd = module("(func (drop (v128.const i64x2 0 0)))");
    assert!(deploy(&wat(&simd)).is_err());
    let tail_call = module("(func $f (return_call $f))");
    assert!(matches!(
        deploy(&wat(&tail_call)),
        Err(DeployError::Invalid(_))
    ));
    let two_memories = module("(memory 1)");
    assert_eq!(
        deploy(&wat(&two_memories)).unwrap_err(),
        DeployError::Memory
    );
}

#[test]
fn missing_entry_points_and_memory_are_refused() {
    let text = module("").replace(
        r#"(func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    );
    assert_eq!(
        deploy(&wat(&text)).unwrap_err(),
        DeployError::Export("handle_query")
    );
    let typed = module("").replace(r#"(export "init")"#, r#"(export "init") (param i32)"#);
    assert_eq!(
        deploy(&wat(&typed)).unwrap_err(),
        DeployError::Export("init")
    );
    let hidden = module("").replace(r#"(memory (export "memory") 1)"#, "(memory 1)");
    assert_eq!(deploy(&wat(&hidden)).unwrap_err(), DeployError::Memory);
}

#[test]
fn memory_beyond_the_limit_does_not_instantiate() {
    let huge = module("").replace(
        r#"(memory (export "memory") 1)"#,
        r#"(memory (export "memory") 1000)"#,
    );
    assert!(matches!(
        deploy(&wat(&huge)),
        Err(DeployError::Instantiate(_))
    ));
}

/// A function declaring `count` i64 locals, called in a loop by `$spin`.
fn wide_locals(count: usize) -> String {
    let locals = "i64 ".repeat(count);
    format!("(func $wide (local {locals})) (func $spin (loop $l (call $wide) (br $l)))")
}

/// The attack: wasmi zeroes a function's locals at every call and charges no fuel for it, so a
/// loop calling a function with 30,000 locals (wasmi's maximum) zeroes 240 KB for two fuel a
/// call, and a query with 50 million fuel runs for minutes on a miner's query threads.
#[test]
fn functions_with_more_locals_than_the_limit_are_refused() {
    let limit = Limits::default().max_function_locals;
    assert_eq!(
        deploy(&wat(&module(&wide_locals(30_000)))).unwrap_err(),
        DeployError::Locals {
            what: "a function",
            count: 30_000,
            limit,
        }
    );
    let over = deploy(&wat(&module(&wide_locals(limit as usize + 1)))).unwrap_err();
    assert!(
        over.to_string().contains("locals, over the limit"),
        "{over}"
    );
    deploy(&wat(&module(&wide_locals(limit as usize)))).unwrap();
}

#[test]
fn modules_with_more_locals_in_total_than_the_limit_are_refused() {
    let limits = Limits::default();
    let functions = limits.max_module_locals / limits.max_function_locals + 1;
    let many: String = (0..functions)
        .map(|_| {
            format!(
                "(func (local {}))",
                "i32 ".repeat(limits.max_function_locals as usize)
            )
        })
        .collect();
    assert!(matches!(
        deploy(&wat(&module(&many))),
        Err(DeployError::Locals {
            what: "the module",
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_deploy(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = deploy(&bytes);
    }

    #[test]
    fn mutated_contracts_never_panic_the_deploy(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut wasm = wat(&module("(table 1 funcref) (func $f (param i32) (result i32) (local.get 0))"));
        for (index, byte) in flips {
            let at = index.index(wasm.len());
            wasm[at] = byte;
        }
        let _ = deploy(&wasm);
    }
}
