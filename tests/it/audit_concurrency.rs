//! Many hook processes on one log: no fork, no gap, and stateful limits hold
//! across processes because state is read and written under the log's lock.

use crate::harness::*;
use std::collections::BTreeMap;

const PROCS: usize = 16;
const EACH: usize = 250;

#[test]
fn sixteen_processes_times_250_make_one_contiguous_verified_chain() {
    let home = Home::new("refund-agent");
    // Every idempotency key is submitted twice by different processes: exactly one may win.
    let keys = PROCS * EACH / 2;
    let outcomes: Vec<(usize, i32, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..PROCS)
            .map(|p| {
                let home = &home;
                s.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let n = p * EACH + i;
                            let key = format!("k-{}", n % keys);
                            let o = home.refund(1, &key);
                            let c = code(&o);
                            if c == "oap.audit_unavailable" {
                                eprintln!("unrecorded: {}", decision(&o));
                            }
                            (n, o.status.code().unwrap_or(-1), c)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for (_, exit, c) in &outcomes {
        assert!(*exit == 0 || *exit == 2, "exit {exit} ({c})");
        *by_code.entry(c.clone()).or_default() += 1;
    }
    assert_eq!(by_code.get("oap.allowed"), Some(&keys), "{by_code:?}");
    assert_eq!(
        by_code.get("oap.idempotency_conflict"),
        Some(&keys),
        "{by_code:?}"
    );

    let recs = home.records();
    assert_eq!(recs.len(), PROCS * EACH);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64));
    }
    let (code, report) = home.verify(&[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], (PROCS * EACH) as u64);
    assert_eq!(report["head_checked"], true);

    // The state the processes built equals the state replayed from the log.
    let live = std::fs::read(home.path("audit/audit.jsonl.state")).unwrap();
    home.ok_text(&["audit", "rebuild-state"]);
    let rebuilt = std::fs::read(home.path("audit/audit.jsonl.state")).unwrap();
    let live: serde_json::Value = serde_json::from_slice(&live).unwrap();
    let rebuilt: serde_json::Value = serde_json::from_slice(&rebuilt).unwrap();
    // The rebuild is recorded, so only the position differs.
    assert_eq!(live["agents"], rebuilt["agents"]);
    let agent = live["agents"].as_object().unwrap().values().next().unwrap();
    assert_eq!(
        agent["daily_totals"]["finance.payment.refund|USD"],
        keys as u64
    );
}
