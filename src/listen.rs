//! Listen addresses with port 0, resolved without a race (tests, supervisors that pick
//! ports, several gateways on one machine).

use std::net::SocketAddr;

use pingora::listeners::TcpSocketOptions;

/// Listen addresses with port 0: the kernel picks a free port, which is held here by a
/// socket bound with `SO_REUSEPORT` and never listening (on Linux a socket that does not
/// listen takes no connections), and Pingora's listener binds the same port beside it.
/// Unlike a port probed, released and bound again, no other program can take the port in
/// between, except one of the same user that also sets `SO_REUSEPORT` on it. The sockets
/// live as long as this value, which the server keeps (a background service) until it exits.
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
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((bound, socket));
        Ok(bound)
    }

    /// `SO_REUSEPORT` for the listener of a reserved port, the defaults otherwise.
    pub fn socket_options(&self, addr: SocketAddr) -> TcpSocketOptions {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let reserved = held.iter().any(|(bound, _)| *bound == addr);
        let mut options = TcpSocketOptions::default();
        options.so_reuseport = reserved.then_some(true);
        options
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for PortReservations {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        // nothing to do: being a service keeps the reservations alive as long as the server
        let _ = shutdown.changed().await;
    }
}
