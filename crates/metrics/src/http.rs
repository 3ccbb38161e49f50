//! `GET /metrics` over HTTP: a layer in front of a JSON-RPC server, or an endpoint of its own.

use std::{
    net::SocketAddr,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, Server, ServerConfig, ServerHandle};
use tower::{Layer, Service};

use crate::Render;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The path Prometheus scrapes.
const PATH: &str = "/metrics";

/// Answers `GET /metrics` and passes every other request to the server behind it.
#[derive(Clone)]
pub struct MetricsLayer {
    render: Render,
}

impl MetricsLayer {
    /// A layer that renders the metrics with `render` on each scrape.
    pub fn new(render: Render) -> Self {
        Self { render }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            render: self.render.clone(),
        }
    }
}

/// The service [MetricsLayer] builds.
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    render: Render,
}

impl<S, B> Service<HttpRequest<B>> for MetricsService<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Either<Ready<Result<HttpResponse, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        if request.method().as_str() == "GET" && request.uri().path() == PATH {
            let mut response = HttpResponse::new(HttpBody::from((self.render)()));
            if let Ok(value) = CONTENT_TYPE.parse() {
                response.headers_mut().insert("content-type", value);
            }
            return Either::Left(ready(Ok(response)));
        }
        Either::Right(self.inner.call(request))
    }
}

/// Serves `GET /metrics` alone on `addr`, for a process without a JSON-RPC server of its own
/// (the host). Anything else is answered as an empty JSON-RPC server would.
pub async fn serve(
    addr: SocketAddr,
    render: Render,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder()
        .set_config(
            ServerConfig::builder()
                .http_only()
                .max_connections(64)
                .build(),
        )
        .set_http_middleware(tower::ServiceBuilder::new().layer(MetricsLayer::new(render)))
        .build(addr)
        .await?;
    let local = server.local_addr()?;
    Ok((local, server.start(jsonrpsee::RpcModule::new(()))))
}
