/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_token.wasm: examples/token/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/libveil_example_token.rlib: examples/token/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_token.d: examples/token/src/lib.rs

examples/token/src/lib.rs:
