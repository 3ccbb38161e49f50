//! Authenticated queries from a client: a session grant signed once by the account, queries
//! sealed to the contract's miner under the session's keys, and answers checked before they
//! are believed.
//!
//! The worker's endpoint, X25519 key and `insecure` flag come from its registry entry, read by
//! light-client proof; the answer's commitment must carry the worker's signature, name the
//! contract, its code, that worker and its registered `insecure` flag, and a height at or above
//! the one asked for (read-your-writes).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use veil_crypto::envelope::SessionKeys;
use veil_light::Trust;
use veil_primitives::{
    AccountId, ChainIdentity, Height, PrivateKey, Signature, WorkerInfo,
    contract::{ContractId, ContractInfo},
    from_hex_array, namespace,
    query::{
        Commitment, DEFAULT_SESSION_MS, MAX_QUERY_BYTES, QueryAnswer, QueryCall, QueryEpoch,
        QueryOutcome, SessionGrant, SignedGrant, answer_aad, request_aad,
    },
    to_hex, worker_key,
};
use veil_pruntime_api::{PublicApiClient as _, QueryRequestView, codes::STALE_EPOCH};
use x25519_dalek::{PublicKey, StaticSecret};

/// A query session: the signed grant and the session's secret key.
pub struct Session {
    /// The grant the account signed.
    pub grant: SignedGrant,
    secret: StaticSecret,
    counter: u64,
    /// The keys agreed with the last worker asked (its X25519 key, the keys): one key
    /// agreement per worker, not per query.
    keys: Option<([u8; 32], Arc<SessionKeys>)>,
    /// Each worker's query epoch as last learnt, by its X25519 key.
    epochs: HashMap<[u8; 32], QueryEpoch>,
}

/// Milliseconds since the Unix epoch (the chain's block time).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Session {
    /// A new session for `contracts`, valid from `issued` for `lifetime_ms` (block-time
    /// milliseconds; workers accept at most 7 days).
    pub fn new(
        key: &PrivateKey,
        chain: &ChainIdentity,
        contracts: Vec<ContractId>,
        issued: u64,
        lifetime_ms: u64,
    ) -> Self {
        let secret = StaticSecret::random_from_rng(&mut rand::rng());
        let grant = SessionGrant {
            account: key.public_key(),
            session: PublicKey::from(&secret).to_bytes(),
            contracts,
            issued,
            expiry: issued.saturating_add(lifetime_ms),
        }
        .sign(key, chain);
        Self {
            grant,
            secret,
            counter: 0,
            keys: None,
            epochs: HashMap::new(),
        }
    }

    /// A session valid for a day from now.
    pub fn for_a_day(key: &PrivateKey, chain: &ChainIdentity, contracts: Vec<ContractId>) -> Self {
        Self::new(key, chain, contracts, now_ms(), DEFAULT_SESSION_MS)
    }

    /// The session's public key.
    pub fn public(&self) -> [u8; 32] {
        self.grant.grant.session
    }

    /// `worker_ecdh`'s query epoch as last learnt.
    pub fn epoch(&self, worker_ecdh: &[u8; 32]) -> Option<QueryEpoch> {
        self.epochs.get(worker_ecdh).copied()
    }

    /// Records `worker_ecdh`'s query epoch, as a `STALE_EPOCH` refusal tells it: requests are
    /// sealed to it from then on.
    pub fn set_epoch(&mut self, worker_ecdh: &[u8; 32], epoch: QueryEpoch) {
        self.epochs.insert(*worker_ecdh, epoch);
    }

    /// Seals `call` to `worker` (identity and registered X25519 key) under the next counter,
    /// in the worker's query epoch as last learnt (zeros before that); returns the request and
    /// what opens its answer.
    pub fn seal(
        &mut self,
        chain: &ChainIdentity,
        worker: &AccountId,
        worker_ecdh: &[u8; 32],
        call: &QueryCall,
        with_grant: bool,
    ) -> anyhow::Result<(QueryRequestView, Pending)> {
        let session = self.public();
        let keys = match &self.keys {
            Some((peer, keys)) if peer == worker_ecdh => keys.clone(),
            _ => {
                let keys = Arc::new(SessionKeys::derive(
                    namespace::QUERY_KEYS,
                    &self.secret,
                    worker_ecdh,
                    &session,
                    worker_ecdh,
                )?);
                self.keys = Some((*worker_ecdh, keys.clone()));
                keys
            }
        };
        self.counter += 1;
        let counter = self.counter;
        let epoch = self.epochs.get(worker_ecdh).copied().unwrap_or_default();
        let aad = request_aad(chain, worker, &epoch, &session, counter);
        let ciphertext =
            keys.seal_request(counter, &aad, &call.encode(), MAX_QUERY_BYTES - 4 - 16)?;
        let request = QueryRequestView {
            grant: with_grant.then(|| to_hex(self.grant.encode())),
            session: to_hex(session),
            epoch: to_hex(epoch),
            counter,
            ciphertext: to_hex(ciphertext),
        };
        let pending = Pending {
            keys,
            aad: answer_aad(chain, worker, &epoch, &session, counter),
        };
        Ok((request, pending))
    }
}

/// What opens one request's answer.
pub struct Pending {
    keys: Arc<SessionKeys>,
    aad: Vec<u8>,
}

impl Pending {
    /// Opens the sealed answer (hex, as the worker returns it).
    pub fn open(&self, sealed: &str) -> anyhow::Result<QueryAnswer> {
        let bytes = veil_primitives::from_hex(sealed)
            .map_err(|e| anyhow::anyhow!("the worker sent a malformed answer: {e}"))?;
        let plain = self
            .keys
            .answer()
            .open(&self.aad, &bytes)
            .map_err(|e| anyhow::anyhow!("the answer does not open: {e}"))?;
        QueryAnswer::decode(plain.to_vec())
            .map_err(|e| anyhow::anyhow!("the answer does not decode: {e}"))
    }
}

/// Checks an answer against what the client knows by proof: the worker's registry entry and
/// the contract's record.
pub fn verify(
    answer: &QueryAnswer,
    chain: &ChainIdentity,
    contract: &ContractId,
    info: &ContractInfo,
    worker: &AccountId,
    entry: &WorkerInfo,
    min_height: Height,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        answer.commitment.verify(chain, &answer.signature),
        "the answer's commitment is not signed by the worker"
    );
    check_claims(answer, contract, info, worker, entry, min_height)
}

/// What [`verify`] checks besides the signature.
fn check_claims(
    answer: &QueryAnswer,
    contract: &ContractId,
    info: &ContractInfo,
    worker: &AccountId,
    entry: &WorkerInfo,
    min_height: Height,
) -> anyhow::Result<()> {
    let c = &answer.commitment;
    anyhow::ensure!(&c.worker == worker, "the answer comes from another worker");
    anyhow::ensure!(
        &c.contract == contract,
        "the answer is about another contract"
    );
    anyhow::ensure!(
        c.code_hash == info.code,
        "the answer ran other code than the contract's"
    );
    anyhow::ensure!(
        c.insecure == entry.insecure,
        "the worker's insecure flag ({}) disagrees with its registration ({})",
        c.insecure,
        entry.insecure
    );
    anyhow::ensure!(
        answer.outcome == QueryOutcome::NotYet || c.height >= min_height,
        "the answer is from height {}, older than the height {min_height} asked for",
        c.height
    );
    Ok(())
}

/// A checked answer.
#[derive(Debug)]
pub struct Answered {
    /// The answer.
    pub answer: QueryAnswer,
    /// The worker that gave it.
    pub worker: AccountId,
    /// Its registry entry, read by proof.
    pub entry: WorkerInfo,
}

/// A contract's miner, as the client knows it by proof: where to ask, and what to check the
/// answers against.
pub struct Target {
    /// The contract.
    pub contract: ContractId,
    /// Its record.
    pub info: ContractInfo,
    /// Its miner.
    pub worker: AccountId,
    /// The miner's registry entry.
    pub entry: WorkerInfo,
    endpoint: HttpClient,
    chain: ChainIdentity,
    verified: Checked,
}

/// The last commitment whose signature checked out, with that signature: a worker signs one
/// commitment per state, shared by every answer at it, so a client checks it once.
#[derive(Default)]
struct Checked(Mutex<Option<(Commitment, Signature)>>);

impl Checked {
    /// Whether `answer`'s commitment is signed by its worker for `chain`.
    fn signed(&self, chain: &ChainIdentity, answer: &QueryAnswer) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let known = last
            .as_ref()
            .is_some_and(|(c, s)| c == &answer.commitment && s == &answer.signature);
        if known {
            return true;
        }
        if !answer.commitment.verify(chain, &answer.signature) {
            return false;
        }
        *last = Some((answer.commitment.clone(), answer.signature.clone()));
        true
    }
}

impl Target {
    /// Reads the contract's record and its miner's registry entry by proof from `node`.
    pub async fn resolve(
        node: &HttpClient,
        trust: &Trust,
        contract: &ContractId,
    ) -> anyhow::Result<Self> {
        let info = crate::contract::contract(node, trust, contract, 0)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no contract {} on chain", to_hex(contract)))?;
        let worker = info.miner.clone();
        let proved = crate::light::storage(node, trust, &worker_key(&worker), 0).await?;
        let entry = proved
            .value
            .map(WorkerInfo::decode)
            .transpose()
            .map_err(|e| anyhow::anyhow!("worker record does not decode: {e}"))?
            .ok_or_else(|| {
                anyhow::anyhow!("the contract's miner {} is not registered", to_hex(&worker))
            })?;
        let endpoint = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(&entry.endpoint)
            .map_err(|e| anyhow::anyhow!("miner endpoint {}: {e}", entry.endpoint))?;
        Ok(Self {
            contract: *contract,
            info,
            worker,
            entry,
            endpoint,
            chain: ChainIdentity {
                chain_id: trust.chain_id,
                genesis_hash: trust.genesis_hash,
            },
            verified: Checked::default(),
        })
    }

    /// The chain the target was resolved on.
    pub fn chain(&self) -> &ChainIdentity {
        &self.chain
    }

