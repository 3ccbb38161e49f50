//! Authenticated queries: sessions checked against the user's signed grant, requests opened
//! with the session's keys, the contract's `query` run read-only on the current snapshot, and
//! the answer sealed back with a signed commitment to the state it read.
//!
//! Queries read the published snapshot and never take the writer lock, so command execution
//! never blocks them. A session's keys are derived once (one X25519) and cached; later queries
//! of the session cost one AEAD open and one seal. The worker signs each contract's commitment
//! once per state, and answers at that state share the signature.
//!
//! Counters are kept in memory: after a restart, a request replayed by the host is answered
//! again (at the current state, sealed for the session alone, under a fresh nonce).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_crypto::envelope::SessionKeys;
use veil_primitives::{
    AccountId, ChainIdentity, Digest, Height, Signature,
    contract::ContractId,
    namespace,
    query::{
        Commitment, MAX_ANSWER_BYTES, MAX_SESSION_MS, QueryAnswer, QueryCall, QueryEpoch,
        QueryOutcome, SignedGrant, answer_aad, request_aad,
    },
};
use veil_vm::{Call, Entry, Failure, Vm};
use x25519_dalek::StaticSecret;

use super::Miner;
use crate::{identity::Identity, state::State};

/// Fuel one query may spend.
pub const QUERY_FUEL: u64 = 50_000_000;
/// Sessions whose keys a worker caches.
const MAX_SESSIONS: usize = 100_000;

/// Why a query was refused. Refusals reveal nothing about contract state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// pRuntime follows no chain yet.
    #[error("this worker follows no chain yet")]
    NotReady,
    /// No grant with the first query of a session (or the worker restarted).
    #[error("unknown session: send the signed grant with the query")]
    UnknownSession,
    /// The grant is not acceptable.
    #[error("session grant refused: {0}")]
    BadGrant(&'static str),
    /// The grant expired by block time.
    #[error("the session expired at {expiry} (block time now {now})")]
    Expired {
        /// The grant's expiry.
        expiry: u64,
        /// The last synced block's time.
        now: u64,
    },
    /// The account revoked the session on chain.
    #[error("the session was revoked on chain")]
    Revoked,
    /// A counter at or below one already seen.
    #[error("replayed query: counter {counter} is not above {last}, the session's last")]
    Replayed {
        /// The request's counter.
        counter: u64,
        /// The session's last counter.
        last: u64,
    },
    /// The request names another query epoch: sealed before this worker restarted (a replay,
    /// or a client that has not caught up), or by a client that has not learnt it yet.
    #[error("the query is sealed for another epoch of this worker; its epoch is {}", veil_primitives::to_hex(.current))]
    StaleEpoch {
        /// The worker's epoch, for the client to seal to.
        current: QueryEpoch,
    },
    /// The request does not open under the session's keys.
    #[error("the query does not open under the session's keys (tampered, or another worker's)")]
    Sealing,
    /// The opened request does not decode.
    #[error("malformed query: {0}")]
    Malformed(String),
    /// The grant does not name the contract.
    #[error("the session does not cover contract {0}")]
    NotInSession(String),
    /// This worker does not run the contract.
    #[error("this worker does not run contract {0}")]
    NotHere(String),
    /// The contract was assigned here and is still recovering its state.
    #[error("contract {0} is recovering its state on this worker; ask again shortly")]
    Recovering(String),
}

struct Session {
    account: AccountId,
    contracts: Vec<ContractId>,
    expiry: u64,
    keys: Arc<SessionKeys>,
    last: u64,
}

/// What queries keep between calls: sessions and commitment signatures, both in memory, and
/// the query epoch that voids requests sealed before the worker forgot a session's counter.
pub struct Queries {
    /// Drawn at start, and again whenever a live session is dropped to make room: either way
    /// a counter is forgotten, and every request sealed before is refused.
    epoch: Mutex<QueryEpoch>,
    sessions: Mutex<Sessions>,
    signatures: Mutex<HashMap<ContractId, (Height, Digest, Signature)>>,
}

struct Sessions {
    live: HashMap<[u8; 32], Session>,
    capacity: usize,
}

