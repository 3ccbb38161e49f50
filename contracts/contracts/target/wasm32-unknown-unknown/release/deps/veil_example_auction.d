/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_auction.wasm: examples/auction/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/libveil_example_auction.rlib: examples/auction/src/lib.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_example_auction.d: examples/auction/src/lib.rs

examples/auction/src/lib.rs:
