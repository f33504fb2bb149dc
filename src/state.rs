//! History that stateful limits need (daily caps, idempotency, rates), as a
//! plain value handed to the pure decision. The audit module persists it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
}

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

    /// Calls of a capability at or after `since` (unix seconds).
    pub fn calls_since(&self, capability: &str, since: i64) -> usize {
        self.recent_calls
            .get(capability)
            .map_or(0, |v| v.iter().filter(|&&t| t >= since).count())
    }

    /// Applies the changes of an allowed call.
    pub fn apply(&mut self, changes: &[StateChange], now_unix: i64) {
        for c in changes {
            match c {
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
                    let v = self.recent_calls.entry(capability.clone()).or_default();
                    let horizon = now_unix - *window_seconds as i64;
                    v.retain(|&t| t >= horizon);
                    v.push(now_unix);
                }
            }
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
}
