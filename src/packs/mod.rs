//! Policy packs: versioned, declarative data that names a capability, a
//! minimum assurance level, the context fields it reads and the checks it
//! applies. Packs live in `policy-packs/` (embedded at build time) and can be
//! overridden or extended from a directory.

mod context_schema;
mod spec;
pub mod tool_map;

pub use context_schema::ContextSchema;
pub use spec::{Access, AssuranceTier, CheckSpec, ControlRule, When, MAX_COUNT_WINDOW};

use crate::passport::model::{is_dotted_id, AssuranceLevel};
use crate::passport::Passport;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tool_map::ToolMap;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_packs.rs"));
}

/// A pack that failed to load, with the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// What about the file is wrong: its JSON, its shape or a rule it breaks (kept as
    /// text because a parsed pack is cached and shared).
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    #[error("cannot read pack directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Which of a pack's capabilities a call needs (APort's `capability_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityMode {
    /// Every capability in `requires_capabilities`.
    #[default]
    All,
    /// Those `action_capabilities` lists for the call's `action` ([`ACTION_FIELD`]):
    /// creating a pull request needs `repo.pr.create`, merging one `repo.merge`.
    ActionDependent,
}

/// The context field an action-dependent pack reads its action from (APort's name).
pub const ACTION_FIELD: &str = "action";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackStatus {
    Active,
    Beta,
    Deprecated,
}

/// One policy pack. Field names follow the OAP policy pack schema; `checks`
/// replaces OAP's JavaScript expressions with a closed set of primitives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub status: PackStatus,
    pub requires_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "is_all")]
    pub capability_mode: CapabilityMode,
    /// With `capability_mode: action_dependent`: action -> the capabilities it needs.
    /// An action not listed is refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub action_capabilities: BTreeMap<String, Vec<String>>,
    /// The key of the passport's `limits` block the checks read, where it is not the
    /// capability: APort keeps this pack's limits under `limits["code.repository.merge"]`
    /// while the capabilities are `repo.pr.create` and `repo.merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits_key: Option<String>,
    pub min_assurance: AssuranceLevel,
    /// Limit keys the passport must carry for this pack to decide anything.
    #[serde(default)]
    pub limits_required: Vec<String>,
    /// Context fields that must be present.
    #[serde(default)]
    pub required_fields: Vec<String>,
    #[serde(default)]
    pub optional_fields: Vec<String>,
    /// A JSON Schema the whole context must satisfy (OAP's `required_context`): types,
    /// minimums, lengths, patterns. A violation is `oap.invalid_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_context: Option<ContextSchema>,
    /// Other names a context field goes by in other packs (APort's `amount_minor` for
    /// `amount`): alias -> the field the checks read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_aliases: BTreeMap<String, String>,
    /// Other names a limit goes by (APort's `refund_reason_codes` for `reason_codes`):
    /// alias -> the limit the checks read. Layering and delegation treat both as one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limit_aliases: BTreeMap<String, String>,
    /// A passport with no block under `limits_key` may write the pack's limits at the top
    /// of `limits` instead (`limits.max_prs_per_day`), as APort's passports may. Every
    /// limit the pack knows is read there, so none written flat is silently dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat_limits: bool,
    /// Limits read from the passport's `integrations` rather than its `limits`: limit ->
    /// dotted path (`github_allowed_actors` -> `github.allowed_actors`, APort's
    /// `passport.integrations.github.allowed_actors`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_limits: BTreeMap<String, String>,
    pub checks: Vec<CheckSpec>,
}

fn is_all(m: &CapabilityMode) -> bool {
    *m == CapabilityMode::All
}

impl Pack {
    /// The pack's first required capability: the one its limits are filed under unless
    /// it names a `limits_key`.
    pub fn capability(&self) -> &str {
        // The loader refuses a pack that requires none; "" would grant nothing.
        self.requires_capabilities
            .first()
            .map_or("", String::as_str)
    }

