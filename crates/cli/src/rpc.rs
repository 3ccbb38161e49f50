//! Reaching a node from the command line: the runtime for one-shot commands and which node to
//! talk to when `--rpc` is not given.

use std::path::Path;

pub(crate) use veil_client::node::{connect, identity, wait_finalized};

/// Where commands look for a devnet when `--rpc` is not given.
pub(crate) const DEVNET_FILE: &str = "devnet-data/devnet.json";
/// The node a command talks to when nothing else names one.
pub(crate) const DEFAULT_RPC: &str = "http://127.0.0.1:9944";

/// A blocking runtime for one-shot client commands.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The node RPC URL to use: `--rpc` if given, else `$VEIL_RPC`, else the first validator of a
/// devnet in `./devnet-data` (what `veil devnet` runs by default), else [DEFAULT_RPC].
pub(crate) fn node_url(flag: Option<String>) -> String {
    if let Some(url) = flag {
        return url;
    }
    if let Ok(url) = std::env::var("VEIL_RPC")
        && !url.is_empty()
    {
        return url;
    }
    devnet_rpc(Path::new(DEVNET_FILE)).unwrap_or_else(|| DEFAULT_RPC.to_string())
}

/// The first validator's RPC URL in a devnet file.
fn devnet_rpc(path: &Path) -> Option<String> {
    devnet_field(path, |file| &file["nodes"][0]["rpc"])
}

/// The local devnet's genesis hash (`./devnet-data/devnet.json`), if there is one.
pub(crate) fn devnet_genesis_hash() -> Option<String> {
    devnet_field(Path::new(DEVNET_FILE), |file| &file["genesis_hash"])
}

fn devnet_field(
    path: &Path,
    field: impl FnOnce(&serde_json::Value) -> &serde_json::Value,
) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: serde_json::Value = serde_json::from_str(&text).ok()?;
    field(&file).as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_devnet_file_names_the_node() {
        let dir = std::env::temp_dir().join(format!("veil-cli-rpc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devnet.json");
        std::fs::write(&path, r#"{"nodes":[{"rpc":"http://127.0.0.1:4321"}]}"#).unwrap();
        assert_eq!(devnet_rpc(&path).as_deref(), Some("http://127.0.0.1:4321"));
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(devnet_rpc(&path), None);
        assert_eq!(node_url(Some("http://x".into())), "http://x");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
