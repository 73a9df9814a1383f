//! Journal entries: one kernel input each, with what the runtime needs to re-run durable tasks.

use baton_kernel::{Input, Instant};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One journaled kernel input.
///
/// Every input is journaled, accepted or not: a refused input still fires every deadline at or
/// before its instant ("time keeps itself"), so leaving it out would change the replayed state.
///
/// In the database the entry is stored as its `seq`, its `t`, a JSON payload (every field but
/// `seq`) and a checksum ([`checksum::entry`](crate::checksum::entry)). An optional field set to
/// `Some(Value::Null)` reads back as `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal: 1 for the first entry, then strictly increasing by one.
    pub seq: u64,
    /// The instant the input was applied at.
    pub t: Instant,
    /// The input.
    pub input: Input,
    /// Whether the kernel accepted the input when it was first applied; replay checks that it
    /// does the same again.
    pub accepted: bool,
    /// The durable task kind, on the `Submit` of a durable task.
    pub kind: Option<String>,
    /// The durable task's parameters, on the `Submit` of a durable task.
    pub params: Option<Value>,
    /// The result, on the `Finished` that completed a durable task.
    pub result: Option<Value>,
}

/// The stored form of an entry (everything but `seq`), borrowed for writing.
#[derive(Serialize)]
struct PayloadRef<'a> {
    t: Instant,
    input: &'a Input,
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
}

/// The stored form of an entry, owned for reading.
#[derive(Deserialize)]
struct Payload {
    t: Instant,
    input: Input,
    accepted: bool,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    result: Option<Value>,
}

impl JournalEntry {
    /// The JSON payload stored for this entry (every field but `seq`).
    pub(crate) fn payload(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&PayloadRef {
            t: self.t,
            input: &self.input,
            accepted: self.accepted,
            kind: self.kind.as_deref(),
            params: self.params.as_ref(),
            result: self.result.as_ref(),
        })
    }

    /// The entry stored at `seq` with this payload.
    pub(crate) fn from_payload(seq: u64, payload: &str) -> Result<Self, serde_json::Error> {
        let p: Payload = serde_json::from_str(payload)?;
        Ok(JournalEntry {
            seq,
            t: p.t,
            input: p.input,
            accepted: p.accepted,
            kind: p.kind,
            params: p.params,
            result: p.result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_without_seq() {
        let e = JournalEntry {
            seq: 7,
            t: Instant::from_nanos(42),
            input: Input::Connect { name: "a".into() },
            accepted: true,
            kind: Some("mail".into()),
            params: Some(serde_json::json!({"to": "x"})),
            result: None,
        };
        let p = e.payload().unwrap();
        assert!(!p.contains("seq"));
        assert!(!p.contains("result"));
        assert_eq!(JournalEntry::from_payload(7, &p).unwrap(), e);
    }
}
