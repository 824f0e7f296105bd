//! A TCP relay in front of PostgreSQL for fault tests: it can be stopped (listener and every
//! connection dropped: the database is down) and started again, or paused (nothing is
//! forwarded either way, every connection stays open and new ones are accepted: a partition
//! that keeps TCP connections open) and unpaused.

use std::net::SocketAddr;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub struct Relay {
    addr: SocketAddr,
    upstream: String,
    tasks: Option<JoinSet<()>>,
    forwarding: watch::Sender<bool>,
}

impl Relay {
    /// A relay on a free local port to the server of the PostgreSQL `url`, forwarding.
    pub async fn start(url: &str) -> Self {
        let real = PgConnectOptions::from_str(url).unwrap();
        let upstream = format!("{}:{}", real.get_host(), real.get_port());
        let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let mut relay = Self {
            addr,
            upstream,
            tasks: None,
            forwarding: watch::Sender::new(true),
        };
        relay.resume();
        relay
    }

    /// `url` with its host and port replaced by the relay's.
    pub fn url(&self, url: &str) -> String {
        let routed = url.replacen(&self.upstream, &self.addr.to_string(), 1);
        assert_ne!(routed, url, "URL routed through the relay");
        routed
    }

    /// Listens again after [`Relay::stop`].
    pub fn resume(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let upstream = self.upstream.clone();
        let forwarding = self.forwarding.subscribe();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                conns.spawn(relay(client, upstream.clone(), forwarding.clone()));
            }
        });
        self.tasks = Some(tasks);
    }

    /// Drops the listener and every relayed connection (aborting the accept task drops its
    /// `JoinSet`, which aborts the connection tasks).
    pub async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Stops forwarding in both directions without closing anything: bytes sent meanwhile
    /// wait in the socket buffers, new connections are accepted and get no further.
    pub fn pause(&self) {
        self.forwarding.send_replace(false);
    }

    /// Forwards again, what waited first.
    pub fn unpause(&self) {
        self.forwarding.send_replace(true);
    }
}

/// One relayed connection: connects upstream once forwarding, then pumps both ways until
/// either side closes.
async fn relay(client: TcpStream, upstream: String, mut forwarding: watch::Receiver<bool>) {
    if forwarding.wait_for(|on| *on).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, forwarding.clone()) => {}
        () = pump(server_read, client_write, forwarding) => {}
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut forwarding: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Paused, nothing is read: the sender's bytes pile up as on a link that dropped them.
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Read just as the pause began: held until the link forwards again.
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
