//! Upgrading a devnet's enclave code: a rebuilt `pruntime` cannot open its predecessor's
//! sealed data, so its workers start with new identities, and governance allowlists the new
//! measurement, as an operator upgrading enclave code would.

use std::{path::Path, time::Duration};

use commonware_codec::DecodeExt as _;
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::HttpClient;
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::to_hex;
use veil_rpc_api::VeilApiClient as _;

use super::{layout::Layout, process::pruntime_measurement};
use crate::rpc::{identity, wait_finalized};

/// Sealed data is bound to the code that sealed it, as in an enclave: a rebuilt `pruntime`
/// cannot open its predecessor's identity. In a devnet, start such workers afresh; their new
/// identities register at the same endpoints and replace the old ones on chain.
pub(crate) fn renew_worker_identities_after_rebuild(
    dir: &Path,
    layout_path: &Path,
    layout: &mut Layout,
) -> anyhow::Result<()> {
    let current = to_hex(pruntime_measurement()?);
    if layout.pruntime_measurement.as_deref() == Some(current.as_str()) {
        return Ok(());
    }
    if layout.pruntime_measurement.is_some() {
        eprintln!(
            "pruntime was rebuilt (measurement {current}); its sealed data is bound to the old \
             build, so the workers start with new identities that replace the old registrations"
        );
        for w in 0..layout.workers.len() {
            let data = dir.join(format!("worker-{w}")).join("pruntime");
            if data.exists() {
                std::fs::remove_dir_all(&data)
                    .map_err(|e| anyhow::anyhow!("cannot reset {}: {e}", data.display()))?;
            }
        }
        let genesis = dir.join("genesis-node").join("pruntime");
        if genesis.exists() {
            std::fs::remove_dir_all(&genesis)
                .map_err(|e| anyhow::anyhow!("cannot reset {}: {e}", genesis.display()))?;
        }
        eprintln!(
            "warning: the root key was sealed by the old build (in the genesis node before \
             launch, in the gatekeepers after) and is lost with it; this devnet cannot launch \
             or run contracts any more. Delete {} to start a new one.",
            dir.display()
        );
    }
    layout.pruntime_measurement = Some(current);
    std::fs::write(layout_path, serde_json::to_string_pretty(&layout)?)?;
    Ok(())
}

/// A resumed devnet may run a rebuilt `pruntime`, whose measurement genesis did not allowlist:
/// add it through governance (the devnet holds the governance key), as an operator would for
/// an upgrade, so its workers can register.
pub(crate) async fn allowlist_current_pruntime(
    dir: &Path,
    client: &HttpClient,
) -> anyhow::Result<()> {
    let measurement = pruntime_measurement()?;
    let key = veil_chain::keys::registry_params();
    let stored = client.get_storage(to_hex(key)).await?;
    let mut params = match stored.value {
        Some(v) => veil_primitives::RegistryParams::decode(veil_primitives::from_hex(&v)?)
            .map_err(|e| anyhow::anyhow!("registry params in state: {e}"))?,
        None => veil_primitives::RegistryParams::default(),
    };
    let allowed = veil_primitives::Measurement::Dev(measurement.clone());
    if params.allowlist.contains(&allowed) {
        return Ok(());
    }
    params.allowlist.push(allowed);
    let governance =
        read_json::<AccountKeyFile>(&dir.join("keys").join("governance.json"))?.private_key()?;
    let status = client.status().await?;
    let chain = identity(&status)?;
    let nonce = client
        .get_account(to_hex(governance.public_key()))
        .await?
        .nonce;
    let tx = veil_primitives::Transaction {
        sender: governance.public_key(),
        nonce,
        expiry: status.height + 100,
        call: veil_primitives::Call::Governance(
            veil_primitives::GovernanceCall::SetRegistryParams(params),
        ),
    }
    .sign(&governance, &chain);
    let hash = client
        .submit_transaction(to_hex(commonware_codec::Encode::encode(&tx)))
        .await?;
    let view = wait_finalized(client, &hash, Duration::from_secs(60)).await?;
    if let Some(e) = view.error {
        anyhow::bail!("governance refused the new allowlist: {e}");
    }
    eprintln!(
        "pruntime was rebuilt since genesis: allowlisted its measurement {} through governance",
        to_hex(&measurement)
    );
    Ok(())
}
