//! For tests: a private `redis-server` on a free loopback port, stopped when dropped. Tests that
//! need one skip where `redis-server` is not installed: libtest counts them as passed, so each
//! says so on standard error, straight to the descriptor (past libtest's capture of output).

use std::process::{Child, Command, Stdio};

use super::url::RedisUrl;
use super::Remote;

/// A running server.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    l.local_addr().expect("bound").port()
}

/// The process id of the Redis server answering on loopback `port` (`INFO server`), if any
/// answers within a second.
fn answering_pid(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(1))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Whole lines only: a read may end inside the number.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(&text[..0], |end| &text[..end]);
        let found = String::from_utf8_lossy(whole).lines().find_map(|l| l.strip_prefix("process_id:").map(|v| v.trim().parse().ok()));
        if let Some(pid) = found {
            return pid;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        text.extend_from_slice(&chunk[..n]);
    }
}

impl Server {
    /// Starts one; None (the calling test skips, and says so) when `redis-server` cannot be run.
    pub fn start() -> Option<Server> {
        let skipped = |why: &str| {
            let test = std::thread::current().name().unwrap_or("a test").to_string();
            crate::os::stderr::report(&format!("SKIPPED {test}: {why}; it checked nothing"));
            None
        };
        for _ in 0..5 {
            let port = free_port();
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return skipped("redis-server is not installed (apt-get install redis-server)"),
                Err(e) => return skipped(&format!("redis-server cannot be run: {e}")),
            };
            let mut server = Server { child, port };
            for _ in 0..200 {
                match answering_pid(port) {
                    Some(pid) if pid == server.child.id() => return Some(server),
                    // Another test's server took the port first (two free_port calls can
                    // return the same port once it is released): ours cannot bind it.
                    Some(_) => break,
                    None => {}
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            drop(server);
        }
        skipped("redis-server did not start on a free port in 5 tries")
    }

    /// A client of this server in namespace `prefix`.
    pub fn remote(&self, prefix: &str) -> Remote {
        Remote::new(RedisUrl { port: self.port, prefix: prefix.into(), ..RedisUrl::default() })
    }
}

/// The stock limits (a fresh IPC namespace's), with `rlimit_msgqueue` unlimited.
pub fn stock_limits() -> crate::emu::EmulationLimits {
    crate::emu::EmulationLimits {
        posix: crate::emu::posix::limits::PosixLimits {
            msg_max: 10,
            msgsize_max: 8192,
            msg_default: 10,
            msgsize_default: 8192,
            queues_max: 256,
            rlimit_msgqueue: Some(u64::MAX),
        },
        sysv: crate::emu::sysv::SysvLimits { msgmax: 8192, msgmnb: 16384, msgmni: 32000 },
    }
}

/// What a client with [`stock_limits`] and no settings of its own states.
pub fn stock_stated() -> String {
    super::sysctl::stated(&stock_limits(), &[])
}