impl Default for Queries {
    fn default() -> Self {
        Self {
            epoch: Mutex::new(fresh_epoch()),
            sessions: Mutex::new(Sessions {
                live: HashMap::new(),
                capacity: MAX_SESSIONS,
            }),
            signatures: Mutex::default(),
        }
    }
}

fn fresh_epoch() -> QueryEpoch {
    let mut epoch = QueryEpoch::default();
    rand::Rng::fill_bytes(&mut rand::rng(), &mut epoch);
    epoch
}

/// A query as it arrives.
pub struct Request {
    /// The signed grant, on a session's first query.
    pub grant: Option<SignedGrant>,
    /// The session's X25519 public key.
    pub session: [u8; 32],
    /// The worker's query epoch the client sealed to.
    pub epoch: QueryEpoch,
    /// The request's counter.
    pub counter: u64,
    /// The sealed [QueryCall].
    pub ciphertext: Vec<u8>,
}

impl Request {
    /// Decodes the public API's request (hex fields).
    pub fn from_view(view: &veil_pruntime_api::QueryRequestView) -> Result<Self, String> {
        let grant = view
            .grant
            .as_deref()
            .map(|g| {
                veil_primitives::decode_hex::<SignedGrant>(g).map_err(|e| format!("grant: {e}"))
            })
            .transpose()?;
        let session = veil_primitives::from_hex_array(&view.session)
            .ok_or("session must be 32 bytes of hex")?;
        let epoch =
            veil_primitives::from_hex_array(&view.epoch).ok_or("epoch must be 16 bytes of hex")?;
        let ciphertext =
            veil_primitives::from_hex(&view.ciphertext).map_err(|e| format!("ciphertext: {e}"))?;
        Ok(Self {
            grant,
            session,
            epoch,
            counter: view.counter,
            ciphertext,
        })
    }
}

/// What a query runs against: the published snapshot's parts.
pub struct View<'a> {
    /// What pRuntime knows of the chain.
    pub state: &'a State,
    /// The contracts it runs.
    pub miner: &'a Miner,
    /// The worker's keys.
    pub identity: &'a Identity,
    /// Whether the TEE is the insecure dev one.
    pub insecure: bool,
    /// The VM.
    pub vm: &'a Vm,
}

impl Queries {
    /// The current query epoch.
    pub fn epoch(&self) -> QueryEpoch {
        *self.epoch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps at most `capacity` sessions (tests; [`MAX_SESSIONS`] otherwise).
    #[doc(hidden)]
    pub fn limit_sessions(&self, capacity: usize) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capacity = capacity.max(1);
    }

    /// The session's account, contracts and keys after checking the grant (when sent), expiry,
    /// revocation and the counter, and the session to add if the grant is new. Nothing is
    /// recorded before the request opens.
    fn session(
        &self,
        view: &View<'_>,
        chain: &ChainIdentity,
        request: &Request,
    ) -> Result<(Arc<SessionKeys>, Option<Session>), QueryError> {
        {
            let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = sessions.live.get(&request.session) {
                Self::check(view, request, known)?;
                return Ok((known.keys.clone(), None));
            }
        }
        // A new session: its grant is checked without holding the lock (a signature check
        // and a key agreement), and recorded only once the request opens.
        let signed = request.grant.as_ref().ok_or(QueryError::UnknownSession)?;
        let g = &signed.grant;
        if g.session != request.session {
            return Err(QueryError::BadGrant("it names another session key"));
        }
        if g.expiry <= g.issued || g.expiry - g.issued > MAX_SESSION_MS {
            return Err(QueryError::BadGrant("its lifetime is empty or over 7 days"));
        }
        if !signed.verify(chain) {
            return Err(QueryError::BadGrant(
                "the account's signature does not verify",
            ));
        }
        let keys = SessionKeys::derive(
            namespace::QUERY_KEYS,
            &StaticSecret::from(*view.identity.ecdh_secret()),
            &request.session,
            &request.session,
            &view.identity.ecdh_public(),
        )
        .map_err(|_| QueryError::BadGrant("the session key is not a valid X25519 key"))?;
        let new = Session {
            account: g.account.clone(),
            contracts: g.contracts.clone(),
            expiry: g.expiry,
            keys: Arc::new(keys),
            last: 0,
        };
        Self::check(view, request, &new)?;
        Ok((new.keys.clone(), Some(new)))
    }

