//! The integration-test binary: every test module shares `support` and one build.

mod auth_support;
mod support;

mod auth;
mod cache;
mod cli;
mod config;
mod fetch;
mod harness;
mod head;
mod never_panic;
mod pull;
mod segments;
mod serve;
mod serve_auth;
mod transfer;
