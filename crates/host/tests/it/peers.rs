//! Endpoints come from the chain, which anyone registering a worker writes to: the host
//! reaches only `http(s)` URLs there, and a peer cannot make it buffer an unbounded answer.

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use veil_host::ports::{HttpPeers, MAX_PEER_RESPONSE_BYTES, Peers as _};

#[tokio::test]
async fn only_http_endpoints_are_reached() {
    for endpoint in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "ws://127.0.0.1:1",
        "unix:/run/x.sock",
        "127.0.0.1:9000",
        "",
    ] {
        let err = HttpPeers
            .request_root_key(endpoint, "00".into())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("only http:// and https://"),
            "{endpoint}: {err}"
        );
    }
}

#[tokio::test]
async fn an_oversized_peer_answer_is_refused() {
    // A "peer" on loopback that answers every request with a JSON-RPC result far beyond the
    // cap, announced honestly in Content-Length.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let filler = "a".repeat(2 * MAX_PEER_RESPONSE_BYTES as usize);
            let body = format!(r#"{{"jsonrpc":"2.0","id":0,"result":{{"message":"{filler}"}}}}"#);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
    });
    let err = HttpPeers
        .request_root_key(&endpoint, "00".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("too big")
            || err.to_string().to_lowercase().contains("too large"),
        "{err}"
    );
}
