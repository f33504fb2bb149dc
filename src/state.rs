//! History that stateful limits need (daily caps, idempotency, rates, the
//! tripwire), as a plain value handed to the pure decision. The audit module
//! persists it beside the log, under the log's lock.

pub use crate::passport::model::{TripAction, Tripwire, MAX_TRIPWIRE_WINDOW};
use crate::reason::{Reason, ReasonCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most deny timestamps kept per agent, so the state file stays small.
const MAX_DENIES_KEPT: usize = 4096;

/// What one agent has done recently, as far as limits are concerned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// UTC day (`YYYY-MM-DD`) the daily totals belong to.
    #[serde(default)]
    pub day: String,
    /// Minor units allowed today, keyed `capability|CCY`.
    #[serde(default)]
    pub daily_totals: BTreeMap<String, u64>,
    /// Idempotency keys already used, keyed `capability|key`.
    #[serde(default)]
    pub idempotency_keys: BTreeSet<String>,
    /// Unix seconds of recent allowed calls, by capability.
    #[serde(default)]
    pub recent_calls: BTreeMap<String, Vec<i64>>,
    /// Unix seconds of recent denies the tripwire counts (not its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denies: Vec<i64>,
    /// Files the agent wrote, by session: a later program that loads one of
    /// them as configuration or code needs review (write, then run).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub written: BTreeMap<String, BTreeSet<String>>,
    /// The newest passport any decision for this agent was made under: an
    /// older one (a copy put back) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<PassportMark>,
    /// Keyed counts (`count` checks): `capability|counter|digest of the key` -> the
    /// count in its current window. At most [`MAX_COUNT_KEYS`] live keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, WindowCount>,
}

/// One keyed count: `count` allowed calls in the fixed window that starts at `start`
/// (unix seconds, a multiple of `window`) and lasts `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCount {
    pub start: i64,
    pub window: u64,
    pub count: u64,
}

impl WindowCount {
    /// Whether the window is over at `now`: its count no longer limits anything.
    fn closed(&self, now_unix: i64) -> bool {
        self.start.saturating_add(self.window as i64) <= now_unix
    }
}

/// Most keyed counts one agent holds at once (every `count` check of every pack together).
/// A call whose key is new while the table is full is refused, never counted elsewhere and
/// never let through uncounted: a full table cannot reopen a cap. Windows last at most a
/// day, so the table empties as they close.
pub const MAX_COUNT_KEYS: usize = 1024;

/// The start of the fixed window of `window` seconds that holds `now` (windows are aligned
/// to the unix epoch, so a window of 86400 is the UTC day).
pub fn window_start(now_unix: i64, window: u64) -> i64 {
    let w = window.clamp(1, i64::MAX as u64) as i64;
    now_unix - now_unix.rem_euclid(w)
}

/// The state key of a keyed count. The key's value is digested (SHA-256, first 128 bits):
/// a recipient or repository is not kept in the clear in the state file. A digest of a
/// guessable value does not hide it from someone who guesses; it keeps the file from listing them.
pub fn count_key(capability: &str, counter: &str, value: Option<&str>) -> String {
    let digest = match value {
        None => "-".to_string(),
        Some(v) => {
            let d = crate::canonical::digest_bytes(v.as_bytes());
            let hex = d.strip_prefix("sha256:").unwrap_or(&d);
            hex.get(..32).unwrap_or(hex).to_string()
        }
    };
    format!("{capability}|{counter}|{digest}")
}

/// A passport's position in its own history: `version` (MAJOR.MINOR.PATCH) and `updated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportMark {
    pub version: String,
    pub updated_at: String,
}

