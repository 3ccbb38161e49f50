//! Contracts from a client: uploading code, reading contract records by proof.

use commonware_codec::DecodeExt as _;
use jsonrpsee::http_client::HttpClient;
use veil_light::Trust;
use veil_primitives::{
    Call, Digest,
    contract::{
        CODE_CHUNK_BYTES, CodeInfo, ContractCall, ContractId, ContractInfo, code_state_key,
        contract_state_key,
    },
    hash,
};

use crate::light;

/// The transactions that upload `code`, one per chunk.
pub fn upload_calls(code: &[u8]) -> Vec<Call> {
    let code_hash = hash(code);
    code.chunks(CODE_CHUNK_BYTES)
        .enumerate()
        .map(|(index, chunk)| {
            Call::Contract(ContractCall::UploadCode {
                hash: code_hash,
                size: code.len() as u32,
                index: index as u32,
                chunk: chunk.to_vec(),
            })
        })
        .collect()
}

/// Valid code's record, proved at `min_height` or later.
pub async fn code(
    client: &HttpClient,
    trust: &Trust,
    code_hash: &Digest,
    min_height: u64,
) -> anyhow::Result<Option<CodeInfo>> {
    let proved = light::storage(client, trust, &code_state_key(code_hash), min_height).await?;
    proved
        .value
        .map(|bytes| {
            CodeInfo::decode(bytes).map_err(|e| anyhow::anyhow!("code record does not decode: {e}"))
        })
        .transpose()
}

/// A module's bytes from the node, checked against its hash (the node's word is not needed).
pub async fn code_bytes(client: &HttpClient, code_hash: &Digest) -> anyhow::Result<Vec<u8>> {
    use veil_rpc_api::VeilApiClient as _;
    let text = client
        .get_code(veil_primitives::to_hex(code_hash))
        .await
        .map_err(crate::error::rpc)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the node has no code {}",
                veil_primitives::to_hex(code_hash)
            )
        })?;
    let bytes = veil_primitives::from_hex(&text)
        .map_err(|e| anyhow::anyhow!("the node sent malformed code: {e}"))?;
    anyhow::ensure!(
        &hash(&bytes) == code_hash,
        "the node sent other code than {}",
        veil_primitives::to_hex(code_hash)
    );
    Ok(bytes)
}

/// A contract's record (its code, miner and public key), proved at `min_height` or later.
pub async fn contract(
    client: &HttpClient,
    trust: &Trust,
    id: &ContractId,
    min_height: u64,
) -> anyhow::Result<Option<ContractInfo>> {
    Ok(contract_proved(client, trust, id, min_height).await?.1)
}

/// [contract], with the height of the finalized block it is proved at.
pub async fn contract_proved(
    client: &HttpClient,
    trust: &Trust,
    id: &ContractId,
    min_height: u64,
) -> anyhow::Result<(u64, Option<ContractInfo>)> {
    let proved = light::storage(client, trust, &contract_state_key(id), min_height).await?;
    let info = proved
        .value
        .map(|bytes| {
            ContractInfo::decode(bytes)
                .map_err(|e| anyhow::anyhow!("contract record does not decode: {e}"))
        })
        .transpose()?;
    Ok((proved.height, info))
}
