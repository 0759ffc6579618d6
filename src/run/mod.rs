//! Run orchestration: plan → crawl → extract → probe → evaluate → store → report → notify.

pub mod lock;
pub mod sample;
