//! `toolgate log`: filters, summary, and SIEM exports.

use crate::harness::*;
use serde_json::Value;

fn home() -> Home {
    let home = Home::new("coding-agent");
    for c in ["git status", "sudo ls", "git diff", "rm -rf /", "pwd"] {
        home.evaluate(&bash(c));
    }
    home
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn filters_and_summary() {
    let home = home();
    let denies = json_lines(&home.ok_text(&["log", "--json", "--verdict", "deny"]));
    assert_eq!(denies.len(), 2);
    assert!(denies.iter().all(|r| r["verdict"] == "deny"));
    let blocked = json_lines(&home.ok_text(&["log", "--json", "--reason", "oap.blocked_pattern"]));
    assert_eq!(blocked.len(), 2);
    assert_eq!(
        json_lines(&home.ok_text(&["log", "--json", "--session", "nope"])).len(),
        0
    );
    assert_eq!(
        json_lines(&home.ok_text(&["log", "--json", "--since", "1h", "--tool", "Bash"])).len(),
        5
    );
    assert_eq!(
        json_lines(&home.ok_text(&["log", "--json", "--until", "2000-01-01"])).len(),
        0
    );
    let s: Value = serde_json::from_str(&home.ok_text(&["log", "--summary", "--json"])).unwrap();
    assert_eq!(s["records"], 5);
    assert_eq!(s["by_verdict"]["allow"], 3);
    assert_eq!(s["by_verdict"]["deny"], 2);
    assert_eq!(s["by_reason"]["oap.blocked_pattern"], 2);
    let human = home.ok_text(&["log", "--summary"]);
    assert!(human.contains("by reason:") && human.contains("oap.blocked_pattern"));
    let o = home.output(&["log", "--reason", "oap.nonsense"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn exports() {
    let home = home();
    let ocsf =
        json_lines(&home.ok_text(&["log", "export", "--format", "ocsf", "--verdict", "deny"]));
    assert_eq!(ocsf.len(), 2);
    assert_eq!(ocsf[0]["class_uid"], 6003);
    assert_eq!(ocsf[0]["type_uid"], 600399);
    assert_eq!(ocsf[0]["action"], "Denied");
    assert_eq!(ocsf[0]["status_code"], "oap.blocked_pattern");
    assert_eq!(ocsf[0]["api"]["operation"], "Bash");
    let cef = home.ok_text(&["log", "export", "--format", "cef"]);
    let lines: Vec<&str> = cef.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(
        lines[1].starts_with("CEF:0|toolgate|toolgate|"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("|oap.blocked_pattern|deny Bash|8|"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("act=deny"));
    let jsonl = json_lines(&home.ok_text(&["log", "export", "--format", "jsonl"]));
    assert_eq!(jsonl, home.records());
}

#[test]
fn cef_escapes_separators() {
    let mut rec: toolgate::audit::Record =
        serde_json::from_value(home().records()[1].clone()).unwrap();
    rec.tool = "a|b".into();
    rec.reasons[0].message = "x=y\nz\\".into();
    let line =
        toolgate::audit::export::cef(&rec, None, &toolgate::audit::export::Origin::default());
    assert!(line.contains("|deny a\\|b|"), "{line}");
    assert!(line.contains("msg=x\\=y\\nz\\\\"), "{line}");
    assert_eq!(line.lines().count(), 1);
}
