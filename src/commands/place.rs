//! Putting a verified cache file at a path the user named (`fetch -o PATH`), safely.
//!
//! The destination directory may be shared (`/tmp`, a download folder), so the file is first
//! made under a name nobody can predict, created exclusively (`O_EXCL` never follows a planted
//! symlink), with mode `0644` less the umask, and then renamed over `PATH`. A rename replaces a
//! symlink at `PATH` itself rather than writing through it. (Issue 9, item 14: the copy used
//! to be made world-writable through a predictable name.)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many unpredictable names are tried before giving up (each collision is a file someone
/// else made in the meantime).
const ATTEMPTS: u32 = 16;

/// The mode of a copy before the umask: what `cp` gives a new file.
const COPY_MODE: u32 = 0o644;

/// Puts `src` at `dest` atomically: a hard link when the file system allows (the cache file
/// is read-only, so the link is too), else a copy (`io::copy` between files uses
/// `copy_file_range`, which reflinks on btrfs and XFS), synced before it gets its name. Either
/// way it goes through a temporary name in `dest`'s directory and a rename, so `dest` is never
/// half written. When `dest` already is `src` (a rerun that linked it before) nothing changes.
pub fn link_or_copy(src: &Path, dest: &Path) -> io::Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "-o needs a file name"))?;
    if same_file(src, dest)? {
        // rename(2) of one hard link onto another of the same inode does nothing and leaves
        // the temporary name behind, so there must be no temporary name.
        return Ok(());
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let tmp = dir.join(format!(".{}.{}", name.to_string_lossy(), unique_suffix()));
        match place_at(src, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        }
        return fs::rename(&tmp, dest).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        });
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Makes `tmp` (which must not exist) a link to or a copy of `src`.
fn place_at(src: &Path, tmp: &Path) -> io::Result<()> {
    match fs::hard_link(src, tmp) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        // Another file system, or one without hard links: copy.
        Err(_) => {}
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(COPY_MODE)
        .open(tmp)?;
    let copied = (|| {
        io::copy(&mut File::open(src)?, &mut out)?;
        out.sync_data()
    })();
    copied.inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

/// Whether `dest` exists and is the same inode as `src`.
fn same_file(src: &Path, dest: &Path) -> io::Result<bool> {
    let (a, b) = match (fs::metadata(src), fs::symlink_metadata(dest)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return Err(e),
        (_, Err(_)) => return Ok(false),
    };
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// A suffix no other process can guess: pid, a per-process counter and the clock's
/// nanoseconds mixed through SipHash with a random key (std's `RandomState`).
fn unique_suffix() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    format!("layerget-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_link_and_reruns_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"blob").unwrap();
        let dest = dir.path().join("out");
        for _ in 0..3 {
            link_or_copy(&src, &dest).unwrap();
        }
        assert_eq!(fs::read(&dest).unwrap(), b"blob");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_symlink_at_dest_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"blob").unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let dest = dir.path().join("out");
        std::os::unix::fs::symlink(&victim, &dest).unwrap();
        link_or_copy(&src, &dest).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(!fs::symlink_metadata(&dest).unwrap().is_symlink());
        assert_eq!(fs::read(&dest).unwrap(), b"blob");
    }

    #[test]
    fn suffixes_differ() {
        assert_ne!(unique_suffix(), unique_suffix());
    }
}
