//! The HTTP accept loop: one task per connection, HTTP/1.1 and HTTP/2, TCP_NODELAY set so
//! small requests are not held back by Nagle's algorithm (≈40 ms per request otherwise).
//!
//! Every request passes through [`Faults`] first: added latency (a fixed delay, or a network
//! profile: `network`), and at the configured rate a
//! 500 InternalError, a 503 SlowDown or a connection reset instead of an answer. Requests
//! matching a [`LostAnswers`] rule are applied, then their answer is lost (`lost`).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::lost::{LostAnswers, S3Op};
use crate::network::{RequestKind, content_length};

/// Failures the emulator injects, as a flaky network and a busy S3 would.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests (0.0–1.0) answered with a 500, a 503 SlowDown or a reset, in equal parts.
    pub error_rate: f64,
    /// Share of requests (0.0–1.0) never answered: the connection stays open and silent, as
    /// behind a stalled proxy or a server that lost the request. Clients must time out.
    pub stall_rate: f64,
    /// Delay added before every answer.
    pub latency: Duration,
    /// A network profile: latency per kind of request, jitter, bandwidth per connection.
    pub network: crate::network::Network,
    /// Requests applied whose answers are then lost.
    pub lost: Vec<LostAnswers>,
    /// Requests held back until the test releases them.
    pub held: Vec<crate::Held>,
}

/// Stops the server when dropped.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    stop: watch::Sender<bool>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

type Response = s3s::HttpResponse;

fn error_response(status: u16, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected fault</Message></Error>"
    );
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// What to do with one request under `faults`: `None` serves it.
fn injected(faults: &Faults) -> Option<Result<Response, s3s::HttpError>> {
    if faults.error_rate <= 0.0 || rand::random::<f64>() >= faults.error_rate {
        return None;
    }
    Some(match rand::random_range(0..3) {
        0 => Ok(error_response(500, "InternalError")),
        1 => Ok(error_response(503, "SlowDown")),
        _ => Err(s3s::HttpError::new("injected connection reset".into())),
    })
}

/// What answers one request.
pub(crate) type Handler = Arc<
    dyn Fn(
            http::Request<hyper::body::Incoming>,
        ) -> futures::future::BoxFuture<'static, Result<Response, s3s::HttpError>>
        + Send
        + Sync,
>;

/// Wraps the s3s service as a [`Handler`].
pub(crate) fn s3_handler(service: s3s::service::S3Service) -> Handler {
    Arc::new(move |req| {
        let service = service.clone();
        Box::pin(async move { hyper::service::Service::call(&service, req).await })
    })
}

pub(crate) async fn serve(
    service: Handler,
    port: u16,
    faults: Arc<RwLock<Faults>>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((addr, serve_on(listener, service, faults)))
}

/// Serves `service` on a bound listener until the handle is dropped.
pub(crate) fn serve_on(listener: TcpListener, service: Handler, faults: Arc<RwLock<Faults>>) -> ServerHandle {
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopped.changed() => break,
            };
            let (socket, _) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let service = service.clone();
            let faults = faults.clone();
            let handler = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let service = service.clone();
                let faults = faults.read().unwrap_or_else(|e| e.into_inner()).clone();
                async move {
                    let net = faults.network;
                    let wait = if net.is_none() {
                        faults.latency
                    } else {
                        let kind = RequestKind::of(&req);
                        let body = content_length(req.headers());
                        faults.latency + net.before_serving(kind, body, rand::random::<f64>())
                    };
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    if faults.stall_rate > 0.0 && rand::random::<f64>() < faults.stall_rate {
                        // Until the client gives up on it and closes the connection.
                        std::future::pending::<()>().await;
                    }
                    if let Some(answer) = injected(&faults) {
                        return answer;
                    }
                    let op = S3Op::of(&req);
                    crate::Held::pass(&faults.held, op).await;
                    let answer = match LostAnswers::take(&faults.lost, op) {
                        Some(rule) => rule.apply_and_lose(op, service(req)).await,
                        None => service(req).await,
                    };
                    // The answer's body crosses the same link.
                    if let Ok(resp) = &answer {
                        let back = net.transfer(content_length(resp.headers()));
                        if !back.is_zero() {
                            tokio::time::sleep(back).await;
                        }
                    }
                    answer
                }
            });
            let mut conn_stopped = stopped.clone();
            tokio::spawn(async move {
                let builder = ConnBuilder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(socket), handler);
                tokio::select! {
                    r = conn => if let Err(e) = r { tracing::debug!(error = %e, "connection ended") },
                    _ = conn_stopped.changed() => {}
                }
            });
        }
    });
    ServerHandle { stop }
}
