//! `audit.toml`: the user's configuration (being written; see docs/sandbox-world.md for the schema).

use std::path::Path;

use crate::diag::{Diagnostics, DiagnosticsError};

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub agencies: Vec<String>,
}

pub struct Loaded {
    pub config: Config,
    pub warnings: Diagnostics,
}

impl Config {
    pub fn load(_path: &Path) -> Result<Loaded, DiagnosticsError> {
        Ok(Loaded {
            config: Config::default(),
            warnings: Diagnostics::default(),
        })
    }
}
