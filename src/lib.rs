//! layerget fetches blobs (image layers, configs, manifests) from container registries into a
//! verified, content-addressed cache that is also a valid OCI image layout.
//!
//! The binary is a thin shell over this library. Modules, from the bottom up:
//!
//! - [`digest`], [`reference`](mod@reference), [`envelope`], [`exit`], [`manifest`], [`text`]: pure
//!   parsing and formatting (no I/O); [`text`] escapes what came from outside before it is shown.
//! - [`client`]: HTTP to registries; [`store`]: the cache on disk.
//! - [`transfer`]: one blob from a registry into the store, verified while it streams.
//! - [`transfer::image`]: a whole image (manifests, config, layers) into the store, recorded in `index.json`.
//! - [`server`]: the store served back as a read-only registry (`layerget serve`).
//! - [`cli`], [`output`], [`commands`]: the command line, what it prints, and each subcommand.
//!
//! Dependencies point downwards only, and nothing below `commands` prints.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod digest;
pub mod envelope;
pub mod exit;
pub mod manifest;
pub mod output;
pub mod reference;
pub mod server;
pub mod store;
pub mod text;
pub mod transfer;
