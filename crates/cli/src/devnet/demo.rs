//! The devnet's demo: a transfer from the faucet to a new account, seen by every validator.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use veil_client::keys::{AccountKeyFile, read_json, write_secret_json};
use veil_primitives::{PrivateKey, to_hex};
use veil_rpc_api::VeilApiClient as _;

use super::layout::DevnetFile;
use crate::rpc::{connect, identity, wait_finalized};

/// Moves funds from the faucet to a new account and shows every node agrees.
pub(crate) async fn demo(dir: &Path, file: &DevnetFile) -> anyhow::Result<()> {
    let faucet = read_json::<AccountKeyFile>(&file.faucet_key)?.private_key()?;
    let demo_path = dir.join("keys").join("demo.json");
    let demo = if demo_path.exists() {
        read_json::<AccountKeyFile>(&demo_path)?.private_key()?
    } else {
        let k = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(&demo_path, &AccountKeyFile::new(&k))?;
        k
    };
    let client = connect(&file.nodes[0].rpc)?;
    let status = client.status().await?;
    let chain = identity(&status)?;
    let nonce = client.get_account(to_hex(faucet.public_key())).await?.nonce;
    let amount = 1_000_000u128;
    let tx = veil_primitives::Transaction {
        sender: faucet.public_key(),
        nonce,
        expiry: status.height + 100,
        call: veil_primitives::Call::Transfer {
            to: demo.public_key(),
            amount,
        },
    }
    .sign(&faucet, &chain);
    let started = Instant::now();
    let hash = client
        .submit_transaction(to_hex(commonware_codec::Encode::encode(&tx)))
        .await?;
    eprintln!(
        "demo: transfer of {amount} from the faucet to {} submitted ({hash})",
        to_hex(demo.public_key())
    );
    let view = wait_finalized(&client, &hash, Duration::from_secs(60)).await?;
    eprintln!(
        "demo: finalized at height {} in {} ms",
        view.height.unwrap_or_default(),
        started.elapsed().as_millis()
    );
    for (i, n) in file.nodes.iter().enumerate() {
        let c = connect(&n.rpc)?;
        // Each node applies the block on its own; wait briefly for laggards.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let a = c.get_account(to_hex(demo.public_key())).await?;
            if a.height >= view.height.unwrap_or_default() || Instant::now() > deadline {
                eprintln!(
                    "demo: validator {i} reports balance {} at height {}",
                    a.balance, a.height
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
