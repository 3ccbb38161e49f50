//! The public API's door: anyone on the network may call it, so each peer (by IP address)
//! gets a request budget, refilled at a steady rate, and a request over budget is answered
//! `429 Too Many Requests` before any JSON is parsed or any signature computed. A flood from
//! one address thus costs pRuntime almost nothing, and the host's sync (on the private API)
//! and other users' calls go on.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use jsonrpsee::server::{
    HttpBody, HttpResponse, Methods, Server, ServerConfig, ServerHandle,
    serve_with_graceful_shutdown, stop_channel,
};
use tower::Service as _;

/// Requests a peer may send per second, sustained.
pub const PUBLIC_RATE_PER_SEC: f64 = 50.0;
/// Requests a peer may send at once after being idle.
pub const PUBLIC_BURST: f64 = 100.0;
/// Peers remembered at once; beyond it, idle ones are forgotten first.
const MAX_TRACKED_PEERS: usize = 65_536;

/// A token bucket per peer address.
pub struct PeerLimiter {
    rate: f64,
    burst: f64,
    peers: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl PeerLimiter {
    /// A limiter allowing `rate` requests per second and bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `peer`'s budget; `false` when it is spent.
    pub fn allow(&self, peer: IpAddr) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= MAX_TRACKED_PEERS && !peers.contains_key(&peer) {
            // Forget peers whose budget has refilled: they lose nothing by it.
            let (rate, burst) = (self.rate, self.burst);
            peers.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if peers.len() >= MAX_TRACKED_PEERS {
                return false;
            }
        }
        let (tokens, at) = peers.entry(peer).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Serves `methods` over plain HTTP on `addr` (no WebSocket: every call is one HTTP request,
/// so the limiter sees each), one request per JSON-RPC call (no batches), each checked
/// against `limiter` by the caller's address.
pub async fn serve_public(
    addr: SocketAddr,
    config: ServerConfig,
    methods: impl Into<Methods>,
    limiter: Arc<PeerLimiter>,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind public API on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let builder = Server::builder().set_config(config).to_service_builder();
    let methods: Methods = methods.into();
    let (stop, handle) = stop_channel();
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::debug!("public API accept failed: {e}");
                        continue;
                    }
                },
                () = stop.clone().shutdown() => break,
            };
            let service = builder.clone().build(methods.clone(), stop.clone());
            let limiter = limiter.clone();
            let ip = remote.ip();
            let per_request = tower::service_fn(move |request| {
                let mut service = service.clone();
                let allowed = limiter.allow(ip);
                async move {
                    if !allowed {
                        return Ok(too_many_requests());
                    }
                    service.call(request).await
                }
            });
            tokio::spawn(serve_with_graceful_shutdown(
                socket,
                per_request,
                stop.clone().shutdown(),
            ));
        }
    });
    Ok((local, handle))
}

fn too_many_requests() -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from("too many requests from this address"));
    *response.status_mut() = 429u16.try_into().expect("429 is a status code");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let limiter = PeerLimiter::new(1_000.0, 10.0);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let allowed = (0..100).filter(|_| limiter.allow(a)).count();
        // The burst, plus what refilled during the loop (at most a few at this rate).
        assert!((10..20).contains(&allowed), "{allowed}");
        assert!(limiter.allow(b));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(limiter.allow(a), "the budget refills");
    }
}
