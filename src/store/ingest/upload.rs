//! Upload sessions in the ingest area (`ingest/uploads/<id>/`): a blob pushed to `serve` in
//! one or more requests, whose digest is told only when it is committed. A session is an
//! [`Ingest`] like a download's, plus `upload.json` (its algorithm and start).

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Ingest, IngestState, now, truncate};
use crate::digest::Algorithm;
use crate::store::{IngestLock, Store, StoreError, UploadId, sync_dir};

/// What an upload session records beside its data (`ingest/uploads/<id>/upload.json`): the
/// algorithm it is hashed with, and when it was started. When it last received bytes is the
/// data file's modification time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadState {
    /// The digest algorithm (`sha256`, `sha512`).
    #[serde(with = "algorithm_name")]
    pub algorithm: Algorithm,
    /// Unix seconds of the start.
    pub started: u64,
}

/// An [`Algorithm`] in JSON as its name.
mod algorithm_name {
    use super::Algorithm;

    pub fn serialize<S: serde::Serializer>(a: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.as_str())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Algorithm, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        [Algorithm::Sha256, Algorithm::Sha512]
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown algorithm `{name}`")))
    }
}

impl Store {
    /// The directory of upload sessions.
    pub(crate) fn uploads_dir(&self) -> PathBuf {
        self.root().join("ingest").join("uploads")
    }

    /// Opens upload session `id` as an ingest, under its lock: `start` creates it (an existing
    /// one is an error), `None` opens an existing one (`None` when there is none). Until it is
    /// named at commit ([`Ingest::name`]) the ingest carries the empty blob's digest of its
    /// algorithm: only that algorithm is used before then, to hash what it holds.
    pub fn upload_ingest(
        &self,
        lock: &IngestLock,
        id: &UploadId,
        start: Option<Algorithm>,
    ) -> Result<Option<(Ingest, UploadState)>, StoreError> {
        debug_assert_eq!(lock.digest(), None);
        let dir = self.uploads_dir().join(id.as_str());
        let state_path = dir.join("upload.json");
        let upload = match start {
            Some(algorithm) => {
                if dir.exists() {
                    return Err(StoreError::Corrupt {
                        path: dir,
                        reason: "an upload session of this id exists already".into(),
                    });
                }
                fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
                let upload = UploadState {
                    algorithm,
                    started: now(),
                };
                let json = serde_json::to_vec(&upload).map_err(|e| StoreError::Corrupt {
                    path: state_path.clone(),
                    reason: e.to_string(),
                })?;
                truncate(&dir.join("data"), 0)?;
                let tmp = dir.join("upload.json.tmp");
                fs::write(&tmp, json).map_err(StoreError::io("write", &tmp))?;
                fs::rename(&tmp, &state_path).map_err(StoreError::io("rename", &tmp))?;
                sync_dir(&dir)?;
                upload
            }
            None => match fs::read(&state_path) {
                Ok(bytes) => match serde_json::from_slice::<UploadState>(&bytes) {
                    Ok(upload) => upload,
                    // A session whose record is garbled cannot be trusted: it is gone.
                    Err(_) => return Ok(None),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(StoreError::io("read", &state_path)(e)),
            },
        };
        let data = dir.join("data");
        let bytes = fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
        let ingest = Ingest {
            blob: PathBuf::new(),
            dir,
            data,
            state: IngestState {
                digest: crate::digest::digest_bytes(upload.algorithm, b""),
                size: None,
                source: None,
                bytes,
                updated: now(),
                segments: None,
            },
        };
        Ok(Some((ingest, upload)))
    }
}
