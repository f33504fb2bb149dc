//! The golden corpus: every case in tests/corpus/*.json is a tool call (or a
//! host hook input), a passport profile with optional limit overrides, and the
//! expected verdict and reason code, run through the pure `decision::decide`.
//! Add a case by adding a line to a file; see tests/corpus/README.md.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use toolgate::decision::{decide, DirEntry, EntryKind, Environment, Evaluation, FsView, Request};
use toolgate::gate::read_call;
use toolgate::hosts::tool_map::Resolution;
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::StateSnapshot;

/// The session every non-hook case runs in (hook inputs carry their own).
const SESSION: &str = "s";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    policy: Option<String>,
    passport: Option<String>,
    /// The context field `in` fills (`command`, `path`, `url`).
    field: Option<String>,
    cwd: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The value of the default field.
    #[serde(rename = "in")]
    input: Option<Value>,
    policy: Option<String>,
    passport: Option<String>,
    /// Extra or overriding context fields.
    #[serde(default)]
    context: Map<String, Value>,
    /// Per-capability limit overrides merged into the profile.
    #[serde(default)]
    limits: Map<String, Value>,
    /// A raw hook input, run through host detection and the tool map instead.
    host_input: Option<Value>,
    /// Files the agent wrote earlier in the case's session (write, then run).
    #[serde(default)]
    written: Vec<String>,
    /// `allow`, `review`, or `deny oap.code`.
    expect: String,
    /// Where the bypass was reported, when it came from a public tracker.
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    defaults: Defaults,
    cases: Vec<Case>,
}

/// A fake file system: `links` maps a path to its symlink target; `files`
/// holds every regular file (with its text), their parent directories
/// existing implicitly. A path canonicalizes when it exists.
struct TreeFs {
    links: Vec<(PathBuf, PathBuf)>,
    files: BTreeMap<PathBuf, String>,
    dirs: BTreeSet<PathBuf>,
}

impl TreeFs {
    fn new(links: Vec<(PathBuf, PathBuf)>, files: BTreeMap<PathBuf, String>) -> TreeFs {
        let mut dirs = BTreeSet::new();
        for p in files.keys().chain(links.iter().map(|(l, _)| l)) {
            dirs.extend(p.ancestors().skip(1).map(Path::to_path_buf));
        }
        TreeFs { links, files, dirs }
    }

