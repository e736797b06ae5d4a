//! Content generators: deterministic pseudo-random blobs of any size (streamed, never held in
//! memory), digests of bytes, readers and files, and small images (config, layers, manifest,
//! index) pushed to a [`TestRegistry`] with the OCI or Docker v2 media types.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};

use super::registry::TestRegistry;

// ---------------------------------------------------------------------------------------------
// Deterministic content
// ---------------------------------------------------------------------------------------------

/// Block size of [`GeneratedBytes`]: each block is a window into the seed's table.
const GEN_BLOCK: u64 = 1 << 20;

/// How far a block's window may be shifted into the table.
const GEN_SLACK: u64 = 64 << 10;

/// Deterministic pseudo-random bytes: byte `i` depends only on `(seed, i)`, so any reader
/// buffer size yields the same stream and a test can regenerate what it pushed.
///
/// The test crate is built unoptimised, where generating every word (splitmix64) ran at
/// ~5 ns/byte, 5 s per GiB. Instead a table of `GEN_BLOCK + GEN_SLACK` splitmix bytes is made
/// once, and each 1 MiB block is a window into it at a pseudo-random shift, with a per-block
/// stamp XORed over its first 8 bytes so no two blocks are equal: a memcpy per block.
#[derive(Debug, Clone)]
pub struct GeneratedBytes {
    /// Seed chosen by the test.
    seed: u64,
    /// Position of the next byte.
    pos: u64,
    /// Total length.
    size: u64,
    /// The seed's random table.
    table: Vec<u8>,
}

/// splitmix64 evaluated at counter `n` (it is counter-based, so random access is free).
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Read for GeneratedBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.size - self.pos) as usize);
        let mut i = 0;
        while i < n {
            let p = self.pos + i as u64;
            let block = p / GEN_BLOCK;
            let within = (p % GEN_BLOCK) as usize;
            let take = (n - i).min(GEN_BLOCK as usize - within);
            let mix = splitmix64(!self.seed, block);
            let start = (mix % GEN_SLACK) as usize + within;
            buf[i..i + take].copy_from_slice(&self.table[start..start + take]);
            for (j, b) in mix.to_le_bytes().iter().enumerate().skip(within).take(take) {
                buf[i + j - within] ^= b;
            }
            i += take;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The exact bytes that [`TestRegistry::push_generated_blob`] pushes for `(size, seed)`.
pub fn generated_bytes(size: u64, seed: u64) -> GeneratedBytes {
    let table = (0..(GEN_BLOCK + GEN_SLACK) / 8)
        .flat_map(|n| splitmix64(seed, n).to_le_bytes())
        .collect();
    GeneratedBytes {
        seed,
        pos: 0,
        size,
        table,
    }
}

/// The `sha256:<hex>` digest of [`generated_bytes`], computed by streaming.
pub fn generated_digest(size: u64, seed: u64) -> String {
    sha256_reader(&mut generated_bytes(size, seed))
}

/// Write [`generated_bytes`] to `path` (e.g. to compare with a fetched file or pre-seed a cache).
pub fn write_generated_file(path: &Path, size: u64, seed: u64) {
    let mut file = io::BufWriter::new(File::create(path).expect("create generated file"));
    io::copy(&mut generated_bytes(size, seed), &mut file).expect("write generated file");
    file.flush().expect("flush generated file");
}

/// `sha256:<hex>` of a byte slice.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// `sha512:<hex>` of a byte slice.
pub fn sha512_digest(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

/// `sha256:<hex>` of everything a reader yields.
pub fn sha256_reader(reader: &mut impl Read) -> String {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = reader.read(&mut buf).expect("read for hashing");
        if n == 0 {
            return format!("sha256:{}", hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// `sha256:<hex>` of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    sha256_reader(&mut File::open(path).expect("open file for hashing"))
}

/// Reader adapter feeding everything read through a hasher, so uploads hash as they stream.
pub(super) struct HashingReader<'a, R> {
    /// Source of the bytes.
    pub(super) inner: R,
    /// Hasher updated with each chunk.
    pub(super) hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Images and manifests
// ---------------------------------------------------------------------------------------------

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation under which an OCI layout names its entries (`index.json`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An image pushed to the test registry.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest bytes as pushed.
    pub manifest: Vec<u8>,
    /// The manifest's digest.
    pub digest: String,
    /// The config blob's digest.
    pub config: String,
    /// The layer digests, in manifest order.
    pub layers: Vec<String>,
}

impl Image {
    /// Every blob digest: manifest, config, layers.
    pub fn blobs(&self) -> Vec<String> {
        let mut all = vec![self.digest.clone(), self.config.clone()];
        all.extend(self.layers.iter().cloned());
        all
    }
}

/// Pushes an image whose layers are `layers` (bytes), with the OCI or Docker v2 media types,
/// under `reference` (a tag, or its own digest when `None`).
pub fn push_image(
    registry: &TestRegistry,
    repo: &str,
    reference: Option<&str>,
    docker: bool,
    arch: &str,
    layers: &[Vec<u8>],
) -> Image {
    // diff_ids stand in for the uncompressed digests (here the layers are not compressed).
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = json!({"architecture": arch, "os": "linux",
                        "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    .to_string();
    let config_digest = registry.push_blob(repo, config.as_bytes());
    let (manifest_type, config_type, layer_type) = if docker {
        (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar",
        )
    };
    let layer_digests: Vec<String> = layers.iter().map(|l| registry.push_blob(repo, l)).collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().zip(&layer_digests).map(|(l, d)| json!({"mediaType": layer_type, "digest": d, "size": l.len()})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let digest = sha256_digest(&manifest);
    registry.push_manifest(repo, reference.unwrap_or(&digest), manifest_type, &manifest);
    Image {
        manifest,
        digest,
        config: config_digest,
        layers: layer_digests,
    }
}

/// Pushes an OCI index of `images` (each with its `os/arch`) under `tag`; returns its digest
/// and bytes.
pub fn push_index(
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    docker: bool,
    images: &[(&str, &Image)],
) -> (String, Vec<u8>) {
    let (index_type, manifest_type) = if docker {
        (DOCKER_LIST, DOCKER_MANIFEST)
    } else {
        (OCI_INDEX, OCI_MANIFEST)
    };
    let manifests: Vec<Value> = images
        .iter()
        .map(|(platform, image)| {
            let (os, arch) = platform.split_once('/').unwrap();
            json!({"mediaType": manifest_type, "digest": image.digest, "size": image.manifest.len(),
                   "platform": {"os": os, "architecture": arch}})
        })
        .collect();
    let index =
        json!({"schemaVersion": 2, "mediaType": index_type, "manifests": manifests}).to_string();
    let digest = registry.push_manifest(repo, tag, index_type, index.as_bytes());
    (digest, index.into_bytes())
}

/// Layer contents that differ by `seed`.
pub fn layer(seed: u64, size: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|i| (i as u64 * 31 + seed * 7) as u8)
        .collect();
    v.extend_from_slice(&seed.to_le_bytes());
    v
}
