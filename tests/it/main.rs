//! The integration-test binary: every test module shares `support` and one build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod auth_support;
mod support;

mod auth;
mod cache;
mod cli;
mod config;
mod copy;
mod diagnostics;
mod fetch;
mod harness;
mod head;
mod hostile_auth;
mod hostile_output;
mod hostile_serve;
mod hostile_store;
mod json_lines;
mod mirror;
mod never_panic;
mod progress;
mod pull;
mod pull_through;
mod push;
mod s3;
mod s3_cache;
mod s3_push;
mod segments;
mod serve;
mod serve_auth;
mod serve_mirror;
mod serve_push;
mod sync;
mod transfer;