    /// Checks `answer` as [`verify`] does, checking a signature only once per commitment.
    pub fn check(&self, answer: &QueryAnswer, min_height: Height) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.verified.signed(&self.chain, answer),
            "the answer's commitment is not signed by the worker"
        );
        check_claims(
            answer,
            &self.contract,
            &self.info,
            &self.worker,
            &self.entry,
            min_height,
        )
    }

    /// Asks `input` within `session`, at `min_height` or later, and checks the answer.
    pub async fn ask(
        &self,
        session: &mut Session,
        input: Vec<u8>,
        min_height: Height,
    ) -> anyhow::Result<QueryAnswer> {
        let call = QueryCall {
            contract: self.contract,
            input,
            min_height,
        };
        let mut with_grant = session.counter == 0;
        // A worker refuses a request at most once for its epoch and once for the grant; a host
        // answering `STALE_EPOCH` forever does not keep the client asking.
        let mut attempts = 0;
        let answer = loop {
            attempts += 1;
            let (request, pending) = session.seal(
                &self.chain,
                &self.worker,
                &self.entry.ecdh_key,
                &call,
                with_grant,
            )?;
            let refusal = match self.endpoint.contract_query(request).await {
                Ok(sealed) => break pending.open(&sealed)?,
                Err(e) => e,
            };
            if attempts < 4 {
                // A worker asked for the first time, or restarted since: seal to its epoch. A
                // restarted worker no longer knows the session either: show the grant again.
                if let Some(epoch) = stale_epoch(&refusal) {
                    session.set_epoch(&self.entry.ecdh_key, epoch);
                    with_grant = true;
                    continue;
                }
                // The worker dropped the session from a full table: show the grant again.
                if !with_grant && refusal.to_string().contains("unknown session") {
                    with_grant = true;
                    continue;
                }
            }
            return Err(anyhow::anyhow!(
                "the miner at {} refused the query: {}",
                self.entry.endpoint,
                crate::describe(&refusal)
            ));
        };
        self.check(&answer, min_height)?;
        Ok(answer)
    }
}

/// The epoch a worker's refusal carries if it is `STALE_EPOCH`, from the JSON-RPC error's
/// code and data (a hex string).
pub fn refused_epoch(code: i64, data: &str) -> Option<QueryEpoch> {
    if code != i64::from(STALE_EPOCH) {
        return None;
    }
    from_hex_array(data)
}

/// [`refused_epoch`] of a JSON-RPC client error.
fn stale_epoch(error: &jsonrpsee::core::ClientError) -> Option<QueryEpoch> {
    let jsonrpsee::core::ClientError::Call(refusal) = error else {
        return None;
    };
    let data: String = serde_json::from_str(refusal.data()?.get()).ok()?;
    refused_epoch(refusal.code().into(), &data)
}

/// Asks the contract's miner `input` within `session`, at `min_height` or later, and checks
/// the answer. The contract's record and the miner's registry entry are read by proof from
/// the node under `trust`.
pub async fn query(
    node: &HttpClient,
    trust: &Trust,
    session: &mut Session,
    contract: &ContractId,
    input: Vec<u8>,
    min_height: Height,
) -> anyhow::Result<Answered> {
    let target = Target::resolve(node, trust, contract).await?;
    let answer = target.ask(session, input, min_height).await?;
    Ok(Answered {
        answer,
        worker: target.worker,
        entry: target.entry,
    })
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use veil_primitives::Digest;

    use super::*;

    fn answer(worker: &PrivateKey, chain: &ChainIdentity, height: Height) -> QueryAnswer {
        let commitment = Commitment {
            contract: Digest::from([1; 32]),
            height,
            block_hash: Digest::from([2; 32]),
            state_root: Digest::from([3; 32]),
            code_hash: Digest::from([4; 32]),
            worker: worker.public_key(),
            insecure: true,
        };
        let signature = worker.sign(
            namespace::QUERY_COMMITMENT,
            &commitment.signing_payload(chain),
        );
        QueryAnswer {
            outcome: QueryOutcome::Ok(vec![5]),
            commitment,
            signature,
        }
    }

    #[test]
    fn a_checked_signature_vouches_only_for_its_own_commitment() {
        let chain = ChainIdentity {
            chain_id: 1,
            genesis_hash: Digest::from([9; 32]),
        };
        let worker = PrivateKey::from_seed(3);
        let checked = Checked::default();
        let good = answer(&worker, &chain, 7);
        assert!(checked.signed(&chain, &good));
        assert!(checked.signed(&chain, &good), "the same commitment again");

        // The cached signature on a commitment it never signed.
        let mut moved = good.clone();
        moved.commitment.state_root = Digest::from([8; 32]);
        assert!(!checked.signed(&chain, &moved));
        // Another signature on the cached commitment.
        let mut forged = good.clone();
        forged.signature = answer(&worker, &chain, 8).signature;
        assert!(!checked.signed(&chain, &forged));
        // Another chain.
        let other = ChainIdentity {
            chain_id: 2,
            ..chain
        };
        assert!(!Checked::default().signed(&other, &good));
        assert!(checked.signed(&chain, &answer(&worker, &chain, 8)));
    }
}
