//! Run orchestration: plan → crawl → extract → probe → evaluate → store → report → notify.

pub mod cmd;
pub mod demo;
pub mod lock;
pub mod pipeline;
pub mod sample;
pub mod setup;
