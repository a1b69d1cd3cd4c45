//! A real `redis-server` (Debian's package; `scripts/test.sh` installs it) on a Unix
//! socket of its own: no port to race for, nothing shared with other tests. Stopped when
//! the test ends; `stop` and `start_again` play an outage.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `unix:///…/redis.sock`, for `clients.redis_url`.
    pub url: String,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("unix://{}", dir.path().join("redis.sock").display());
        let mut redis = Redis { child: None, dir, url };
        redis.start_again();
        redis
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Starts the server (again) on the same socket, empty: nothing is persisted.
    pub fn start_again(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run ./scripts/test.sh, which installs it");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = redis::Client::open(self.url.as_str())
                && let Ok(mut connection) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server: an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`kill -STOP`): it accepts connections and answers nothing.
    pub fn pause(&self, paused: bool) {
        if let Some(child) = &self.child {
            let signal = if paused { "-STOP" } else { "-CONT" };
            let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
            assert!(status.success());
        }
    }

    /// A command on a fresh connection.
    pub fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let mut connection = redis::Client::open(self.url.as_str()).unwrap().get_connection().unwrap();
        command.query(&mut connection).unwrap()
    }

    /// `[clients]` for a gateway on this Redis.
    pub fn clients_table(&self) -> String {
        format!("[clients]\nstore = \"redis\"\nredis_url = \"{}\"\n", self.url)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
