//! A record cut from the middle of the log: the gate checks only the log's end and head
//! before it appends, so it goes on; `audit repair` must not call such a log sound.

use crate::harness::{bash, code, text, Home};

#[test]
fn repair_names_a_record_cut_from_the_middle_instead_of_calling_the_log_sound() {
    let home = Home::new("coding-agent");
    for _ in 0..5 {
        assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    }
    // The legitimate neighbour: an intact log has nothing to repair.
    let said = home.ok_text(&["audit", "repair", "--accept-loss"]);
    assert!(said.contains("nothing to repair"), "{said}");

    let log = home.log();
    let body = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = body.lines().collect();
    lines.remove(2);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    // The end and the head are untouched, so the gate appends on.
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");

    for args in [
        &["audit", "repair"][..],
        &["audit", "repair", "--accept-loss"],
    ] {
        let o = home.output(args);
        assert!(!o.status.success(), "{args:?}: {}", text(&o.stdout));
        let err = text(&o.stderr);
        for part in ["broken inside", "record seq 2 is missing", "cannot mend"] {
            assert!(err.contains(part), "{args:?} lacks {part:?}: {err}");
        }
    }
    // Nothing was appended by the refused repairs, and verify-log names the same gap.
    let (rc, rep) = home.verify(&[]);
    assert_eq!(rc, 1, "{rep}");
    assert_eq!(
        (rep["line"].as_u64(), rep["seq"].as_u64()),
        (Some(3), Some(3)),
        "{rep}"
    );
    assert_eq!(home.records().len(), 5);
}
