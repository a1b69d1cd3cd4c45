//! Listen addresses with port 0, resolved without a race (tests, supervisors that pick
//! ports, several gateways on one machine).

use std::net::SocketAddr;

use pingora::listeners::TcpSocketOptions;

/// Listen addresses with port 0: the kernel picks a free port, which is held here by a
/// socket bound with `SO_REUSEPORT` and never listening (so it takes no connections), and
/// Pingora's listener binds the same port beside it. Nothing else can take the port in
/// between, unlike a port probed, released and bound again. The reservations live as long
/// as the server (a background service that holds them).
#[derive(Default)]
pub struct PortReservations {
    held: std::sync::Mutex<Vec<(SocketAddr, socket2::Socket)>>,
}

impl PortReservations {
    /// `addr` itself, or for port 0 the address of a port reserved now.
    pub fn reserve(&self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        if addr.port() != 0 {
            return Ok(addr);
        }
        let failed = |e: std::io::Error| anyhow::anyhow!("cannot reserve a port on {}: {e}", addr.ip());
        let socket =
            socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None).map_err(failed)?;
        socket.set_reuse_port(true).map_err(failed)?;
        socket.bind(&addr.into()).map_err(failed)?;
        let bound = socket.local_addr().map_err(failed)?.as_socket().ok_or_else(|| anyhow::anyhow!("no address"))?;
        if let Ok(mut held) = self.held.lock() {
            held.push((bound, socket));
        }
        Ok(bound)
    }

    /// `SO_REUSEPORT` for the listener of a reserved port, the defaults otherwise.
    pub fn socket_options(&self, addr: SocketAddr) -> TcpSocketOptions {
        let reserved = self.held.lock().is_ok_and(|held| held.iter().any(|(bound, _)| *bound == addr));
        let mut options = TcpSocketOptions::default();
        options.so_reuseport = reserved.then_some(true);
        options
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for PortReservations {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        // hold the reservations until the server stops
        let _ = shutdown.changed().await;
    }
}
