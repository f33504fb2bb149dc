//! The audit log: one signed, hash-chained JSON line per decision, appended
//! under an exclusive lock before the host is answered, with a signed head
//! and the stateful-limit state beside it.

pub mod batch;
pub mod export;
pub mod head;
pub mod head_file;
pub mod log;
pub mod query;
pub mod record;
pub mod verify;

pub use log::{AppendError, AuditLog, Locked};
pub use record::{Draft, Link, Record, RecordVerdict, GENESIS};
