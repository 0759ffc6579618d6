//! A sandbox world served in the test process, its generated `audit.toml`, and a run setup
//! with short timeouts so a suite of end-to-end runs stays fast.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dvc_audit::config::{Config, Loaded};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::{self, SandboxHandle, ServeOptions, Size, World};

pub struct Served {
    pub dir: tempfile::TempDir,
    pub handle: SandboxHandle,
}

impl Served {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("audit.toml")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("dvc-audit.sqlite")
    }
}

/// Serve `size`/`seed` on ephemeral loopback ports, writing the config, CA files and ground
/// truth into a fresh temporary directory. `slow` is the delay of slow pages.
pub async fn serve(size: Size, seed: u64, slow: Duration) -> Served {
    serve_with(size, seed, slow, |_| {}).await
}

/// [`serve`] with `tweak` applied to the serve options (e.g. the HTTP versions offered).
pub async fn serve_with(
    size: Size,
    seed: u64,
    slow: Duration,
    tweak: impl FnOnce(&mut ServeOptions),
) -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ServeOptions {
        out_dir: Some(dir.path().to_path_buf()),
        slow_delay: slow,
        hang_delay: Duration::from_secs(60),
        ..ServeOptions::default()
    };
    tweak(&mut opts);
    let handle = sandbox::serve(World::new(size, seed), opts)
        .await
        .expect("serve the sandbox world");
    Served { dir, handle }
}

/// Load the generated config, apply `tweak`, validate. The generated timeouts are kept: the
/// tiny world has no hanging page, and the oversized page must be read up to `max_body_bytes`
/// (a few seconds in a debug build on a busy machine) to be reported `too_large`.
pub fn setup(config: &Path, tweak: impl FnOnce(&mut Config)) -> Setup {
    let mut loaded: Loaded = Config::load(config).expect("the generated config loads");
    tweak(&mut loaded.config);
    match Setup::from_loaded(loaded) {
        Ok(s) => s,
        Err(e) => panic!("setup: {}", e.0.render(false)),
    }
}
