//! The audit log: one signed, hash-chained JSON line per decision, appended
//! under an exclusive lock before the host is answered.

pub mod log;
pub mod record;
pub mod verify;

pub use log::{AppendError, AuditLog};
pub use record::{Record, GENESIS};
