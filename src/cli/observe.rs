//! `toolgate observe`: the post-tool hook that raises the ungated-call alarm.

use super::PathArgs;
use clap::Args;
use std::time::Duration;
use toolgate::call::HostKind;
use toolgate::gate::MAX_INPUT_BYTES;
use toolgate::ungated::{self, Observed};

#[derive(Debug, Args)]
#[command(after_help = "\
Installed by `toolgate install` as each host's post-execution hook (Claude Code
and Codex PostToolUse, Gemini AfterTool, Cursor and Copilot postToolUse). For a
call that ran, it looks for the allow record of the same call (the host's call
id; else session, tool and input digest) near the end of the audit log. When
there is none, the gate did not see the call (its hook was removed, switched
off, untrusted or timed out), and observe appends a signed `ungated` record
(reason oap.ungated_call), exported like any decision. See them with
`toolgate log --ungated`; doctor counts them.

Always exits 0: the tool has already run, and the alarm must not disturb the host.

Examples:
  # install puts it in place; by hand only to try it
  echo '{\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls\"},\"session_id\":\"s\",\"cwd\":\"/repo\"}' \\
    | toolgate observe --host claude-code
  toolgate log --ungated")]
pub struct ObserveArgs {
    /// Host whose post-tool payload is on stdin.
    #[arg(long, value_name = "HOST", value_parser = ["claude-code", "cursor", "codex", "gemini", "copilot"])]
    pub host: String,
    /// Seconds to wait for stdin.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub read_timeout: u64,
}

pub fn run(paths: &PathArgs, a: ObserveArgs) -> i32 {
    let Some(host) = HostKind::parse(&a.host) else {
        return 0;
    };
    let loc = paths.locations(None);
    let bytes = match super::evaluate::read_stdin_bounded(
        MAX_INPUT_BYTES,
        Duration::from_secs(a.read_timeout),
    ) {
        Ok(b) => b,
        Err(why) => {
            eprintln!("toolgate observe: {why}");
            return 0;
        }
    };
    let call = match ungated::parse_post(host, &bytes) {
        Ok(c) => c,
        Err(r) => {
            eprintln!("toolgate observe: cannot read the post-tool event: {r}");
            return 0;
        }
    };
    let config = toolgate::home::Config::load(&loc.config.path).unwrap_or_default();
    match ungated::observe(&loc, &config, &call, time::OffsetDateTime::now_utc()) {
        Ok((Observed::Gated(_), _)) => {}
        Ok((Observed::Alarm(seq), _)) => eprintln!(
            "toolgate: ALARM `{}` ran without an allow record (ungated, audit seq {seq}); run `toolgate doctor`",
            call.tool
        ),
        Err(e) => eprintln!("toolgate observe: could not record the ungated call: {e}"),
    }
    0
}
