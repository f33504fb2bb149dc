//! toolgate: an authorization gate for AI agent tool calls.
//!
//! One call flows one way: a host adapter turns hook input into a [`call::Call`];
//! a tool map turns it into a policy [`decision::Request`]; the pure
//! [`decision::decide`] judges it against a signed [`passport::Passport`] under
//! a [`packs::Pack`]; the [`gate`] edge signs a [`receipt::Receipt`], appends an
//! [`audit`] record, and renders the host's answer.

#![forbid(unsafe_code)]

pub mod archive;
pub mod audit;
pub mod call;
pub mod canonical;
pub mod checks;
pub mod decision;
pub mod gate;
pub mod gitview;
pub mod grant;
pub mod home;
pub mod hosts;
pub mod install;
pub mod net;
pub mod packs;
pub mod passport;
pub mod policy;
pub mod reason;
pub mod receipt;
pub mod redact;
pub mod regular;
pub mod remote;
pub mod seal;
pub mod state;
pub mod telemetry;
pub mod ungated;
