//! Shared fixtures: the example contracts, built with Debian's toolchain, and WAT modules.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use veil_vm::{Call, Code, Entry, Limits, Outcome, Randomness, Storage, Vm};
use zeroize::Zeroizing;

/// Fuel for calls that should not run out.
pub(crate) const FUEL: u64 = 50_000_000;

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

/// Builds `contracts/` for wasm32 with Debian's rustc 1.63 once per test run and returns the
/// named example's module.
pub(crate) fn example(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(build)
        .as_ref()
        .unwrap_or_else(|err| panic!("{err}"));
    let path = dir.join(format!("veil_example_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn build() -> Result<PathBuf, String> {
    let dir = contracts_dir();
    let target = dir.join("target");
    let status = Command::new("/usr/bin/cargo")
        .args([
            "build",
            "--offline",
            "--release",
            "--quiet",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .current_dir(&dir)
        .env("RUSTC", "/usr/bin/rustc")
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .map_err(|err| {
            format!(
                "cannot run /usr/bin/cargo ({err}): contracts build with Debian's toolchain; \
                 install it with `apt-get install rustc cargo libstd-rust-dev-wasm32`"
            )
        })?;
    if !status.success() {
        return Err(format!("building {} failed ({status})", dir.display()));
    }
    Ok(target.join("wasm32-unknown-unknown/release"))
}

/// A module from WAT text.
pub(crate) fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("fixture is valid WAT")
}

/// A deployed example and its storage, run like pRuntime will.
pub(crate) struct Contract {
    pub(crate) vm: Vm,
    pub(crate) code: Code,
    /// Shared with the VM during a call, unique again after it, so committing does not copy.
    pub(crate) storage: Arc<std::collections::BTreeMap<Vec<u8>, Vec<u8>>>,
    pub(crate) height: u64,
    pub(crate) index: u64,
    /// Next sequence per destination, advanced by successful calls' messages.
    pub(crate) sent: Arc<std::collections::BTreeMap<[u8; 32], u64>>,
}

impl Contract {
    pub(crate) fn new(wasm: &[u8]) -> Self {
        let vm = Vm::new(Limits::default());
        let code = vm.deploy(wasm).expect("deploys");
        Self {
            vm,
            code,
            storage: Default::default(),
            height: 1,
            index: 0,
            sent: Default::default(),
        }
    }

    pub(crate) fn call(
        &mut self,
        entry: Entry,
        caller: [u8; 32],
        input: Vec<u8>,
        fuel: u64,
    ) -> Outcome {
        self.index += 1;
        let randomness = (entry != Entry::Query).then(|| Randomness {
            key: Zeroizing::new([7; 32]),
            index: self.index,
        });
        let call = Call {
            entry,
            input,
            caller,
            contract: [0xc0; 32],
            height: self.height,
            block_hash: [self.height as u8; 32],
            randomness,
            fuel,
            sent: self.sent.clone(),
        };
        let snapshot: Arc<dyn Storage> = self.storage.clone();
        let outcome = self.vm.execute(&self.code, call, snapshot);
        let sent = Arc::make_mut(&mut self.sent);
        for m in &outcome.messages {
            *sent.entry(m.to).or_insert(0) += 1;
        }
        let storage = Arc::make_mut(&mut self.storage);
        for (key, value) in &outcome.changes {
            match value {
                Some(value) => storage.insert(key.clone(), value.clone()),
                None => storage.remove(key),
            };
        }
        outcome
    }
}
