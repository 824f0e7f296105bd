//! [`serve_router`]: an axum `Router` on hyper-util's connection builder, with the header-read
//! deadline, the idle watch and the `Host` rule; `axum::serve` sets neither timeout.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::HOST;
use axum::http::{Request, Version};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::activity::Watched;
use super::{ServeOptions, host_is_valid, host_problem};

/// Serves `router` on `listener` until `shutdown` completes, then lets the open requests
/// finish (idle connections close at once). HTTP/1.1 only, as `axum::serve` with axum's
/// `http1` feature; upgrades (WebSocket) work as there.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use vault_examples::serve::{ServeOptions, serve_router};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// serve_router(listener, router, ServeOptions::default(), std::future::pending()).await
/// # }
/// ```
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    // `stop` tells every connection to finish its request and close; each holds an `open`
    // receiver, so `open.closed()` resolves once the last one has ended.
    let (stop, stopping) = watch::channel(());
    let (open, connection_open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let (io, activity) = Watched::new(stream);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |request| answer(router.clone(), peer, request));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let idle_timeout = options.idle_timeout;
        let mut stopping = stopping.clone();
        let still_open = connection_open.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let mut told_to_stop = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stopping.changed(), if !told_to_stop => {
                        told_to_stop = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = activity.idle_for(idle_timeout) => {
                        tracing::debug!("connection closed: idle for {idle_timeout:?}");
                        break;
                    }
                }
            }
            drop(still_open);
        });
    }
    drop(listener);
    let _ = stop.send(());
    drop(connection_open);
    open.closed().await;
    Ok(())
}

/// The `Host` rule, then the router, with the peer's address as axum's `ConnectInfo` (what
/// `into_make_service_with_connect_info` gives handlers: the Vault's sign-in throttles by it).
async fn answer(
    router: Router,
    peer: std::net::SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response, std::convert::Infallible> {
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let hosts = request.headers().get_all(HOST).iter();
    if !host_is_valid(
        request.version() == Version::HTTP_11,
        hosts.map(|value| value.as_bytes()),
    ) {
        return Ok(vault_axum::problem_response(&host_problem()));
    }
    router.oneshot(request.map(Body::new)).await
}

/// As `axum::serve`: a connection that failed before it was accepted is nobody's problem;
/// anything else (out of file descriptors) is logged and waited out.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
