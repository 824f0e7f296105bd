//! Faults of the database: while PostgreSQL cannot be reached (a proxy in front of it is
//! stopped, dropping every connection) verification answers `Unavailable`, promptly and
//! without a panic; when it is reachable again the same store recovers by itself.

mod support;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use support::PgSchema;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use vault_core::{
    ApiKeys, AuthError, Environment, NewKey, Pepper, PermissionSet, Requirement, UserId,
    WorkspaceId,
};
use vault_sqlx::{SqlStore, StoreOptions};

/// A TCP proxy on a fixed local port that can be stopped (listener and every connection
/// dropped) and started again.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    tasks: Option<JoinSet<()>>,
}

impl Proxy {
    fn start(addr: SocketAddr, upstream: String) -> Self {
        let mut proxy = Self {
            addr,
            upstream,
            tasks: None,
        };
        proxy.resume();
        proxy
    }

    fn resume(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let upstream = self.upstream.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Drops the listener and every proxied connection (aborting the accept task drops its
    /// `JoinSet`, which aborts the connection tasks).
    async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }
}

async fn ephemeral_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_is_unavailable_while_the_database_is_down_and_recovers() {
    let pg = PgSchema::create().await;
    let outcome = tokio::spawn({
        let url = pg.url.clone();
        async move {
            let real = PgConnectOptions::from_str(&url).unwrap();
            let upstream = format!("{}:{}", real.get_host(), real.get_port());
            let addr = ephemeral_port().await;
            let mut proxy = Proxy::start(addr, upstream.clone());
            let via_proxy = url.replacen(&upstream, &addr.to_string(), 1);
            assert_ne!(via_proxy, url, "URL routed through the proxy");
            let options = StoreOptions {
                acquire_timeout: Duration::from_millis(500),
                statement_timeout: Duration::from_secs(1),
                ..StoreOptions::default()
            };
            let store = SqlStore::connect_with(&via_proxy, &options).await.unwrap();
            let keys = ApiKeys::builder(Arc::new(store), &Pepper::generate().unwrap()).build();
            let key = keys
                .issue(NewKey {
                    workspace_id: WorkspaceId::random(),
                    product: "submit".parse().unwrap(),
                    environment: Environment::Production,
                    permissions: PermissionSet::parse(["jobs:create"]).unwrap(),
                    name: "CI".into(),
                    created_by: UserId::random(),
                    expires_at: None,
                })
                .await
                .unwrap();
            let route = Requirement::new("submit".parse().unwrap(), Environment::Production);
            keys.verify(key.expose_token(), &route).await.expect("up");

            proxy.stop().await;
            for _ in 0..3 {
                let start = Instant::now();
                let verdict = keys.verify(key.expose_token(), &route).await;
                assert_eq!(verdict.unwrap_err(), AuthError::Unavailable);
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "{:?}",
                    start.elapsed()
                );
            }

            proxy.resume();
            let start = Instant::now();
            loop {
                match keys.verify(key.expose_token(), &route).await {
                    Ok(_) => break,
                    Err(AuthError::Unavailable) if start.elapsed() < Duration::from_secs(10) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(other) => panic!("no recovery: {other:?}"),
                }
            }
            eprintln!(
                "recovered {:?} after the database returned",
                start.elapsed()
            );
            proxy.stop().await;
        }
    })
    .await;
    pg.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