    /// Resolves every link on the way; `None` for a path that does not exist.
    fn resolve(&self, path: &Path) -> (PathBuf, bool) {
        let mut out = PathBuf::from("/");
        let mut linked = false;
        for c in path.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => {
                    out.push(n);
                    let mut hops = 0;
                    while let Some((_, t)) = self.links.iter().find(|(l, _)| *l == out) {
                        out = t.clone();
                        linked = true;
                        hops += 1;
                        if hops > 8 {
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        (out, linked)
    }

    fn exists(&self, p: &Path) -> bool {
        self.files.contains_key(p) || self.dirs.contains(p)
    }
}

impl FsView for TreeFs {
    /// An archive or patch in the tree is a manifest: `members:` then one name
    /// a line, `NAME -> TARGET` a symlink, `NAME => TARGET` a hard link.
    fn archive_members(
        &self,
        path: &Path,
        _format: toolgate::checks::extract::Format,
    ) -> Result<Vec<toolgate::checks::extract::Member>, toolgate::checks::extract::Unlisted> {
        use toolgate::checks::extract::{Member, MemberKind, Unlisted};
        let (p, _) = self.resolve(path);
        let text = self
            .files
            .get(&p)
            .ok_or_else(|| Unlisted("it does not exist".into()))?;
        let lines = text
            .strip_prefix("members:\n")
            .ok_or_else(|| Unlisted("it is not an archive toolgate can read".into()))?;
        Ok(lines
            .lines()
            .map(|l| match (l.split_once(" -> "), l.split_once(" => ")) {
                (Some((n, t)), _) => Member {
                    name: n.into(),
                    kind: MemberKind::Symlink(t.into()),
                },
                (_, Some((n, t))) => Member {
                    name: n.into(),
                    kind: MemberKind::Hardlink(t.into()),
                },
                _ => Member::file(l),
            })
            .collect())
    }

    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        let (out, linked) = self.resolve(path);
        (linked || self.exists(&out)).then_some(out)
    }

    fn read_dir(&self, path: &Path) -> Option<Vec<DirEntry>> {
        let (dir, _) = self.resolve(path);
        if !self.dirs.contains(&dir) {
            return None;
        }
        let mut out: BTreeMap<String, EntryKind> = BTreeMap::new();
        let child = |p: &Path| {
            (p.parent() == Some(dir.as_path()))
                .then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        };
        for f in self.files.keys() {
            out.extend(child(f).map(|n| (n, EntryKind::File)));
        }
        for d in &self.dirs {
            out.extend(child(d).map(|n| (n, EntryKind::Dir)));
        }
        for (l, _) in &self.links {
            out.extend(child(l).map(|n| (n, EntryKind::Symlink)));
        }
        Some(
            out.into_iter()
                .map(|(name, kind)| DirEntry { name, kind })
                .collect(),
        )
    }

    fn read_small(&self, path: &Path, max: usize) -> Option<String> {
        let (p, _) = self.resolve(path);
        self.files.get(&p).map(|t| t.chars().take(max).collect())
    }
}

fn passport(profiles: &Value, name: &str, overrides: &Map<String, Value>) -> Passport {
    let p = profiles
        .get(name)
        .unwrap_or_else(|| panic!("no passport profile `{name}`"));
    let mut limits = p["limits"].as_object().cloned().unwrap();
    for (cap, o) in overrides {
        let slot = limits.entry(cap.clone()).or_insert_with(|| json!({}));
        for (k, v) in o.as_object().expect("limit overrides are objects") {
            slot[k] = v.clone();
        }
    }
    let caps: Vec<Value> = p["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"id": c}))
        .collect();
    Passport::from_value(&json!({
        "passport_id": "00000000-0000-4000-8000-000000000001",
        "kind": "instance", "spec_version": "oap/1.0", "owner_id": "corpus", "owner_type": "user",
        "assurance_level": p.get("assurance_level").cloned().unwrap_or(json!("L2")),
        "status": "active", "capabilities": caps, "limits": limits,
        "regions": ["US", "EU"],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap_or_else(|e| panic!("profile {name}: {e}"))
}

fn run_case(
    catalog: &Catalog,
    profiles: &Value,
    env: &Environment,
    d: &Defaults,
    c: &Case,
) -> Result<Evaluation, String> {
    let pname = c
        .passport
        .as_deref()
        .or(d.passport.as_deref())
        .unwrap_or("dev");
    let pp = passport(profiles, pname, &c.limits);
    let mut state = StateSnapshot::default();
    if !c.written.is_empty() {
        state
            .written
            .insert(SESSION.into(), c.written.iter().cloned().collect());
    }
    let request = if let Some(hook) = &c.host_input {
        let bytes = serde_json::to_vec(hook).unwrap();
        let call = match read_call(&bytes, None) {
            Ok(call) => call,
            Err((_, r)) => {
                return Ok(Evaluation::early_deny(
                    toolgate::decision::PolicyRef::NoPack,
                    r,
                ))
            }
        };
        let map = catalog.tool_map(call.host.as_str()).ok_or("no tool map")?;
        match map.resolve(&call, &[]) {
            Ok(Resolution::Request(r)) => r,
            Ok(Resolution::Harmless) => return Err("harmless tool".into()),
            Err(r) => {
                return Ok(Evaluation::early_deny(
                    toolgate::decision::PolicyRef::NoPack,
                    r,
                ))
            }
        }
    } else {
        let mut context = Map::new();
        context.insert("session".into(), json!(SESSION));
        if let Some(cwd) = &d.cwd {
            context.insert("cwd".into(), json!(cwd));
        }
        if let Some(v) = &c.input {
            let f = d.field.as_deref().ok_or("`in` needs defaults.field")?;
            context.insert(f.into(), v.clone());
        }
        for (k, v) in &c.context {
            context.insert(k.clone(), v.clone());
        }
        Request {
            policy_id: c.policy.clone().or(d.policy.clone()).ok_or("no policy")?,
            context,
        }
    };
    Ok(decide(&pp, catalog, &request, &state, env))
}

#[test]
fn golden_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let profiles: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("passports.json")).unwrap())
            .unwrap();
    let catalog = Catalog::embedded().unwrap();
    let pairs = |key: &str| -> Vec<(PathBuf, String)> {
        profiles[key]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (PathBuf::from(k), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fs = TreeFs::new(
        pairs("_links")
            .into_iter()
            .map(|(k, v)| (k, PathBuf::from(v)))
            .collect(),
        pairs("_tree").into_iter().collect(),
    );
    let env = Environment {
        rollout: Default::default(),
        now: time::macros::datetime!(2026-06-01 12:00 UTC),
        home: Some(PathBuf::from("/home/u")),
        roots: vec![PathBuf::from("/work/proj"), PathBuf::from("/work/bare")],
        protected: toolgate::checks::protect::Protected::from_paths([
            PathBuf::from("/home/u/.config/toolgate"),
            PathBuf::from("/work/proj/.toolgate"),
            PathBuf::from("/work/proj/.claude/settings.json"),
        ]),
        fs: &fs,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("passports.json"))
        .collect();
    files.sort();
    let (mut total, mut allows, mut failures) = (0, 0, Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let file: CorpusFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (i, c) in file.cases.iter().enumerate() {
            total += 1;
            let name = format!(
                "{}#{i} {}",
                f.file_name().unwrap().to_string_lossy(),
                c.input
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| c.note.clone().unwrap_or_default())
            );
            let (want_verdict, want_code) = match c.expect.split_once(' ') {
                Some((v, code)) => (v, Some(code)),
                None => (c.expect.as_str(), None),
            };
            if want_verdict == "allow" {
                allows += 1;
            }
            match run_case(&catalog, &profiles, &env, &file.defaults, c) {
                Err(e) => failures.push(format!("{name}: {e}")),
                Ok(ev) => {
                    let got_code = ev.reasons.first().map(|r| r.code.as_str());
                    let ok = ev.verdict.as_str() == want_verdict
                        && want_code.is_none_or(|w| got_code == Some(w));
                    if !ok {
                        failures.push(format!(
                            "{name}: expected `{}`, got {} {} ({})",
                            c.expect,
                            ev.verdict.as_str(),
                            got_code.unwrap_or("-"),
                            ev.reasons.first().map(|r| r.message.as_str()).unwrap_or("")
                        ));
                    }
                }
            }
            if want_verdict == "deny" && want_code.is_none() {
                failures.push(format!("{name}: a deny case must name its reason code"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 300, "the corpus has only {total} cases");
    assert!(allows >= 60, "the corpus has only {allows} allowed cases");
}