impl PassportMark {
    fn version_key(&self) -> Option<(u64, u64, u64)> {
        let mut it = self.version.split('.').map(|p| p.parse::<u64>().ok());
        let key = (it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(key)
    }

    fn updated_key(&self) -> Option<i128> {
        time::OffsetDateTime::parse(
            &self.updated_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .map(|t| t.unix_timestamp_nanos())
    }

    /// Why `self` is older than `high` (either field goes back), if it is.
    pub fn older_than(&self, high: &PassportMark) -> Option<String> {
        if let (Some(a), Some(b)) = (self.version_key(), high.version_key()) {
            if a < b {
                return Some(format!(
                    "version {} is older than {}",
                    self.version, high.version
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.updated_key(), high.updated_key()) {
            if a < b {
                return Some(format!(
                    "updated_at {} is older than {}",
                    self.updated_at, high.updated_at
                ));
            }
        }
        None
    }

    /// The newer of two marks, field by field, so neither can go back.
    fn max(self, other: PassportMark) -> PassportMark {
        let updated = (self.updated_key(), other.updated_key());
        let version = match (self.version_key(), other.version_key()) {
            (Some(a), Some(b)) if b > a => other.version.clone(),
            (None, Some(_)) => other.version.clone(),
            _ => self.version,
        };
        let updated_at = match updated {
            (Some(a), Some(b)) if b > a => other.updated_at,
            (None, Some(_)) => other.updated_at,
            _ => self.updated_at,
        };
        PassportMark {
            version,
            updated_at,
        }
    }
}

/// Most idempotency keys one agent holds, every capability together. A used key is never
/// forgotten (a forgotten key could be used again), so once this many are held every new
/// key is refused (`oap.limit_exceeded`) while used ones still meet `oap.idempotency_conflict`.
/// The fold keeps every recorded key, so rebuilding the state from the log does not empty it.
pub const MAX_IDEMPOTENCY_KEYS: usize = 10_000;
/// Longest idempotency key accepted, in bytes (a UUID is 36; the common API limit is 255),
/// so that the full set stays a few megabytes at most.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// Most written paths remembered per session, and sessions per agent.
const MAX_WRITTEN_PER_SESSION: usize = 1024;
const MAX_SESSIONS_KEPT: usize = 64;
/// Stands for "more writes than remembered": every control file counts as changed.
pub const WROTE_TOO_MANY: &str = "*";

impl StateSnapshot {
    pub fn spent_today(&self, capability: &str, currency: &str) -> u64 {
        self.daily_totals
            .get(&format!("{capability}|{currency}"))
            .copied()
            .unwrap_or(0)
    }

    pub fn key_used(&self, capability: &str, key: &str) -> bool {
        self.idempotency_keys
            .contains(&format!("{capability}|{key}"))
    }

    /// Whether a new idempotency key would find the set full ([`MAX_IDEMPOTENCY_KEYS`]).
    pub fn keys_full(&self) -> bool {
        self.idempotency_keys.len() >= MAX_IDEMPOTENCY_KEYS
    }

    /// Calls of a capability at or after `since` (unix seconds).
    pub fn calls_since(&self, capability: &str, since: i64) -> usize {
        self.recent_calls
            .get(capability)
            .map_or(0, |v| v.iter().filter(|&&t| t >= since).count())
    }

    /// The count of `key` in the window holding `now`, and whether a new key would find
    /// the table full.
    pub fn counted(&self, key: &str, window: u64, now_unix: i64) -> (u64, bool) {
        let start = window_start(now_unix, window);
        let count = self
            .counts
            .get(key)
            .filter(|c| c.start == start && c.window == window)
            .map_or(0, |c| c.count);
        let live = self
            .counts
            .iter()
            .filter(|(_, c)| !c.closed(now_unix))
            .count();
        let known = self.counts.get(key).is_some_and(|c| !c.closed(now_unix));
        (count, !known && live >= MAX_COUNT_KEYS)
    }

    /// Denies at or after `since` (unix seconds).
    pub fn denies_since(&self, since: i64) -> usize {
        self.denies.iter().filter(|&&t| t >= since).count()
    }

    /// Starts a new day's totals when `day` is not the snapshot's day.
    pub fn roll_day(&mut self, day: &str) {
        if self.day != day {
            self.day = day.into();
            self.daily_totals.clear();
        }
    }

    /// Applies the changes of an allowed call. A call counts once per
    /// capability however many rate windows its pack checks.
    /// Paths the agent wrote in `session` (absolute, normalised).
    pub fn written_in(&self, session: &str) -> Option<&BTreeSet<String>> {
        self.written.get(session)
    }

    pub fn apply(&mut self, changes: &[StateChange], now_unix: i64) {
        let mut windows: BTreeMap<&str, u64> = BTreeMap::new();
        for c in changes {
            match c {
                StateChange::Wrote { session, path } => {
                    if !self.written.contains_key(session)
                        && self.written.len() >= MAX_SESSIONS_KEPT
                    {
                        // Forget the (lexically) first session; bounded, never unbounded.
                        let first = self.written.keys().next().cloned();
                        first.map(|k| self.written.remove(&k));
                    }
                    let set = self.written.entry(session.clone()).or_default();
                    if set.len() < MAX_WRITTEN_PER_SESSION || set.contains(path) {
                        set.insert(path.clone());
                    } else {
                        // Too many to remember: from now on any file counts as changed.
                        set.insert(WROTE_TOO_MANY.into());
                    }
                }
                StateChange::Spend {
                    capability,
                    currency,
                    amount,
                } => {
                    let e = self
                        .daily_totals
                        .entry(format!("{capability}|{currency}"))
                        .or_default();
                    *e = e.saturating_add(*amount);
                }
                StateChange::UseKey { capability, key } => {
                    self.idempotency_keys.insert(format!("{capability}|{key}"));
                }
                StateChange::Call {
                    capability,
                    window_seconds,
                } => {
                    let w = windows.entry(capability).or_default();
                    *w = (*w).max(*window_seconds);
                }
                StateChange::Count {
                    key,
                    window_seconds,
                } => {
                    self.count(key, *window_seconds, now_unix);
                }
            }
        }
        for (capability, window) in windows {
            let v = self.recent_calls.entry(capability.into()).or_default();
            let horizon = now_unix.saturating_sub(window as i64);
            v.retain(|&t| t >= horizon);
            v.push(now_unix);
        }
    }

    /// Counts one call under `key`. Closed windows are forgotten first; a new key that
    /// finds the table still full is not stored (the check refuses that key from then on).
    fn count(&mut self, key: &str, window: u64, now_unix: i64) {
        self.counts.retain(|_, c| !c.closed(now_unix));
        let start = window_start(now_unix, window);
        if !self.counts.contains_key(key) && self.counts.len() >= MAX_COUNT_KEYS {
            return;
        }
        let c = self.counts.entry(key.into()).or_insert(WindowCount {
            start,
            window,
            count: 0,
        });
        if c.start != start || c.window != window {
            *c = WindowCount {
                start,
                window,
                count: 0,
            };
        }
        c.count = c.count.saturating_add(1);
    }

    fn note_deny(&mut self, now_unix: i64) {
        let horizon = now_unix.saturating_sub(MAX_TRIPWIRE_WINDOW as i64);
        self.denies.retain(|&t| t >= horizon);
        self.denies.push(now_unix);
        if self.denies.len() > MAX_DENIES_KEPT {
            let extra = self.denies.len() - MAX_DENIES_KEPT;
            self.denies.drain(..extra);
        }
    }
}

/// A change an allowed call makes to the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateChange {
    Spend {
        capability: String,
        currency: String,
        amount: u64,
    },
    UseKey {
        capability: String,
        key: String,
    },
    Call {
        capability: String,
        window_seconds: u64,
    },
    /// An allowed write of `path` in a host session.
    Wrote {
        session: String,
        path: String,
    },
    /// One call counted by a `count` check under its state key ([`count_key`]).
    Count {
        key: String,
        window_seconds: u64,
    },
}

/// One decision as the state sees it: everything needed to replay it from the log.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub agent_id: Option<&'a str>,
    pub allow: bool,
    /// A deny the tripwire counts: not one the tripwire itself caused.
    pub counts_as_deny: bool,
    pub changes: &'a [StateChange],
    pub now_unix: i64,
    /// The passport the decision was made under (`version`, `updated_at`), when known.
    pub passport: Option<(&'a str, &'a str)>,
}

/// The state file: every agent's snapshot and the log position it reflects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// Written by older versions only: the last record folded in. A state file is now
    /// tied to its record by that record's `state_digest` (the SHA-256 of the file's
    /// bytes), which a position inside the file could not be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    #[serde(default)]
    pub agents: BTreeMap<String, StateSnapshot>,
}

impl StateFile {
    /// The bytes of the state file. Deterministic: every map is ordered.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::canonical::to_vec(self)
    }

    /// `sha256:` of [`StateFile::to_bytes`]: what a record's `state_digest` commits to.
    /// A file is checked by hashing its bytes as read, so a field added by a later
    /// version never changes the digest of a file an earlier one wrote.
    pub fn digest(&self) -> String {
        crate::canonical::digest_bytes(&self.to_bytes())
    }

    /// The snapshot the decision sees for `agent` at `day`.
    pub fn snapshot(&self, agent: &str, day: &str) -> StateSnapshot {
        let mut s = self.agents.get(agent).cloned().unwrap_or_default();
        s.roll_day(day);
        s
    }

    /// Folds one recorded decision in. The same function serves the live
    /// append and `audit rebuild-state`, so both give the same file.
    pub fn apply(&mut self, d: Decided<'_>) {
        // Written by older versions; the record's state_digest ties the file now.
        self.seq = None;
        self.hash.clear();
        let Some(agent) = d.agent_id else { return };
        if let Some((version, updated_at)) = d.passport {
            // Every decision, denies included: a suspended passport's denies
            // are what stop the active copy before it from coming back.
            let seen = PassportMark {
                version: version.into(),
                updated_at: updated_at.into(),
            };
            let snap = self.agents.entry(agent.into()).or_default();
            snap.passport = Some(match snap.passport.take() {
                Some(high) => high.max(seen),
                None => seen,
            });
        }
        if !(d.allow || d.counts_as_deny) {
            return;
        }
        let snap = self.agents.entry(agent.into()).or_default();
        if d.allow {
            snap.roll_day(&utc_day(d.now_unix));
            snap.apply(d.changes, d.now_unix);
        } else {
            snap.note_deny(d.now_unix);
        }
    }
}

/// `YYYY-MM-DD` (UTC) of a unix time.
pub fn utc_day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

impl Tripwire {
    /// The reason the wire is tripped at `now`, if it is.
    pub fn check(&self, snap: &StateSnapshot, now_unix: i64) -> Option<Reason> {
        let since = now_unix.saturating_sub(self.window_seconds as i64);
        let n = snap.denies_since(since) as u64;
        (n >= self.max_denies).then(|| {
            Reason::new(
                ReasonCode::TripwireTripped,
                format!(
                    "{n} denies in the last {}s reached the tripwire (max_denies {})",
                    self.window_seconds, self.max_denies
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided<'a>(seq: u64, allow: bool, changes: &'a [StateChange], t: i64) -> Decided<'a> {
        let _ = seq;
        Decided {
            agent_id: Some("a"),
            allow,
            counts_as_deny: !allow,
            changes,
            now_unix: t,
            passport: None,
        }
    }

    #[test]
    fn the_passport_mark_only_moves_forward() {
        let mut f = StateFile::default();
        let mut d = decided(1, false, &[], 10);
        d.passport = Some(("1.2.0", "2026-03-01T00:00:00Z"));
        f.apply(d);
        d.passport = Some(("1.1.9", "2026-04-01T00:00:00Z"));
        f.apply(d);
        let high = f.snapshot("a", "2026-04-01").passport.unwrap();
        assert_eq!(high.version, "1.2.0");
        assert_eq!(high.updated_at, "2026-04-01T00:00:00Z");
        let old = |v: &str, u: &str| PassportMark {
            version: v.into(),
            updated_at: u.into(),
        };
        assert!(old("1.1.9", "2026-04-01T00:00:00Z")
            .older_than(&high)
            .is_some());
        assert!(old("1.2.0", "2026-03-31T23:59:59Z")
            .older_than(&high)
            .is_some());
        assert!(old("1.2.0", "2026-04-01T00:00:00Z")
            .older_than(&high)
            .is_none());
        assert!(old("1.10.0", "2026-05-01T00:00:00+02:00")
            .older_than(&high)
            .is_none());
    }

    #[test]
    fn the_digest_is_of_the_bytes_and_covers_the_content() {
        let ch = [StateChange::UseKey {
            capability: "r".into(),
            key: "k".into(),
        }];
        let mut f = StateFile::default();
        let empty = f.digest();
        f.apply(decided(0, true, &ch, 10));
        let used = f.digest();
        assert_ne!(empty, used);
        assert_eq!(crate::canonical::digest_bytes(&f.to_bytes()), used);
        let mut edited = f.clone();
        edited.agents.get_mut("a").unwrap().idempotency_keys.clear();
        assert_ne!(edited.digest(), used);
        // Read back, the same bytes: the digest survives a round trip.
        let back: StateFile = serde_json::from_slice(&f.to_bytes()).unwrap();
        assert_eq!(back.digest(), used);
    }

    #[test]
    fn two_rate_windows_count_a_call_once() {
        let ch = [
            StateChange::Call {
                capability: "c".into(),
                window_seconds: 60,
            },
            StateChange::Call {
                capability: "c".into(),
                window_seconds: 3600,
            },
        ];
        let mut f = StateFile::default();
        f.apply(decided(0, true, &ch, 1000));
        f.apply(decided(1, true, &ch, 1030));
        let s = f.snapshot("a", &utc_day(1030));
        assert_eq!(s.calls_since("c", 0), 2);
        assert_eq!(s.calls_since("c", 1001), 1);
    }

    #[test]
    fn daily_totals_reset_on_a_new_day() {
        let ch = [StateChange::Spend {
            capability: "r".into(),
            currency: "USD".into(),
            amount: 500,
        }];
        let mut f = StateFile::default();
        let day1 = 1_700_000_000;
        f.apply(decided(0, true, &ch, day1));
        f.apply(decided(1, true, &ch, day1 + 1));
        assert_eq!(
            f.snapshot("a", &utc_day(day1)).spent_today("r", "USD"),
            1000
        );
        assert_eq!(
            f.snapshot("a", &utc_day(day1 + 86_400))
                .spent_today("r", "USD"),
            0
        );
        f.apply(decided(2, true, &ch, day1 + 86_400));
        assert_eq!(
            f.snapshot("a", &utc_day(day1 + 86_400))
                .spent_today("r", "USD"),
            500
        );
    }

    #[test]
    fn denies_change_nothing_but_the_tripwire_count() {
        let ch = [StateChange::UseKey {
            capability: "r".into(),
            key: "k".into(),
        }];
        let mut f = StateFile::default();
        f.apply(decided(0, false, &ch, 10));
        let s = f.snapshot("a", "x");
        assert!(!s.key_used("r", "k"));
        assert_eq!(s.denies_since(0), 1);
        let t = Tripwire {
            max_denies: 2,
            window_seconds: 60,
            action: TripAction::Deny,
        };
        assert!(t.check(&s, 20).is_none());
        f.apply(decided(1, false, &[], 30));
        assert_eq!(
            t.check(&f.snapshot("a", "x"), 40).map(|r| r.code),
            Some(ReasonCode::TripwireTripped)
        );
        assert!(
            t.check(&f.snapshot("a", "x"), 75).is_none(),
            "window slid past the first deny"
        );
    }
}
