//! Checksums of journal entries and snapshots (CRC-32, IEEE), stable across versions.
//!
//! They are stated here so that other tools can verify (or, in tests, forge) stored rows.

/// The checksum of a journal row: CRC-32 over `seq` and `t` (little-endian `u64`s) followed by
/// the payload's UTF-8 bytes. Binding `seq` and `t` means a payload copied to another row, or a
/// row whose `t` column was edited, does not verify.
///
/// ```
/// let a = baton_store::checksum::entry(1, 5, r#"{"input":"timeout"}"#);
/// assert_ne!(a, baton_store::checksum::entry(2, 5, r#"{"input":"timeout"}"#));
/// ```
pub fn entry(seq: u64, t: u64, payload: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&t.to_le_bytes());
    h.update(payload.as_bytes());
    h.finalize()
}

/// The digest of a snapshot: CRC-32 over `seq` (little-endian `u64`) followed by the canonical
/// JSON state's UTF-8 bytes.
///
/// ```
/// assert_ne!(baton_store::checksum::snapshot(0, "{}"), baton_store::checksum::snapshot(1, "{}"));
/// ```
pub fn snapshot(seq: u64, state: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(state.as_bytes());
    h.finalize()
}
