//! Wall-clock times for the operator's screen: local time by default (what the incident channel
//! and the operator's own clock say), UTC with `--utc`.

use std::time::SystemTime;

/// `HH:MM:SS` of `at`.
pub(crate) fn hms(at: SystemTime, utc: bool) -> String {
  let secs = at
    .duration_since(SystemTime::UNIX_EPOCH)
    .map_or(0, |d| d.as_secs()) as libc::time_t;
  // SAFETY: localtime_r/gmtime_r fill the struct we own and read only `secs`.
  let mut tm: libc::tm = unsafe { std::mem::zeroed() };
  let ok = unsafe {
    if utc {
      !libc::gmtime_r(&secs, &mut tm).is_null()
    } else {
      !libc::localtime_r(&secs, &mut tm).is_null()
    }
  };
  if !ok {
    return "--:--:--".into();
  }
  format!(
    "{:02}:{:02}:{:02}{}",
    tm.tm_hour,
    tm.tm_min,
    tm.tm_sec,
    if utc { "Z" } else { "" }
  )
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::time::Duration;

  #[test]
  fn utc_is_exact_and_local_has_the_same_shape() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(3 * 3600 + 7 * 60 + 9);
    assert_eq!(hms(at, true), "03:07:09Z");
    let local = hms(at, false);
    assert_eq!(local.len(), 8, "{local}");
    assert_eq!(&local[2..3], ":");
  }
}
