//! The integration-test binary: every test module shares `support` and one build.

mod auth_support;
mod support;

mod auth;
mod cache;
mod cli;
mod config;
mod diagnostics;
mod fetch;
mod harness;
mod head;
mod hostile_auth;
mod hostile_output;
mod hostile_serve;
mod hostile_store;
mod json_lines;
mod progress;
mod pull;
mod segments;
mod serve;
mod serve_auth;
mod serve_mirror;
mod transfer;
