//! Room for the record. A run does not start where its journal cannot be written, and a run
//! whose disk fills under it stops before its next change (no record, no action).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Error;

/// Free space a run needs before it starts: a long run's journal and a few side files of long
/// output (up to 1 MiB per stream each).
pub(crate) const START_ROOM: u64 = 4 * 1024 * 1024;

/// Below this, during a run, the record is taken to be full: the run stops before its next
/// step rather than wait for a write to fail somewhere in the middle of a record.
pub(crate) const LOW_ROOM: u64 = 1024 * 1024;

/// Space held beyond the end of the journal (allocated, not written), so that the record of why
/// it stopped can still be written once the disk is full.
pub(crate) const RESERVE: u64 = 64 * 1024;

/// What `statvfs` says about the filesystem holding a directory.
pub(crate) struct Room {
  /// Bytes an ordinary user may still write. The blocks reserved for root are left to the
  /// system's own daemons, even when megacity runs as root.
  pub(crate) free: u64,
  /// Inodes an ordinary user may still create; `None` where the filesystem sets no limit.
  pub(crate) inodes: Option<u64>,
  pub(crate) read_only: bool,
}

fn c_path(path: &Path) -> std::io::Result<CString> {
  CString::new(path.as_os_str().as_bytes())
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in the path"))
}

pub(crate) fn room(dir: &Path) -> std::io::Result<Room> {
  let path = c_path(dir)?;
  let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
  // SAFETY: `path` is NUL-terminated and `stat` is a valid, writable statvfs.
  if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
    return Err(std::io::Error::last_os_error());
  }
  Ok(Room {
    free: stat.f_bavail as u64 * stat.f_frsize as u64,
    // tmpfs without `nr_inodes` and btrfs report no inode count at all.
    inodes: (stat.f_files > 0).then_some(stat.f_favail as u64),
    read_only: stat.f_flag & libc::ST_RDONLY != 0,
  })
}

/// Whether this user may create files in `dir` (the kernel's answer, ACLs included).
fn writable(dir: &Path) -> std::io::Result<()> {
  let path = c_path(dir)?;
  // SAFETY: `path` is NUL-terminated.
  if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
    return Err(std::io::Error::last_os_error());
  }
  Ok(())
}

/// Refuses to start a run whose journal could not be written in `dir`: read-only, not
/// writable, out of inodes, or with less than [`START_ROOM`] free.
pub(crate) fn check_start(dir: &Path) -> Result<(), Error> {
  let refuse = |reason: String| Error::NoRoomForRecord {
    path: dir.to_path_buf(),
    reason,
  };
  let room = room(dir).map_err(|e| refuse(format!("cannot be examined ({e})")))?;
  if room.read_only {
    return Err(refuse("is on a read-only filesystem".into()));
  }
  if let Err(e) = writable(dir) {
    return Err(refuse(format!("is not writable by this user ({e})")));
  }
  if room.inodes.is_some_and(|n| n < 16) {
    return Err(refuse("is on a filesystem out of inodes".into()));
  }
  if room.free < START_ROOM {
    return Err(refuse(format!(
      "has {} free, and a run needs {} for its record",
      bytes(room.free),
      bytes(START_ROOM)
    )));
  }
  Ok(())
}

/// Why the record must stop here, if the filesystem holding `dir` has less than [`LOW_ROOM`]
/// left. A filesystem that cannot be examined is not taken to be full: writes will tell.
pub(crate) fn low(dir: &Path) -> Option<String> {
  let room = room(dir).ok()?;
  (room.free < LOW_ROOM).then(|| {
    format!(
      "only {} left on its filesystem (megacity stops below {})",
      bytes(room.free),
      bytes(LOW_ROOM)
    )
  })
}

/// Allocates [`RESERVE`] bytes past `end` without changing the file's size, so that appends
/// there need no new blocks. Best effort: a filesystem without `fallocate` has no reserve.
pub(crate) fn reserve(file: &File, end: u64) {
  // SAFETY: a valid open descriptor; KEEP_SIZE leaves the file's contents and size alone.
  let _ = unsafe {
    libc::fallocate(
      file.as_raw_fd(),
      libc::FALLOC_FL_KEEP_SIZE,
      end as libc::off_t,
      RESERVE as libc::off_t,
    )
  };
}

/// Gives back what is left of the reserve: truncating to its own size frees the blocks
/// allocated past the end (tmpfs, ext4, xfs).
pub(crate) fn release(file: &File) {
  if let Ok(meta) = file.metadata() {
    let _ = file.set_len(meta.len());
  }
}

/// `1.5 MiB`, `12 KiB`, `0 B`.
pub(crate) fn bytes(n: u64) -> String {
  const KIB: u64 = 1024;
  const MIB: u64 = 1024 * KIB;
  const GIB: u64 = 1024 * MIB;
  match n {
    n if n >= GIB => format!("{:.1} GiB", n as f64 / GIB as f64),
    n if n >= MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
    n if n >= KIB => format!("{} KiB", n / KIB),
    n => format!("{n} B"),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn sizes_read_as_people_say_them() {
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(12 * 1024 + 5), "12 KiB");
    assert_eq!(bytes(START_ROOM), "4.0 MiB");
    assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
  }

  /// The temporary directory of a test machine has room; a missing one cannot be examined.
  #[test]
  fn a_directory_with_room_passes_and_a_missing_one_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let room = room(dir.path()).unwrap();
    assert!(
      room.free >= START_ROOM,
      "the test machine's temporary directory has {} free; these tests need {}",
      bytes(room.free),
      bytes(START_ROOM)
    );
    check_start(dir.path()).unwrap();
    let missing = dir.path().join("nope");
    let e = check_start(&missing).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit_code::ERROR);
    assert!(e.to_string().contains("cannot be examined"), "{e}");
  }
}
