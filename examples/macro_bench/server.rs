//! The sandbox world in another process (`dvc-audit sandbox serve`), so the scanner's CPU and
//! memory are measured alone. Killed (by its own pid) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Server {
    child: Child,
    pub config: PathBuf,
    pub https_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `dvc-audit` binary next to this example (`target/<profile>/examples/..`), unless given.
pub fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("dvc-audit")))
        .unwrap_or_else(|| PathBuf::from("dvc-audit"))
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `bin` as a command, run on `cpu` only (`taskset -c`, which execs it: same pid) when given.
pub fn command_on(bin: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

/// Start the world (on `cpu` only, when given) and wait (bounded) until `audit.toml` is
/// written and the HTTPS port answers.
pub fn start(
    bin: &Path,
    size: &str,
    seed: u64,
    out: &Path,
    cpu: Option<usize>,
) -> anyhow::Result<Server> {
    let child = command_on(bin, cpu)
        .args([
            "sandbox",
            "serve",
            "--size",
            size,
            "--seed",
            &seed.to_string(),
        ])
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut server = Server {
        child,
        config: out.join("audit.toml"),
        https_port: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("the sandbox exited early: {status}");
        }
        if let Some(port) = https_port(&server.config)
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            server.https_port = port;
            return Ok(server);
        }
        if Instant::now() > deadline {
            bail!("the sandbox did not come up within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The HTTPS port from the first `resolve` entry (`host:port:127.0.0.1`) of a written config.
fn https_port(config: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    let first = value
        .get("crawl")?
        .get("resolve")?
        .as_array()?
        .first()?
        .as_str()?;
    first.split(':').nth(1)?.parse().ok()
}
