//! The HTTP accept loop: one task per connection, HTTP/1.1 and HTTP/2, TCP_NODELAY set so
//! small requests are not held back by Nagle's algorithm (≈40 ms per request otherwise).

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

pub(crate) async fn serve(service: s3s::service::S3Service, port: u16) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
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
            let mut conn_stopped = stopped.clone();
            tokio::spawn(async move {
                let builder = ConnBuilder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(socket), service);
                tokio::select! {
                    r = conn => if let Err(e) = r { tracing::debug!(error = %e, "connection ended") },
                    _ = conn_stopped.changed() => {}
                }
            });
        }
    });
    Ok((addr, ServerHandle { stop }))
}
