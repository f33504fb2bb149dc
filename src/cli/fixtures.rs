//! `toolgate test [DIR]`: policy fixtures run through the real gate against a scratch
//! key, state and audit log (never the user's), with a diff per mismatch and the
//! coverage of the passport's checks, limits and list entries.
//! `evaluate --dry-run` uses the same scratch set-up for one call.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toolgate::decision::{Evaluation, Outcome as CheckOutcome, Verdict};
use toolgate::gate::{self, EvaluateOptions};
use toolgate::home::{Config, Locations, Resolved, Source};
use toolgate::packs::Catalog;
use toolgate::passport::{self, KeyPair, Passport, TrustStore};
use toolgate::reason::ReasonCode;

#[derive(Debug, Args)]
#[command(after_help = "\
A fixture file (*.json in DIR) holds one case or a list of cases. A case is a
host's hook input, or an OAP policy id and context, with what must happen:

  [{\"name\": \"git status runs\",
    \"host\": \"claude-code\",
    \"input\": {\"hook_event_name\": \"PreToolUse\", \"tool_name\": \"Bash\",
              \"tool_input\": {\"command\": \"git status\"}, \"cwd\": \"/repo\"},
    \"expect\": {\"verdict\": \"allow\"}},
   {\"name\": \"refunds over the cap are refused\",
    \"policy\": \"finance.payment.refund.v1\",
    \"context\": {\"amount\": 999999, \"currency\": \"USD\"},
    \"expect\": {\"verdict\": \"deny\", \"reason\": \"oap.limit_exceeded\"}}]

A string may say $PROJECT_ROOT for the trusted project root (--project-root).
The cases of one file run in order against one scratch state (so rate limits and
idempotency keys carry from case to case); each file starts from an empty one.
The real passport, trust store, packs, config and trusted projects are read; the
real key, state, audit log and caches are never touched (nothing is written outside
a scratch directory, removed afterwards; fleet documents are fetched anew into it,
and approvals, bound to the real key, do not apply), and telemetry is off.

Exit codes: 0 every case passed (and coverage reached --min-coverage);
1 a case failed, coverage was short, or the fixtures could not be read.

Examples:
  toolgate test                      # the fixtures next to the passport (tests/)
  toolgate test policy-tests/ --min-coverage 80
  toolgate test --format junit > toolgate-junit.xml")]
pub struct TestArgs {
    /// Directory of fixture files (default: `tests/` next to the passport).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Passport to test (default: the resolved passport) [env: TOOLGATE_PASSPORT]
    #[arg(long, value_name = "FILE")]
    pub passport: Option<PathBuf>,
    /// Trusted project root for the cases (default: the current directory).
    #[arg(long = "project-root", value_name = "DIR")]
    pub project_root: Option<PathBuf>,
    /// Fail (exit 1) unless at least N% of checks, limits and list entries were exercised.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_coverage: Option<u8>,
    /// Output: text, json, or junit (JUnit XML for CI).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "junit"])]
    pub format: String,
}

/// One fixture case as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub context: Option<Value>,
    pub expect: Expect,
}

/// What a case must produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub verdict: Verdict,
    /// The first reason's code, when given.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A scratch key, state and log in a private temporary directory, removed on drop.
pub struct Scratch {
    dir: PathBuf,
    pub loc: Locations,
}

impl Scratch {
    /// Locations that read `real`'s passport, trust store, packs and config but sign
    /// with a fresh key into a fresh log and state, with telemetry off.
    pub fn new(real: &Locations) -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!(
            "toolgate-scratch-{}",
            uuid::Uuid::new_v4().simple()
        ));
        create_private_dir(&dir)?;
        // Owns the directory from here on, so a failure below removes it too.
        let mut scratch = Scratch {
            dir: dir.clone(),
            loc: real.clone(),
        };
        let mut config = Config::load(&real.config.path).map_err(anyhow::Error::new)?;
        config.telemetry.enabled = Some(false);
        config.audit.sync = false;
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec(&config)?)?;
        let key = KeyPair::generate();
        let key_path = dir.join("keys/scratch.key.jwk");
        key.save(&key_path, &dir.join("keys/scratch.pub.jwk"))?;
        let mut loc = real.clone();
        let here = |path: PathBuf| Resolved {
            path,
            source: Source::Flag,
        };
        loc.config = here(config_path);
        loc.key = here(key_path);
        loc.audit_log = here(dir.join("audit/audit.jsonl"));
        // The gate also writes below the config root (the cache key, the verified-passport
        // memo, fetched fleet documents): here, that root is the scratch directory.
        loc.config_root = dir.clone();
        copy_project_store(&real.config_root, &dir)?;
        scratch.loc = loc;
        Ok(scratch)
    }
}

