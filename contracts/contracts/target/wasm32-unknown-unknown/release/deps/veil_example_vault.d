/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_vault.wasm: examples/vault/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/libveil_example_vault.rlib: examples/vault/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_vault.d: examples/vault/src/lib.rs

examples/vault/src/lib.rs:
