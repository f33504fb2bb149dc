//! `toolgate doctor`: is every installed hook really enforcing?

use super::{paint, PathArgs};
use clap::Args;
use std::path::PathBuf;
use toolgate::install::{doctor, Dirs};

#[derive(Debug, Args)]
#[command(after_help = "\
For every host whose configuration calls toolgate, doctor checks the config,
the binary, the passport (found, signed by a trusted key, active, unexpired),
the audit log, and runs the exact installed command with `sh -c` twice: a call
that must be denied and a harmless one that must be allowed. Those two canary
calls are real evaluations: they are appended to the audit log with session id
`toolgate-doctor`. Exit 1 when anything fails.

Examples:
  toolgate doctor
  toolgate doctor --json | jq '.checks[] | select(.ok | not)'")]
pub struct DoctorArgs {
    /// Project directory whose project-scope configs are checked (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Print JSON: {ok, checks: [{subject, check, ok, detail, fix}]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: DoctorArgs) -> i32 {
    let loc = paths.locations(None);
    let dirs = Dirs::from_env(a.project_dir);
    let rows = doctor::run(&loc, &dirs, &dirs.project);
    if a.json {
        let ok = rows.iter().all(|r| r.ok);
        let checks: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "subject": r.subject, "check": r.check, "ok": r.ok,
                    "detail": r.detail, "fix": r.fix,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"ok": ok, "checks": checks}));
        return if ok { 0 } else { 1 };
    }
    let w = |f: fn(&doctor::Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (ws, wc) = (w(|r| r.subject.len()), w(|r| r.check.len()));
    for r in &rows {
        let mark = if r.ok {
            paint("ok  ", "32")
        } else {
            paint("FAIL", "31")
        };
        println!("{mark}  {:<ws$}  {:<wc$}  {}", r.subject, r.check, r.detail);
    }
    let failed: Vec<&doctor::Row> = rows.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        println!("\nall checks passed; the canary calls are in the audit log as session `toolgate-doctor`");
        return 0;
    }
    println!("\n{} problem(s); fixes:", failed.len());
    for r in failed {
        println!(
            "  {} / {}: {}",
            r.subject,
            r.check,
            r.fix.as_deref().unwrap_or("see above")
        );
    }
    1
}