    /// Expiry, revocation and the counter.
    fn check(view: &View<'_>, request: &Request, s: &Session) -> Result<(), QueryError> {
        let now = view.state.timestamp;
        if s.expiry <= now {
            return Err(QueryError::Expired {
                expiry: s.expiry,
                now,
            });
        }
        if view
            .miner
            .revoked
            .get(&request.session)
            .is_some_and(|(account, _)| account == &s.account)
        {
            return Err(QueryError::Revoked);
        }
        if request.counter <= s.last {
            return Err(QueryError::Replayed {
                counter: request.counter,
                last: s.last,
            });
        }
        Ok(())
    }

    /// Records the counter of a request that opened in `epoch`, adding its session first if
    /// new; returns the session's account and contracts.
    fn advance(
        &self,
        now: u64,
        epoch: QueryEpoch,
        session: &[u8; 32],
        counter: u64,
        new: Option<Session>,
    ) -> Result<(AccountId, Vec<ContractId>), QueryError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // New epochs are drawn only under this lock: a request checked against an epoch that
        // has since been replaced (a session dropped meanwhile, perhaps its own, whose grant a
        // replay carries) is refused here, so the check and the record are one step.
        let current = self.epoch();
        if current != epoch {
            return Err(QueryError::StaleEpoch { current });
        }
        if let Some(new) = new
            && !sessions.live.contains_key(session)
        {
            if sessions.live.len() >= sessions.capacity {
                sessions.live.retain(|_, s| s.expiry > now);
            }
            if sessions.live.len() >= sessions.capacity
                && let Some(dropped) = sessions.live.keys().next().copied()
            {
                // Its counter is forgotten: a new epoch voids every request sealed before,
                // so none of its requests can be replayed. Clients learn the epoch from their
                // next refusal.
                sessions.live.remove(&dropped);
                *self.epoch.lock().unwrap_or_else(|p| p.into_inner()) = fresh_epoch();
            }
            sessions.live.insert(*session, new);
        }
        let s = sessions
            .live
            .get_mut(session)
            .ok_or(QueryError::UnknownSession)?;
        if counter <= s.last {
            return Err(QueryError::Replayed {
                counter,
                last: s.last,
            });
        }
        s.last = counter;
        Ok((s.account.clone(), s.contracts.clone()))
    }

    /// The worker's signature over `commitment`, made once per contract and state.
    fn sign(&self, view: &View<'_>, chain: &ChainIdentity, commitment: &Commitment) -> Signature {
        let mut cache = self.signatures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((height, root, signature)) = cache.get(&commitment.contract)
            && *height == commitment.height
            && *root == commitment.state_root
        {
            return signature.clone();
        }
        let signature = view.identity.sign(
            namespace::QUERY_COMMITMENT,
            &commitment.signing_payload(chain),
        );
        cache.insert(
            commitment.contract,
            (commitment.height, commitment.state_root, signature.clone()),
        );
        signature
    }

    /// Answers `request`: the sealed [QueryAnswer].
    pub fn answer(&self, view: &View<'_>, request: &Request) -> Result<Vec<u8>, QueryError> {
        // Before anything else: a request sealed before the worker forgot a counter is void.
        let epoch = self.epoch();
        if request.epoch != epoch {
            return Err(QueryError::StaleEpoch { current: epoch });
        }
        let chain = view.state.chain();
        let (keys, new) = self.session(view, &chain, request)?;
        let me = view.identity.public_key();
        let aad = request_aad(&chain, &me, &epoch, &request.session, request.counter);
        let plain = keys
            .open_request(request.counter, &aad, &request.ciphertext)
            .map_err(|_| QueryError::Sealing)?;
        let (account, contracts) = self.advance(
            view.state.timestamp,
            epoch,
            &request.session,
            request.counter,
            new,
        )?;
        let call =
            QueryCall::decode(plain.to_vec()).map_err(|e| QueryError::Malformed(e.to_string()))?;
        let id = veil_primitives::to_hex(call.contract);
        if !contracts.contains(&call.contract) {
            return Err(QueryError::NotInSession(id));
        }
        let running = view
            .miner
            .running
            .get(&call.contract)
            .filter(|r| r.contract.key.is_some())
            .ok_or_else(|| QueryError::NotHere(id.clone()))?;
        if running.contract.recovery.is_some() {
            return Err(QueryError::Recovering(id));
        }
        let height = view.state.synced_height();
        let commitment = Commitment {
            contract: call.contract,
            height,
            block_hash: view.state.last_hash,
            state_root: running.root,
            code_hash: running.contract.code,
            worker: me.clone(),
            insecure: view.insecure,
        };
        let outcome = if height < call.min_height {
            QueryOutcome::NotYet
        } else if let Some(code) = view.miner.codes.get(&running.contract.code) {
            let outcome = view.vm.execute(
                code,
                Call {
                    entry: Entry::Query,
                    input: call.input,
                    caller: account.as_ref().try_into().unwrap_or([0; 32]),
                    contract: call.contract.into(),
                    height,
                    block_hash: view.state.last_hash.into(),
                    randomness: None,
                    fuel: QUERY_FUEL,
                    sent: Default::default(),
                },
                running.state.clone(),
            );
            match outcome.result {
                Ok(output) => QueryOutcome::Ok(output),
                Err(Failure::Error { code, message }) => QueryOutcome::Error { code, message },
                Err(Failure::OutOfFuel) => QueryOutcome::Failed("out of fuel".into()),
                Err(Failure::Trap(reason)) => QueryOutcome::Failed(format!("trapped: {reason}")),
            }
        } else {
            QueryOutcome::Failed("this worker has no code for the contract".into())
        };
        let signature = self.sign(view, &chain, &commitment);
        let answer = QueryAnswer {
            outcome,
            commitment,
            signature,
        };
        let aad = answer_aad(&chain, &me, &epoch, &request.session, request.counter);
        let plain = crate::sealed::encode_wiped(&answer);
        keys.answer()
            .seal(
                &mut rand::rng(),
                &aad,
                &plain,
                MAX_ANSWER_BYTES - 12 - 4 - 16,
            )
            .or_else(|_| {
                // An output too large for the answer bucket: say so, still signed.
                let short = QueryAnswer {
                    outcome: QueryOutcome::Failed("the result exceeds the answer limit".into()),
                    ..answer
                };
                keys.answer().seal(
                    &mut rand::rng(),
                    &aad,
                    &short.encode(),
                    MAX_ANSWER_BYTES - 12 - 4 - 16,
                )
            })
            .map_err(|e| QueryError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use veil_primitives::PrivateKey;
    use x25519_dalek::PublicKey;

    use super::*;

    fn session() -> Session {
        let peer = PublicKey::from(&StaticSecret::from([9; 32])).to_bytes();
        let keys = SessionKeys::derive(
            namespace::QUERY_KEYS,
            &StaticSecret::from([7; 32]),
            &peer,
            &peer,
            &[8; 32],
        )
        .unwrap();
        Session {
            account: PrivateKey::from_seed(1).public_key(),
            contracts: Vec::new(),
            expiry: u64::MAX,
            keys: Arc::new(keys),
            last: 0,
        }
    }

    /// The race: a host replays a user's first request (it carries the grant) while it drops
    /// the user's session with a throwaway grant. The replay passed the epoch check before the
    /// drop drew a new epoch and finds the session gone, so it would come back with counter 0;
    /// recording it checks the epoch again, under the lock that draws new ones.
    #[test]
    fn a_request_checked_before_a_new_epoch_is_not_recorded_after_it() {
        let queries = Queries::default();
        queries.limit_sessions(1);
        let checked = queries.epoch();
        let (user, throwaway) = ([1; 32], [2; 32]);
        assert!(
            queries
                .advance(0, checked, &user, 1, Some(session()))
                .is_ok()
        );
        assert!(
            queries
                .advance(0, checked, &throwaway, 1, Some(session()))
                .is_ok()
        );
        let current = queries.epoch();
        assert_ne!(
            current, checked,
            "dropping the user's session drew an epoch"
        );
        assert_eq!(
            queries.advance(0, checked, &user, 1, Some(session())),
            Err(QueryError::StaleEpoch { current })
        );
    }
}
