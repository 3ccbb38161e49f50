/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_sdk-84954711f56fcf44.rmeta: sdk/src/lib.rs sdk/src/codec.rs sdk/src/context.rs sdk/src/entry.rs sdk/src/error.rs sdk/src/export.rs sdk/src/heap.rs sdk/src/message.rs sdk/src/storage.rs sdk/src/sys.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/libveil_sdk-84954711f56fcf44.rlib: sdk/src/lib.rs sdk/src/codec.rs sdk/src/context.rs sdk/src/entry.rs sdk/src/error.rs sdk/src/export.rs sdk/src/heap.rs sdk/src/message.rs sdk/src/storage.rs sdk/src/sys.rs

/work/wt/contracts/contracts/target/wasm32-unknown-unknown/release/deps/veil_sdk-84954711f56fcf44.d: sdk/src/lib.rs sdk/src/codec.rs sdk/src/context.rs sdk/src/entry.rs sdk/src/error.rs sdk/src/export.rs sdk/src/heap.rs sdk/src/message.rs sdk/src/storage.rs sdk/src/sys.rs

sdk/src/lib.rs:
sdk/src/codec.rs:
sdk/src/context.rs:
sdk/src/entry.rs:
sdk/src/error.rs:
sdk/src/export.rs:
sdk/src/heap.rs:
sdk/src/message.rs:
sdk/src/storage.rs:
sdk/src/sys.rs:
