//! Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`): parsing, validation, display and a
//! streaming verifier.
//!
//! This module owns the digest grammar of the OCI Image Specification (`descriptor.md`,
//! "Digests") restricted to the algorithms layerget can verify. It does no I/O: callers feed
//! bytes into a [`Verifier`] and compare the result. Where a digest lives on disk is the store's
//! business, and what a registry says about digests is the client's.
//!
//! ```
//! use layerget::digest::{Algorithm, Digest, Verifier};
//!
//! let want: Digest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse().unwrap();
//! let mut v = Verifier::new(Algorithm::Sha256);
//! v.update(b"ab");
//! v.update(b"c");
//! assert_eq!(v.finish(), want);
//! assert!("sha256:ABC".parse::<Digest>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// A hash algorithm layerget can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the algorithm of almost every registry.
    Sha256,
    /// SHA-512, registered by the OCI image spec.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh streaming hasher for this algorithm.
    pub fn verifier(self) -> Verifier {
        Verifier::new(self)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a digest layerget accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `:` separates the algorithm from the hex.
    #[error("digest `{0}` has no `algorithm:` prefix (expected `sha256:<64 hex digits>`)")]
    MissingAlgorithm(String),
    /// The algorithm is well formed but not one layerget verifies.
    #[error(
        "digest `{digest}` uses the unsupported algorithm `{algorithm}` (supported: sha256, sha512)"
    )]
    UnsupportedAlgorithm {
        /// The whole digest as given.
        digest: String,
        /// The algorithm part.
        algorithm: String,
    },
    /// The hex part has the wrong length for its algorithm.
    #[error("digest `{digest}` has {actual} hex digits; {algorithm} needs {expected}")]
    WrongLength {
        /// The whole digest as given.
        digest: String,
        /// The algorithm.
        algorithm: Algorithm,
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The hex part contains something other than `0-9a-f` (upper case is rejected, as the
    /// OCI spec requires lower case for registered algorithms).
    #[error("digest `{0}` must use lowercase hex digits 0-9 and a-f only")]
    InvalidHex(String),
}

impl DigestError {
    /// The error's category (and so exit code): a digest given by the user is malformed.
    pub fn category(&self) -> crate::exit::Category {
        crate::exit::Category::Usage
    }
}

/// A validated digest: an algorithm and its lowercase hex encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding of the hash.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Builds a digest from raw hash bytes (the output of a [`Verifier`]).
    pub fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Digest {
        Digest {
            algorithm,
            hex: hex::encode(raw),
        }
    }

    /// A short form for human messages: `sha256:0123456789ab`.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm, &self.hex[..12])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => {
                return Err(DigestError::UnsupportedAlgorithm {
                    digest: s.to_owned(),
                    algorithm: other.to_owned(),
                });
            }
        };
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::InvalidHex(s.to_owned()));
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                digest: s.to_owned(),
                algorithm,
                expected: algorithm.hex_len(),
                actual: hex.len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A streaming hasher that counts bytes and yields a [`Digest`].
#[derive(Clone)]
pub struct Verifier {
    state: State,
    bytes: u64,
}

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Verifier {
    /// A hasher for `algorithm`, at zero bytes.
    pub fn new(algorithm: Algorithm) -> Verifier {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Verifier { state, bytes: 0 }
    }

    /// Feeds `data` into the hash.
    pub fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hash state as bytes (the algorithm's internal state, then the byte count), so that
    /// a hash can continue in another process without reading its input again (a push session
    /// resumed by a later request). [`Verifier::from_saved`] reads it back.
    pub fn save(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState as _;
        let mut out = match &self.state {
            State::Sha256(h) => h.serialize().to_vec(),
            State::Sha512(h) => h.serialize().to_vec(),
        };
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out
    }

    /// A hasher continued from [`Verifier::save`]'s bytes; `None` when they are not a saved
    /// state of `algorithm`.
    pub fn from_saved(algorithm: Algorithm, saved: &[u8]) -> Option<Verifier> {
        use sha2::digest::common::hazmat::SerializableState;
        fn restore<H: SerializableState>(bytes: &[u8]) -> Option<H> {
            let array = sha2::digest::common::hazmat::SerializedState::<H>::try_from(bytes).ok()?;
            H::deserialize(&array).ok()
        }
        let split = saved.len().checked_sub(8)?;
        let (state, count) = saved.split_at(split);
        let bytes = u64::from_le_bytes(count.try_into().ok()?);
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(restore(state)?),
            Algorithm::Sha512 => State::Sha512(restore(state)?),
        };
        Some(Verifier { state, bytes })
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        match self.state {
            State::Sha256(h) => Digest::from_raw(Algorithm::Sha256, &h.finalize()),
            State::Sha512(h) => Digest::from_raw(Algorithm::Sha512, &h.finalize()),
        }
    }
}

