//! TCP_NODELAY on the connections to Postgres.
//!
//! sqlx 0.9.0 no longer disables Nagle's algorithm on its TCP sockets (sqlx issue
//! #4335; the fix is merged upstream but not released). Over TLS, a statement longer
//! than one TLS record (16 KB) goes out in several writes, and the last one waits for
//! the server's delayed ACK: 40 ms on Linux. Cairn's batched statements (a scheduler
//! batch's snapshots, a large Map's values) often pass 16 KB. `cairn-bench map` with four
//! 1,000-item Maps took 8.4 s with TLS against 1.5 s without (docs/benchmarks.md).
//!
//! sqlx gives no access to its socket, so after each new pool connection this turns
//! TCP_NODELAY on for every TCP socket of the process whose peer is the database's
//! port. Setting it on another socket to that port does no harm. Remove this module once
//! sqlx sets TCP_NODELAY itself.

/// Turns TCP_NODELAY on for this process's TCP sockets connected to `port`.
#[cfg(target_os = "linux")]
pub(crate) fn on_sockets_to(port: u16) {
    use nix::sys::socket::{getpeername, setsockopt, sockopt::TcpNoDelay, SockaddrStorage};

    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let Ok(peer) = getpeername::<SockaddrStorage>(fd) else {
            continue;
        };
        let peer_port = peer
            .as_sockaddr_in()
            .map(|a| a.port())
            .or_else(|| peer.as_sockaddr_in6().map(|a| a.port()));
        if peer_port == Some(port) {
            if let Err(error) = setsockopt(fd, TcpNoDelay, &true) {
                tracing::debug!(%error, fd, "could not set TCP_NODELAY");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn on_sockets_to(_port: u16) {}