    /// The key of the passport's `limits` block this pack's checks read (and under which
    /// its counters keep their state).
    pub fn limits_key(&self) -> &str {
        self.limits_key
            .as_deref()
            .unwrap_or_else(|| self.capability())
    }

    /// The limits this pack's checks read in a passport: its block under `limits_key`
    /// (or, with `flat_limits` and no block, the pack's keys at the top of `limits`),
    /// with the `integration_limits` added. Errs when a limit is set both in the block
    /// and under `integrations`, differently.
    pub fn limits_in<'p>(&self, p: &'p Passport) -> Result<Cow<'p, Map<String, Value>>, String> {
        let block = match p.limits_for(self.limits_key()) {
            Some(b) => Cow::Borrowed(b),
            None if self.flat_limits => {
                let known = self.limit_keys();
                let flat = p.limits.iter().filter(|(k, _)| known.contains(k.as_str()));
                Cow::Owned(flat.map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            None => Cow::Owned(Map::new()),
        };
        let mut out = block;
        for (name, path) in &self.integration_limits {
            let Some(v) = p.integration(path).filter(|v| !v.is_null()) else {
                continue;
            };
            match out.get(name) {
                Some(have) if have != v => {
                    return Err(format!(
                        "the passport sets `{name}` under limits.{} and as integrations.{path}, differently; keep one",
                        self.limits_key()
                    ))
                }
                Some(_) => {}
                None => {
                    out.to_mut().insert(name.clone(), v.clone());
                }
            }
        }
        Ok(out)
    }

    /// Every limit key the pack knows: required, read by a check, or an alias of one.
    fn limit_keys(&self) -> BTreeSet<&str> {
        self.limits_required
            .iter()
            .map(String::as_str)
            .chain(self.checks.iter().flat_map(|c| c.limit_keys()))
            .chain(self.limit_aliases.keys().map(String::as_str))
            .collect()
    }

    /// Whether the passport grants a capability some call under this pack needs.
    pub fn usable_by(&self, p: &Passport) -> bool {
        self.requires_capabilities
            .iter()
            .chain(self.action_capabilities.values().flatten())
            .any(|c| p.grants(c))
    }

    /// The capabilities a call with this context needs, or why that cannot be told
    /// (an action-dependent pack and a call whose action it does not list).
    pub fn capabilities_for(&self, context: &Map<String, Value>) -> Result<&[String], String> {
        match self.capability_mode {
            CapabilityMode::All => Ok(&self.requires_capabilities),
            CapabilityMode::ActionDependent => {
                let Some(action) = context.get(ACTION_FIELD).and_then(|v| v.as_str()) else {
                    return Err(format!(
                        "{} needs the call's `{ACTION_FIELD}` to know which capability it requires",
                        self.id
                    ));
                };
                self.action_capabilities
                    .get(action)
                    .map(Vec::as_slice)
                    .ok_or_else(|| {
                        let known: Vec<&str> = self
                            .action_capabilities
                            .keys()
                            .map(String::as_str)
                            .collect();
                        format!(
                            "`{ACTION_FIELD}` `{action}` is not one of the actions {} knows ({})",
                            self.id,
                            known.join(", ")
                        )
                    })
            }
        }
    }

    fn validate(&self, file: &str) -> Result<(), PackError> {
        let bad = |problem: String| PackError::Invalid {
            file: file.into(),
            problem,
        };
        let versioned = self.id.rsplit_once(".v").is_some_and(|(base, v)| {
            is_dotted_id(base) && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
        });
        if !versioned {
            return Err(bad(format!(
                "id `{}` is not of the form domain.capability.vN",
                self.id
            )));
        }
        if self.id.ends_with(".v0") {
            return Err(bad(format!(
                "id `{}`: version 0 is reserved for decisions no pack made; start at v1",
                self.id
            )));
        }
        if self.requires_capabilities.is_empty() {
            return Err(bad(
                "requires_capabilities must name at least one capability".into(),
            ));
        }
        if let Some(c) = self.requires_capabilities.iter().find(|c| !is_dotted_id(c)) {
            return Err(bad(format!("capability `{c}` is not a dotted id")));
        }
        if self.checks.is_empty() {
            return Err(bad("a pack with no checks would allow everything".into()));
        }
        if let Some(k) = self.limits_key.as_deref().filter(|k| !is_dotted_id(k)) {
            return Err(bad(format!("limits_key `{k}` is not a dotted id")));
        }
        match self.capability_mode {
            CapabilityMode::All if !self.action_capabilities.is_empty() => {
                return Err(bad(
                    "action_capabilities needs capability_mode: action_dependent".into(),
                ))
            }
            CapabilityMode::ActionDependent => {
                if !self.required_fields.iter().any(|f| f == ACTION_FIELD) {
                    return Err(bad(format!(
                        "an action_dependent pack must require the `{ACTION_FIELD}` field"
                    )));
                }
                let caps: Vec<&String> = self.action_capabilities.values().flatten().collect();
                if self.action_capabilities.values().any(Vec::is_empty) || caps.is_empty() {
                    return Err(bad(
                        "action_capabilities must map each action to at least one capability"
                            .into(),
                    ));
                }
                if let Some(c) = caps.iter().find(|c| !is_dotted_id(c)) {
                    return Err(bad(format!("capability `{c}` is not a dotted id")));
                }
            }
            CapabilityMode::All => {}
        }
        let known: Vec<&str> = self
            .required_fields
            .iter()
            .chain(&self.optional_fields)
            .map(String::as_str)
            .collect();
        for (alias, name) in &self.field_aliases {
            if !known.contains(&name.as_str()) || known.contains(&alias.as_str()) {
                return Err(bad(format!(
                    "field_aliases maps `{alias}` to `{name}`: the target must be a declared field and the alias must not be one"
                )));
            }
        }
        let limit_keys: BTreeSet<&str> = self
            .limits_required
            .iter()
            .map(String::as_str)
            .chain(self.checks.iter().flat_map(|c| c.limit_keys()))
            .collect();
        for (alias, name) in &self.limit_aliases {
            if !limit_keys.contains(name.as_str()) || limit_keys.contains(alias.as_str()) {
                return Err(bad(format!(
                    "limit_aliases maps `{alias}` to `{name}`: the target must be a limit the pack reads and the alias must not be one"
                )));
            }
        }
        for (name, path) in &self.integration_limits {
            let dotted = path.split('.').all(|s| !s.is_empty()) && path.contains('.');
            if !limit_keys.contains(name.as_str()) || !dotted {
                return Err(bad(format!(
                    "integration_limits maps `{name}` to `{path}`: the limit must be one a check reads and the path dotted (`github.allowed_actors`)"
                )));
            }
        }
        let mut counters = BTreeSet::new();
        for (i, c) in self.checks.iter().enumerate() {
            if matches!(c, CheckSpec::MaxSum { divide_by: 0, .. }) {
                return Err(bad(format!("checks[{i}] divides by 0")));
            }
            if let CheckSpec::Count {
                counter,
                window_seconds,
                ..
            } = c
            {
                if !(1..=MAX_COUNT_WINDOW).contains(window_seconds) {
                    return Err(bad(format!(
                        "checks[{i}] counts over {window_seconds} s; a count window is 1 to {MAX_COUNT_WINDOW} s"
                    )));
                }
                if counter.is_empty() || counter.contains('|') || !counters.insert(counter.as_str())
                {
                    return Err(bad(format!(
                        "checks[{i}] names counter `{counter}`, which is empty, contains `|` or is used twice"
                    )));
                }
            }
            for f in c.fields() {
                if !known.contains(&f) {
                    return Err(bad(format!(
                        "checks[{i}] reads field `{f}`, which is neither in required_fields nor optional_fields"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A file parsed on first use: a hook process reads only the pack and tool map its call needs.
#[derive(Debug)]
struct Lazy<T> {
    text: std::borrow::Cow<'static, str>,
    source: String,
    parsed: OnceLock<Result<T, String>>,
}

impl<T> Lazy<T> {
    fn new(text: std::borrow::Cow<'static, str>, source: String) -> Lazy<T> {
        Lazy {
            text,
            source,
            parsed: OnceLock::new(),
        }
    }

    fn get(&self, parse: impl FnOnce(&str, &str) -> Result<T, String>) -> Result<&T, PackError> {
        self.parsed
            .get_or_init(|| parse(&self.text, &self.source))
            .as_ref()
            .map_err(|problem| PackError::Invalid {
                file: self.source.clone(),
                problem: problem.clone(),
            })
    }
}

/// Why a pack or tool map could not be had.
/// A passport limit no pack reads, with the valid key nearest to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{capability}.{key} is not a limit any policy pack for {capability} reads{}; fix the key or remove it", .nearest.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())]
pub struct UnknownLimit {
    pub capability: String,
    pub key: String,
    pub nearest: Option<String>,
}

/// Levenshtein distance over characters (short keys only).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        // Row i+1 from row i: `diag` is the cell up and left, `left` the one just written.
        let (mut diag, mut left) = (i, i + 1);
        let mut next = Vec::with_capacity(row.len());
        next.push(left);
        for (cb, &up) in b.iter().zip(row.iter().skip(1)) {
            let v = (diag + usize::from(ca != *cb)).min(left + 1).min(up + 1);
            next.push(v);
            diag = up;
            left = v;
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no policy pack or tool map named `{0}`")]
    Unknown(String),
    #[error(transparent)]
    Invalid(#[from] PackError),
}

/// Every pack and host tool map in force, by id and host name. Files are
/// indexed by name (`<id>.json`, `hosts/<host>.json`) and parsed when first used.
#[derive(Debug, Default)]
pub struct Catalog {
    packs: BTreeMap<String, Lazy<Pack>>,
    tool_maps: BTreeMap<String, Lazy<ToolMap>>,
    /// SHA-256 over the files layered on the built-in ones, when there are any.
    overrides: Option<sha2::Sha256>,
}

impl Catalog {
    /// The packs and tool maps built into the binary.
    pub fn embedded() -> Result<Catalog, PackError> {
        let mut c = Catalog::default();
        for (rel, text) in embedded::EMBEDDED {
            c.add_file(
                rel,
                std::borrow::Cow::Borrowed(text),
                format!("{BUILT_IN}{rel}"),
            );
        }
        Ok(c)
    }

    /// The built-in catalog with a directory's files layered on top (same id or host replaces).
    pub fn with_overrides(dir: Option<&Path>) -> Result<Catalog, PackError> {
        let mut c = Catalog::embedded()?;
        if let Some(dir) = dir {
            c.load_dir(dir, dir)?;
        }
        Ok(c)
    }

    fn load_dir(&mut self, dir: &Path, root: &Path) -> Result<(), PackError> {
        let err = |source: std::io::Error| PackError::Dir {
            dir: dir.into(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                self.load_dir(&p, root)?;
            } else if p.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&p).map_err(err)?;
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                let h = self.overrides.get_or_insert_with(Default::default);
                for part in [rel.as_bytes(), text.as_bytes()] {
                    sha2::Digest::update(h, (part.len() as u64).to_be_bytes());
                    sha2::Digest::update(h, part);
                }
                self.add_file(&rel, std::borrow::Cow::Owned(text), p.display().to_string());
            }
        }
        Ok(())
    }

    /// What this catalog is: the built-in files' digest (computed when the binary was
    /// built), or with overrides a digest over it and every file layered on top. Two
    /// catalogs with one digest hold the same files, so anything derived from the packs
    /// alone (the limit-key check) may be remembered under it.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        match &self.overrides {
            None => embedded::DIGEST.to_owned(),
            Some(h) => {
                let mut h = h.clone();
                h.update(embedded::DIGEST.as_bytes());
                let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            }
        }
    }

    fn add_file(&mut self, rel: &str, text: std::borrow::Cow<'static, str>, source: String) {
        let stem = rel
            .rsplit('/')
            .next()
            .unwrap_or(rel)
            .trim_end_matches(".json")
            .to_string();
        if rel.starts_with("hosts/") {
            self.tool_maps.insert(stem, Lazy::new(text, source));
        } else {
            self.packs.insert(stem, Lazy::new(text, source));
        }
    }

    /// A pack by id, parsed and validated.
    pub fn pack_checked(&self, id: &str) -> Result<&Pack, LookupError> {
        let entry = self
            .packs
            .get(id)
            .ok_or_else(|| LookupError::Unknown(id.into()))?;
        Ok(entry.get(|text, source| {
            let pack: Pack = parse_file(text, source)?;
            if pack.id != id {
                return Err(format!(
                    "declares id `{}` but the file is named `{id}.json`",
                    pack.id
                ));
            }
            pack.validate(source).map_err(|e| e.to_string())?;
            Ok(pack)
        })?)
    }

    /// A pack by id; `None` when unknown or invalid (use `pack_checked` to tell which).
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.pack_checked(id).ok()
    }

    /// Every pack, each parsed and validated (for documentation and `validate_all`).
    pub fn packs(&self) -> impl Iterator<Item = &Pack> {
        self.packs.keys().filter_map(|id| self.pack(id))
    }

    /// A host's tool map, parsed and validated.
    pub fn tool_map_checked(&self, host: &str) -> Result<&ToolMap, LookupError> {
        let entry = self
            .tool_maps
            .get(host)
            .ok_or_else(|| LookupError::Unknown(host.into()))?;
        Ok(entry.get(|text, source| {
            let map: ToolMap = parse_file(text, source)?;
            if map.host != host {
                return Err(format!(
                    "declares host `{}` but the file is named `{host}.json`",
                    map.host
                ));
            }
            map.validate()?;
            Ok(map)
        })?)
    }

    pub fn tool_map(&self, host: &str) -> Option<&ToolMap> {
        self.tool_map_checked(host).ok()
    }

    /// Parses every file, returning the first error (CI and `--packs-dir` users want all problems up front).
    pub fn validate_all(&self) -> Result<(), LookupError> {
        for id in self.packs.keys() {
            self.pack_checked(id)?;
        }
        for host in self.tool_maps.keys() {
            self.tool_map_checked(host)?;
        }
        Ok(())
    }

    /// The first limit key under a granted capability that no pack for that
    /// capability reads: a typo there (`blocked_pattern`) would otherwise
    /// silently drop the rule its author meant. Capabilities no pack serves
    /// are left alone (their limits are for someone else to read).
    pub fn unknown_limit(&self, p: &Passport) -> Option<UnknownLimit> {
        for (block_key, block) in &p.limits {
            let Some(limits) = block.as_object() else {
                continue;
            };
            let mut known: BTreeSet<&str> = BTreeSet::new();
            let mut served = false;
            // Only blocks the passport can use: a pack reading this block whose
            // capabilities it grants (a block for an ungranted capability is inert).
            for pack in self.packs_reading(block_key).filter(|k| k.usable_by(p)) {
                served = true;
                known.extend(pack.limits_required.iter().map(String::as_str));
                known.extend(pack.limit_aliases.keys().map(String::as_str));
                for c in &pack.checks {
                    known.extend(c.limit_keys());
                }
            }
            if !served {
                continue;
            }
            if let Some(key) = limits.keys().find(|k| !known.contains(k.as_str())) {
                let nearest = known
                    .iter()
                    .min_by_key(|k| edit_distance(key, k))
                    .map(|k| k.to_string());
                return Some(UnknownLimit {
                    capability: block_key.clone(),
                    key: key.clone(),
                    nearest,
                });
            }
        }
        None
    }

    /// The packs whose checks read the passport's `limits[key]`. Only files that can
    /// name `key` are parsed (a hook would otherwise parse every pack, compiling each
    /// `required_context` schema, to check one passport's limit keys): the block key is
    /// a pack's `limits_key` or its capability, so it is in the text as `"key"`, since
    /// letters, digits, `.`, `_` and `-` are written as themselves in JSON unless as a
    /// `\u` escape. A key with any other character has every file parsed.
    pub fn packs_reading<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Pack> + 'a {
        let quoted = format!("\"{key}\"");
        let plain = key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        self.packs
            .iter()
            .filter(move |(_, e)| {
                !plain
                    || e.parsed.get().is_some()
                    || e.text.contains(&quoted)
                    || e.text.contains("\\u")
            })
            .filter_map(|(id, _)| self.pack(id))
            .filter(move |p| p.limits_key() == key)
    }

    /// Where a pack or tool map came from.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        self.packs
            .get(key)
            .map(|e| e.source.as_str())
            .or_else(|| self.tool_maps.get(key).map(|e| e.source.as_str()))
    }

    /// Inserts a pack directly (tests and embedders).
    pub fn insert_pack(&mut self, pack: Pack) -> Result<(), PackError> {
        pack.validate(&pack.id.clone())?;
        let entry = Lazy::new(
            std::borrow::Cow::Borrowed(""),
            format!("inserted:{}", pack.id),
        );
        let id = pack.id.clone();
        // An inserted pack changes what the catalog is, like an override file.
        let h = self.overrides.get_or_insert_with(Default::default);
        let text = serde_json::to_vec(&pack).unwrap_or_default();
        for part in [b"inserted:".as_slice(), id.as_bytes(), &text] {
            sha2::Digest::update(h, (part.len() as u64).to_be_bytes());
            sha2::Digest::update(h, part);
        }
        let _ = entry.parsed.set(Ok(pack));
        self.packs.insert(id, entry);
        Ok(())
    }
}

/// Where a built-in file says it came from.
const BUILT_IN: &str = "built-in:";

/// Strict JSON into a typed value, with the failing field's path in the message. A file
/// built into the binary is read straight into its type (no intermediate tree, no duplicate
/// key scan: a unit test holds every built-in file to the strict reading, which gives the
/// same value); only if that fails is it read the strict way, to say why.
fn parse_file<T: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<T, String> {
    if source.starts_with(BUILT_IN) {
        if let Ok(v) = serde_json::from_str(text) {
            return Ok(v);
        }
    }
    let value = crate::canonical::parse_strict(text.as_bytes()).map_err(|e| e.to_string())?;
    // A valid file (every built-in one) is read without tracking paths; only a failure
    // is read again to say where.
    T::deserialize(&value).or_else(|_| {
        serde_path_to_error::deserialize(&value).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_checks_implicit_limits_are_known_to_the_catalog() {
        let mut want: Vec<&str> = crate::checks::command::OPT_IN_FLAGS.to_vec();
        want.push(crate::checks::command::ENV_LIMIT);
        assert_eq!(spec::COMMAND_IMPLICIT_LIMITS, want.as_slice());
    }

    #[test]
    fn every_built_in_file_reads_the_same_straight_as_the_strict_way() {
        fn strict<T: serde::de::DeserializeOwned>(text: &str) -> T {
            let value = crate::canonical::parse_strict(text.as_bytes()).unwrap();
            T::deserialize(&value).unwrap()
        }
        for (rel, text) in embedded::EMBEDDED {
            let source = format!("{BUILT_IN}{rel}");
            let (fast, slow) = if rel.starts_with("hosts/") {
                let fast: ToolMap = parse_file(text, &source).unwrap();
                (
                    serde_json::to_value(fast),
                    serde_json::to_value(strict::<ToolMap>(text)),
                )
            } else {
                let fast: Pack = parse_file(text, &source).unwrap();
                (
                    serde_json::to_value(fast),
                    serde_json::to_value(strict::<Pack>(text)),
                )
            };
            assert_eq!(fast.unwrap(), slow.unwrap(), "{rel}");
        }
        // A file from a directory has duplicate keys refused; a built-in one could not have them.
        let dup = r#"{"id": "a", "id": "b"}"#;
        assert!(parse_file::<serde_json::Value>(dup, "/packs/a.json").is_err());
    }

    #[test]
    fn the_catalog_digest_changes_with_any_file_layered_on_the_built_in_ones() {
        let built_in = Catalog::embedded().unwrap().digest();
        assert!(
            built_in.starts_with("sha256:") && built_in.len() == 71,
            "{built_in}"
        );
        assert_eq!(Catalog::with_overrides(None).unwrap().digest(), built_in);
        let dir = tempfile::tempdir().unwrap();
        let (rel, text) = embedded::EMBEDDED
            .iter()
            .find(|(r, _)| !r.starts_with("hosts/"))
            .unwrap();
        // The same bytes as a built-in file: still another catalog (the override could differ).
        std::fs::write(dir.path().join(rel), text).unwrap();
        let same = Catalog::with_overrides(Some(dir.path())).unwrap().digest();
        assert_ne!(same, built_in);
        std::fs::write(dir.path().join(rel), format!("{text} ")).unwrap();
        let edited = Catalog::with_overrides(Some(dir.path())).unwrap().digest();
        assert!(edited != same && edited != built_in);
        let mut c = Catalog::embedded().unwrap();
        let pack = c.packs().next().unwrap().clone();
        c.insert_pack(pack).unwrap();
        assert_ne!(c.digest(), built_in, "an inserted pack is a change too");
    }

    #[test]
    fn an_unknown_limit_key_is_named_with_its_nearest_valid_one() {
        let c = Catalog::embedded().unwrap();
        let mut v = crate::passport::model::tests::sample();
        v["limits"] = serde_json::json!({"system.command.execute": {
            "allowed_commands": ["git status"], "blocked_pattern": ["rm -rf"]}});
        let p = Passport::from_value(&v).unwrap();
        let u = c.unknown_limit(&p).unwrap();
        assert_eq!(u.key, "blocked_pattern");
        assert_eq!(u.nearest.as_deref(), Some("blocked_patterns"));
        assert!(
            u.to_string().contains("did you mean `blocked_patterns`"),
            "{u}"
        );
        v["limits"]["system.command.execute"]
            .as_object_mut()
            .unwrap()
            .remove("blocked_pattern");
        assert_eq!(c.unknown_limit(&Passport::from_value(&v).unwrap()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    use super::*;

    #[test]
    fn builtin_packs_load_and_cover_the_required_ids() {
        let c = Catalog::embedded().unwrap();
        c.validate_all().unwrap();
        for id in [
            "system.command.execute.v1",
            "data.file.read.v1",
            "data.file.write.v1",
            "web.fetch.v1",
            "mcp.tool.execute.v1",
            "finance.payment.refund.v1",
            "data.export.create.v1",
            "code.repository.merge.v1",
        ] {
            assert!(c.pack(id).is_some(), "missing pack {id}");
        }
        for host in ["claude-code", "cursor"] {
            assert!(c.tool_map(host).is_some(), "missing tool map {host}");
        }
    }

    #[test]
    fn a_directory_overrides_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let pack = r#"{"id":"repo.release.publish.v1","name":"Publish","description":"d","version":"1.0.0",
          "status":"active","requires_capabilities":["repo.release.publish"],"min_assurance":"L2",
          "limits_required":["allowed_branches"],"required_fields":["branch"],
          "checks":[{"check":"one_of","field":"branch","limit":"allowed_branches"}]}"#;
        std::fs::write(dir.path().join("repo.release.publish.v1.json"), pack).unwrap();
        let c = Catalog::with_overrides(Some(dir.path())).unwrap();
        assert!(c.pack("repo.release.publish.v1").is_some());
        assert!(c.pack("web.fetch.v1").is_some());
    }

    #[test]
    fn a_pack_must_live_in_a_file_named_after_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/policy-packs/web.fetch.v1.json"
        ))
        .unwrap();
        std::fs::write(dir.path().join("web.fetch.v2.json"), text).unwrap();
        let c = Catalog::with_overrides(Some(dir.path())).unwrap();
        assert!(c
            .pack_checked("web.fetch.v2")
            .unwrap_err()
            .to_string()
            .contains("declares id"));
        assert!(c.pack("web.fetch.v1").is_some());
    }

    #[test]
    fn limits_come_from_the_block_else_flat_and_integrations_fill_their_own() {
        let c = Catalog::embedded().unwrap();
        let merge = c.pack("code.repository.merge.v1").unwrap();
        let mut v = crate::passport::model::tests::sample();
        v["limits"] = serde_json::json!({"max_pr_size_kb": 5, "web.fetch": {"x": 1}, "other": 2});
        v["integrations"] = serde_json::json!({"github": {"allowed_apps": ["a"]}, "slack": {}});
        let p = Passport::from_value(&v).unwrap();
        let l = merge.limits_in(&p).unwrap();
        // Only the pack's own keys are read flat; the integration list joins them.
        let mut keys: Vec<&str> = l.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["github_allowed_apps", "max_pr_size_kb"]);
        // A pack without flat_limits reads no flat key.
        let fetch = c.pack("web.fetch.v1").unwrap();
        assert_eq!(
            fetch.limits_in(&p).unwrap().get("x"),
            Some(&serde_json::json!(1))
        );
        v["limits"] = serde_json::json!({"max_pr_size_kb": 5, "code.repository.merge": {}});
        let p = Passport::from_value(&v).unwrap();
        let keys: Vec<String> = merge.limits_in(&p).unwrap().keys().cloned().collect();
        assert_eq!(keys, ["github_allowed_apps"], "a block, even empty, wins");
    }

    #[test]
    fn malformed_packs_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            r#"{"id":"x.v1"}"#,
            r#"{"id":"nov","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","required_fields":["f"],"checks":[{"check":"one_of","field":"f","limit":"l"}]}"#,
            r#"{"id":"a.v1","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","checks":[]}"#,
            r#"{"id":"a.v0","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","required_fields":["f"],"checks":[{"check":"one_of","field":"f","limit":"l"}]}"#,
            r#"{"id":"a.v1","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","checks":[{"check":"one_of","field":"undeclared","limit":"l"}]}"#,
            r#"{"id":"a.v1","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","required_fields":["f"],"checks":[{"check":"no_such_check","field":"f"}]}"#,
            // An integration limit no check reads, and one whose path is not dotted.
            r#"{"id":"a.v1","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","required_fields":["f"],"integration_limits":{"m":"gh.m"},"checks":[{"check":"one_of","field":"f","limit":"l"}]}"#,
            r#"{"id":"a.v1","name":"n","description":"d","version":"1.0.0","status":"active","requires_capabilities":["a"],"min_assurance":"L0","required_fields":["f"],"integration_limits":{"l":"gh."},"checks":[{"check":"one_of","field":"f","limit":"l"}]}"#,
        ];
        for (i, text) in cases.iter().enumerate() {
            let f = dir.path().join(format!("bad{i}.json"));
            std::fs::write(&f, text).unwrap();
            let c = Catalog::with_overrides(Some(dir.path())).unwrap();
            let err = c.validate_all().unwrap_err().to_string();
            assert!(err.contains(&format!("bad{i}.json")), "{err}");
            std::fs::remove_file(&f).unwrap();
        }
    }
}
