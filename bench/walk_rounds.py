"""Interleaved whole-process runs for bench/walk.sh: each round spawns every
configuration once, in a rotating order; medians and p90 per configuration."""
import json, statistics, subprocess, sys, time

bin_, project, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])


def hook(cmd):
    return json.dumps({"hook_event_name": "PreToolUse", "session_id": "bench", "tool_use_id": "t",
                       "tool_name": "Bash", "tool_input": {"command": cmd}, "cwd": project}).encode()


configs = [("/bin/true (spawn floor)", ["/bin/true"], b"", None),
           ("git status (no walk)", [bin_, "evaluate"], hook("git status"), 0)]
for name, entries in [("t100", 101), ("t2k", 2001), ("t19k", 19001), ("t25k", 25001)]:
    configs.append((f"grep -r x {name} ({entries} entries)", [bin_, "evaluate"], hook(f"grep -r x {name}"),
                    0 if entries <= 20000 else 2))
times = {c[0]: [] for c in configs}
for r in range(rounds):
    for i in range(len(configs)):
        name, argv, stdin, want = configs[(i + r) % len(configs)]
        t = time.perf_counter()
        p = subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t)
        if want is not None and p.returncode != want:
            sys.exit(f"{name}: exit {p.returncode}, expected {want}")
floor = statistics.median(times[configs[0][0]])
print(f"{'configuration':<36} {'median':>9} {'p90':>9} {'minus floor':>12}")
for name, *_ in configs:
    v = sorted(times[name])
    med = statistics.median(v)
    print(f"{name:<36} {med*1000:8.2f}ms {v[int(len(v)*0.9)]*1000:8.2f}ms {(med-floor)*1000:10.2f}ms")
