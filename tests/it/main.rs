//! The integration tests: one crate, one harness (`harness`), one module per area.
//! Each module drives the real binary or the library's public API; corpora live in
//! `tests/corpus` and vendored third-party data in `tests/data`.

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod archives;
mod harness;

mod aport_limits;
mod aport_vectors;
mod approve;
mod architecture;
mod audit_batch;
mod audit_concurrency;
mod audit_faults;
mod audit_gap;
mod audit_head_file;
mod audit_integrity;
mod audit_query;
mod audit_seal;
mod audit_state;
mod audit_tamper;
mod checks_props;
mod cli_teaches;
mod conformance;
mod copy_targets;
mod corpus;
mod corpus_binary;
mod decide;
mod docs;
mod e2e_budget;
mod e2e_failures;
mod e2e_hosts;
mod e2e_input;
mod e2e_readers;
mod e2e_write_then_run;
mod fleet;
mod hosts_payloads;
mod hosts_wiring;
mod install_hosts;
mod json_reports;
mod keyed_counts;
mod ocsf_export;
mod otel_export;
mod pack_primitives;
mod passport_edit;
mod policy_fixtures;
mod protected_targets;
mod repo_merge;
mod rollout;
mod trust_boundary;
mod trust_edges;
mod trust_memo;
mod trust_special_files;
mod uninstall;
