//! Known calls in each host's own hook format, for the doctor's canary.
//!
//! The forbidden call writes toolgate's own passport file, which every
//! passport and pack refuses (it is a protected path). The allowed call uses
//! a tool the host's map lists as harmless and that the installed host
//! version has, which passes whenever the passport is valid, active and
//! unexpired. Both carry the session id [`SESSION`], so their audit records
//! are easy to tell apart: they are real evaluations and stay in the log as
//! evidence that the hook was enforcing. Each host's calls live in its
//! descriptor.

use crate::call::HostKind;
use serde_json::Value;

/// The session id every canary call carries.
pub const SESSION: &str = crate::hosts::CANARY_SESSION;

/// A host-format hook input: forbidden (a write to `target`) or allowed (a
/// harmless tool of host `version`, as its `--version` prints it).
pub fn call(
    host: HostKind,
    forbidden: bool,
    cwd: &str,
    target: &str,
    version: Option<&str>,
) -> Value {
    let d = crate::hosts::descriptor(host).unwrap_or(&crate::hosts::claude_code::HOST);
    (d.canary)(forbidden, cwd, target, version)
}