/// The one file under the real config root a scratch decision must read to decide as the
/// hook would: which project directories are trusted, and with which keys (public ones).
/// Grants need the real key and fleet documents are fetched anew, so neither is copied.
fn copy_project_store(real_root: &Path, dir: &Path) -> anyhow::Result<()> {
    let from = real_root.join(toolgate::policy::project::STORE);
    match std::fs::copy(&from, dir.join(toolgate::policy::project::STORE)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("copying {} for the scratch run", from.display())),
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("creating the scratch directory {}", dir.display()))
}

/// Starter fixtures `init` writes beside a passport made from each built-in template.
pub const STARTERS: &[(&str, &str)] = &[
    (
        "coding-agent",
        include_str!("../../passports/fixtures/coding-agent.json"),
    ),
    (
        "read-only",
        include_str!("../../passports/fixtures/read-only.json"),
    ),
    (
        "ci-bot",
        include_str!("../../passports/fixtures/ci-bot.json"),
    ),
    (
        "refund-agent",
        include_str!("../../passports/fixtures/refund-agent.json"),
    ),
];

/// The placeholder a fixture string may use for the project root, so one fixture
/// set works on every machine.
pub const PROJECT_ROOT: &str = "$PROJECT_ROOT";

fn with_root(v: &Value, root: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(PROJECT_ROOT, root)),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_root(x, root)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), with_root(x, root)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Writes the starter fixtures for `template` into `dir` (kept if the file exists).
/// Returns the file written, or `None` for a template without starters.
pub fn write_starter(dir: &Path, template: &str) -> anyhow::Result<Option<(PathBuf, bool)>> {
    let Some((_, text)) = STARTERS.iter().find(|(n, _)| *n == template) else {
        return Ok(None);
    };
    let file = dir.join(format!("{template}.json"));
    if file.exists() {
        return Ok(Some((file, false)));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(Some((file, true)))
}

/// The hook input bytes and host of a case.
fn case_input(
    case: &Case,
    root: &Path,
) -> anyhow::Result<(Vec<u8>, Option<toolgate::call::HostKind>)> {
    let root = root.to_string_lossy();
    let host = match &case.host {
        Some(h) => Some(toolgate::call::HostKind::parse(h).with_context(|| {
            format!("unknown host `{h}` (claude-code, cursor, codex, gemini, copilot, oap)")
        })?),
        None => None,
    };
    match (&case.input, &case.policy, &case.context) {
        (Some(input), None, None) => Ok((serde_json::to_vec(&with_root(input, &root))?, host)),
        (None, Some(policy), context) => {
            let context = with_root(context.as_ref().unwrap_or(&json!({})), &root);
            Ok((
                serde_json::to_vec(&json!({"policy": policy, "context": context}))?,
                Some(toolgate::call::HostKind::Oap),
            ))
        }
        _ => bail!("a case has either `input` (a hook input) or `policy` with `context`"),
    }
}

/// One case's result.
struct Ran {
    file: String,
    name: String,
    expect: Expect,
    verdict: Verdict,
    reason: Option<String>,
    message: String,
}

impl Ran {
    fn passed(&self) -> bool {
        self.verdict == self.expect.verdict
            && self
                .expect
                .reason
                .as_ref()
                .is_none_or(|r| Some(r) == self.reason.as_ref())
    }

    /// The expected and actual outcome as a small unified diff.
    fn diff(&self) -> String {
        let want = format!(
            "verdict: {}{}",
            self.expect.verdict.as_str(),
            self.expect
                .reason
                .as_deref()
                .map(|r| format!("\nreason:  {r}"))
                .unwrap_or_default()
        );
        let got = format!(
            "verdict: {}{}",
            self.verdict.as_str(),
            match (&self.expect.reason, &self.reason) {
                (Some(_), Some(r)) => format!("\nreason:  {r}"),
                (Some(_), None) => "\nreason:  (none)".into(),
                _ => String::new(),
            }
        );
        let mut out = String::from("--- expected\n+++ got\n");
        for (w, g) in want.lines().zip(got.lines()) {
            if w == g {
                out.push_str(&format!(" {w}\n"));
            } else {
                out.push_str(&format!("-{w}\n+{g}\n"));
            }
        }
        out.push_str(&format!("  ({})\n", self.message));
        out
    }
}

/// Reads the cases of one fixture file: one case, or a list of them.
fn read_cases(path: &Path) -> anyhow::Result<Vec<Case>> {
    let bytes = toolgate::regular::read(path, toolgate::regular::DOC_CAP)
        .with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_slice(toolgate::canonical::strip_bom(&bytes))
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let list = match v {
        Value::Array(a) => a,
        one => vec![one],
    };
    list.into_iter()
        .enumerate()
        .map(|(i, c)| {
            let case: Case = serde_json::from_value(c).with_context(|| {
                format!("{} case {}: not a fixture case", path.display(), i + 1)
            })?;
            if let Some(r) = &case.expect.reason {
                check_reason(r).with_context(|| format!("{} case {}", path.display(), i + 1))?;
            }
            Ok(case)
        })
        .collect()
}

/// The fixture files of a directory, sorted.
fn fixture_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the fixture directory {} (create it, or run `toolgate init` to get starter fixtures)",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Where `init` puts starter fixtures and `test` looks by default.
pub fn default_dir(loc: &Locations) -> PathBuf {
    loc.passport
        .path
        .parent()
        .map_or_else(|| PathBuf::from("tests"), |d| d.join("tests"))
}

/// Decides one hook input against scratch state: the same gate as the hook.
pub fn decide_scratch(scratch: &Scratch, bytes: &[u8], opts: &EvaluateOptions) -> gate::Outcome {
    gate::evaluate(&scratch.loc, bytes, opts, time::OffsetDateTime::now_utc())
}

pub fn run(paths: &PathArgs, a: TestArgs) -> anyhow::Result<i32> {
    let loc = paths.locations(a.passport.clone());
    let dir = a.dir.clone().unwrap_or_else(|| default_dir(&loc));
    let root = match &a.project_root {
        Some(r) => std::path::absolute(r)?,
        None => std::env::current_dir()?,
    };
    let files = fixture_files(&dir)?;
    if files.is_empty() {
        bail!(
            "no fixture files (*.json) in {}; `toolgate test --help` shows the format",
            dir.display()
        );
    }
    let mut ran = Vec::new();
    let mut traces: Vec<Evaluation> = Vec::new();
    for file in &files {
        let cases = read_cases(file)?;
        let scratch = Scratch::new(&loc)?;
        let shown = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        for (i, case) in cases.into_iter().enumerate() {
            let (bytes, host) =
                case_input(&case, &root).with_context(|| format!("{shown} case {}", i + 1))?;
            let opts = EvaluateOptions {
                host,
                project_roots: vec![root.clone()],
            };
            let out = decide_scratch(&scratch, &bytes, &opts);
            let first = out.evaluation.reasons.first();
            ran.push(Ran {
                file: shown.clone(),
                name: case
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("case {}", i + 1)),
                expect: case.expect.clone(),
                verdict: out.evaluation.verdict,
                reason: first.map(|r| r.code.as_str().to_string()),
                message: first.map(|r| r.message.clone()).unwrap_or_default(),
            });
            traces.push(out.evaluation);
        }
    }
    let coverage = coverage(&loc, &traces)?;
    let failed = ran.iter().filter(|r| !r.passed()).count();
    let short = a
        .min_coverage
        .is_some_and(|min| coverage.percent() < f64::from(min));
    match a.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&ran, &coverage))?
        ),
        "junit" => print!("{}", junit(&ran, &coverage)),
        _ => print!("{}", text_report(&ran, &coverage)),
    }
    if short {
        eprintln!(
            "toolgate: coverage {:.0}% is below --min-coverage {}",
            coverage.percent(),
            a.min_coverage.unwrap_or(0)
        );
    }
    Ok(if failed > 0 || short { 1 } else { 0 })
}

