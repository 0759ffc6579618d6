//! dvc-audit: compliance audit scanner for Vietnamese government online public-service portals.
//!
//! The pipeline (see `ARCHITECTURE.md`): config → crawl → extract → facts → rules → store →
//! report → notify. Each stage is a module with a typed input and output; `main.rs` is a thin CLI.

pub mod cli;
pub mod config;
pub mod crawl;
pub mod diag;
pub mod exit;
pub mod extract;
pub mod facts;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod probe;
pub mod profile;
pub mod report;
pub mod rules;
pub mod run;
pub mod sandbox;
pub mod store;
pub mod version;

/// Install the process-wide rustls crypto provider (ring). Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
