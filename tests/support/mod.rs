//! Shared helpers for integration tests: a real SMTP server (aiosmtpd) and a served sandbox
//! world with a run setup. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod smtp;
pub mod truth;
pub mod world;