/// What the fixtures exercised, against everything the passport could exercise.
pub struct Coverage {
    /// (kind, item, exercised), kinds `check`, `limit`, `entry`.
    pub items: Vec<(&'static str, String, bool)>,
}

impl Coverage {
    pub fn percent(&self) -> f64 {
        if self.items.is_empty() {
            return 100.0;
        }
        let hit = self.items.iter().filter(|(_, _, h)| *h).count();
        hit as f64 * 100.0 / self.items.len() as f64
    }

    fn count(&self, kind: &str) -> (usize, usize) {
        let of = self.items.iter().filter(|(k, _, _)| *k == kind);
        let total = of.clone().count();
        (of.filter(|(_, _, h)| *h).count(), total)
    }

    fn never(&self, kind: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(k, _, h)| *k == kind && !*h)
            .map(|(_, i, _)| i.as_str())
            .collect()
    }
}

/// Coverage of the passport's granted packs: each check, each limit key set under a
/// capability a pack serves, each string of a list limit.
pub fn coverage(loc: &Locations, evals: &[Evaluation]) -> anyhow::Result<Coverage> {
    let catalog = Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path()))?;
    let trust = TrustStore::load_dir(&loc.trust_dir.path)?;
    let passport: Passport = match passport::load_verified(&loc.passport.path, &trust) {
        Ok(v) => v.passport().clone(),
        Err(e) => bail!("{}: {e}", loc.passport.path.display()),
    };
    let ran: Vec<&toolgate::decision::CheckTrace> = evals
        .iter()
        .flat_map(|e| e.trace.iter())
        .filter(|t| t.outcome != CheckOutcome::Skip)
        .collect();
    let mut items = Vec::new();
    for cap in &passport.capabilities {
        let packs: Vec<&toolgate::packs::Pack> = catalog
            .packs()
            .filter(|p| p.capability() == cap.id)
            .collect();
        if packs.is_empty() {
            continue;
        }
        let mut read_keys: BTreeSet<String> = BTreeSet::new();
        let mut hits: BTreeSet<&str> = BTreeSet::new();
        for pack in &packs {
            for spec in &pack.checks {
                let name = spec.name();
                let hit = ran
                    .iter()
                    .any(|t| t.policy_id.pack() == Some(pack.id.as_str()) && t.check == name);
                if hit {
                    read_keys.extend(spec.limit_keys().into_iter().map(str::to_owned));
                }
                items.push(("check", format!("{}/{name}", pack.id), hit));
            }
            for t in ran
                .iter()
                .filter(|t| t.policy_id.pack() == Some(pack.id.as_str()))
            {
                hits.extend(t.matched.iter().map(String::as_str));
            }
        }
        let Some(limits) = passport.limits_for(&cap.id) else {
            continue;
        };
        for (key, value) in limits {
            items.push((
                "limit",
                format!("limits.{}.{key}", cap.id),
                read_keys.contains(key),
            ));
            for entry in value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let hit = hits.contains(format!("{key}: {entry}").as_str());
                items.push(("entry", format!("limits.{}.{key}: {entry}", cap.id), hit));
            }
        }
    }
    Ok(Coverage { items })
}