/// Computes the digest of an in-memory buffer.
pub fn digest_bytes(algorithm: Algorithm, data: &[u8]) -> Digest {
    let mut v = Verifier::new(algorithm);
    v.update(data);
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// A saved hash state continues exactly where it stopped, and garbage is no state.
    #[test]
    fn hash_state_saves_and_restores() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut v = Verifier::new(algorithm);
            v.update(b"hello, ");
            let mut resumed = Verifier::from_saved(algorithm, &v.save()).unwrap();
            assert_eq!(resumed.bytes(), 7);
            resumed.update(b"world");
            assert_eq!(resumed.finish(), digest_bytes(algorithm, b"hello, world"));
            assert!(Verifier::from_saved(algorithm, b"short").is_none());
        }
        let saved = Verifier::new(Algorithm::Sha256).save();
        assert!(Verifier::from_saved(Algorithm::Sha512, &saved).is_none());
    }

    #[test]
    fn good_digests() {
        let d: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY_SHA256);
        let s512 = format!("sha512:{}", "0a".repeat(64));
        assert_eq!(s512.parse::<Digest>().unwrap().to_string(), s512);
    }

    #[test]
    fn bad_digests() {
        let cases: &[(&str, &str)] = &[
            ("", "no `algorithm:`"),
            ("e3b0c442", "no `algorithm:`"),
            (&format!("sha256:{}", "a".repeat(63)), "63 hex digits"),
            (&format!("sha256:{}", "a".repeat(65)), "65 hex digits"),
            (&format!("sha256:{}", "A".repeat(64)), "lowercase hex"),
            (&format!("sha256:{}", "g".repeat(64)), "lowercase hex"),
            (&format!("sha512:{}", "a".repeat(64)), "sha512 needs 128"),
            (
                &format!("md5:{}", "a".repeat(32)),
                "unsupported algorithm `md5`",
            ),
            (
                &format!("SHA256:{}", "a".repeat(64)),
                "unsupported algorithm",
            ),
            (
                &format!("sha384:{}", "a".repeat(96)),
                "unsupported algorithm",
            ),
            ("sha256:", "0 hex digits"),
            (&format!("sha256:{}\n", "a".repeat(64)), "lowercase hex"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn verifier_matches_known_values() {
        assert_eq!(
            digest_bytes(Algorithm::Sha256, b"").to_string(),
            EMPTY_SHA256
        );
        let abc = digest_bytes(Algorithm::Sha512, b"abc");
        assert!(abc.hex().starts_with("ddaf35a193617aba"));
        let mut v = Verifier::new(Algorithm::Sha256);
        v.update(b"ab");
        v.update(b"c");
        assert_eq!(v.bytes(), 3);
        assert_eq!(v.finish(), digest_bytes(Algorithm::Sha256, b"abc"));
    }

    proptest! {
        #[test]
        fn display_round_trips(raw in proptest::collection::vec(any::<u8>(), 32), long in any::<bool>()) {
            let alg = if long { Algorithm::Sha512 } else { Algorithm::Sha256 };
            let raw = if long { [raw.clone(), raw].concat() } else { raw };
            let d = Digest::from_raw(alg, &raw);
            prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        }

        #[test]
        fn parse_never_panics_and_accepted_round_trips(s in "\\PC{0,140}") {
            if let Ok(d) = s.parse::<Digest>() {
                prop_assert_eq!(d.to_string(), s);
            }
        }
    }
}
