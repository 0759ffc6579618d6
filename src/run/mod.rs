//! Run orchestration: plan → probe → crawl + extract → store + evaluate per agency → findings
//! and lifecycle → report → notify.

pub mod cmd;
pub mod demo;
pub mod lock;
pub mod mailsink;
pub mod pipeline;
pub mod sample;
mod settle;
pub mod setup;