fn text_report(ran: &[Ran], c: &Coverage) -> String {
    let color = super::color();
    let mark = |ok: bool| match (ok, color) {
        (true, true) => "\x1b[32mPASS\x1b[0m",
        (false, true) => "\x1b[31mFAIL\x1b[0m",
        (true, false) => "PASS",
        (false, false) => "FAIL",
    };
    let mut out = String::new();
    for r in ran {
        out.push_str(&format!("{}  {}: {}\n", mark(r.passed()), r.file, r.name));
        if !r.passed() {
            for line in r.diff().lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    let failed = ran.iter().filter(|r| !r.passed()).count();
    out.push_str(&format!(
        "\n{} passed, {failed} failed\ncoverage {:.0}%\n",
        ran.len() - failed,
        c.percent()
    ));
    for (kind, label) in [
        ("check", "checks"),
        ("limit", "limits"),
        ("entry", "list entries"),
    ] {
        let (hit, total) = c.count(kind);
        out.push_str(&format!("  {label:<13} {hit:>3}/{total:<3}\n"));
        for n in c.never(kind) {
            out.push_str(&format!("      never: {n}\n"));
        }
    }
    out
}

fn json_report(ran: &[Ran], c: &Coverage) -> Value {
    json!({
        "passed": ran.iter().filter(|r| r.passed()).count(),
        "failed": ran.iter().filter(|r| !r.passed()).count(),
        "cases": ran.iter().map(|r| json!({
            "file": r.file,
            "name": r.name,
            "passed": r.passed(),
            "expected": {"verdict": r.expect.verdict, "reason": r.expect.reason},
            "got": {"verdict": r.verdict, "reason": r.reason, "message": r.message},
        })).collect::<Vec<_>>(),
        "coverage": {
            "percent": (c.percent() * 10.0).round() / 10.0,
            "items": c.items.iter().map(|(k, i, h)| json!({"kind": k, "item": i, "exercised": h})).collect::<Vec<_>>(),
        },
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn junit(ran: &[Ran], c: &Coverage) -> String {
    let failed = ran.iter().filter(|r| !r.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuite name=\"toolgate\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
        ran.len()
    ));
    out.push_str(&format!(
        "  <properties><property name=\"coverage_percent\" value=\"{:.1}\"/></properties>\n",
        c.percent()
    ));
    for r in ran {
        out.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&r.file),
            xml_escape(&r.name)
        ));
        if r.passed() {
            out.push_str("/>\n");
        } else {
            out.push_str(&format!(
                ">\n    <failure message=\"expected {}, got {}\">{}</failure>\n  </testcase>\n",
                r.expect.verdict.as_str(),
                r.verdict.as_str(),
                xml_escape(&r.diff())
            ));
        }
    }
    out.push_str("</testsuite>\n");
    out
}

/// The reason code spelled in a fixture must exist: a typo would make a case pass never.
pub fn check_reason(code: &str) -> anyhow::Result<()> {
    let by_pack = || {
        Catalog::embedded().is_ok_and(|c| {
            c.packs()
                .flat_map(|p| p.checks.iter().filter_map(|k| k.code()))
                .any(|k| k.as_str() == code)
        })
    };
    if ReasonCode::parse(code).is_some() || by_pack() {
        return Ok(());
    }
    let nearest = ReasonCode::ALL
        .iter()
        .min_by_key(|c| toolgate::packs::edit_distance(code, c.as_str()))
        .map(|c| c.as_str())
        .unwrap_or("oap.allowed");
    bail!("unknown reason code `{code}` (did you mean `{nearest}`?)")
}
