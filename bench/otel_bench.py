#!/usr/bin/env python3
"""Whole-process `toolgate evaluate` latency with telemetry off, exporting to a local
collector, and against a refused port and a collector that never answers.

Usage: bench/otel_bench.py [ROUNDS]   (builds --release; needs python3 only)

Configurations run interleaved, one call each per round, so a shared, loaded machine slows
them all alike; medians and ratios to `off` are printed, and how many records carry a
note that their export was missed.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
BIN = os.path.join(ROOT, "target", "release", "toolgate")
RECEIVER = os.path.join(ROOT, "bench", "otel_receiver.py")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ok_port, stall_port, dead_port = free_port(), free_port(), free_port()
receivers = [
    subprocess.Popen([sys.executable, RECEIVER, str(ok_port)], stderr=subprocess.DEVNULL),
    subprocess.Popen([sys.executable, RECEIVER, str(stall_port), "stall"], stderr=subprocess.DEVNULL),
]
time.sleep(0.5)

CONFIGS = {
    "off": {},
    "otlp traces+metrics": {"endpoint": f"http://127.0.0.1:{ok_port}"},
    "otlp traces only": {"endpoint": f"http://127.0.0.1:{ok_port}", "metrics": False},
    "otlp, 50 ms budget": {"endpoint": f"http://127.0.0.1:{ok_port}", "budget_ms": 50},
    "refused port": {"endpoint": f"http://127.0.0.1:{dead_port}"},
    "stalled collector": {"endpoint": f"http://127.0.0.1:{stall_port}"},
}
INPUT = json.dumps({
    "hook_event_name": "PreToolUse", "session_id": "s", "tool_use_id": "t",
    "tool_name": "Bash", "tool_input": {"command": "git status"}, "cwd": "/tmp",
}).encode()

try:
    with tempfile.TemporaryDirectory() as work:
        homes = {}
        for name, telemetry in CONFIGS.items():
            home = os.path.join(work, str(len(homes)))
            env = dict(os.environ, TOOLGATE_HOME=home)
            subprocess.run([BIN, "keygen", "--trust"], env=env, check=True, capture_output=True)
            subprocess.run([BIN, "passport", "new", "--sign"], env=env, check=True, capture_output=True)
            # fsync off: its variance would drown what is being measured.
            with open(os.path.join(home, "config.json"), "w") as f:
                json.dump({"telemetry": telemetry, "audit": {"sync": False}}, f)
            homes[name] = env
        times = {name: [] for name in CONFIGS}
        for i in range(ROUNDS + 10):
            for name, env in homes.items():
                t = time.perf_counter()
                p = subprocess.run([BIN, "evaluate", "--host", "claude-code"], input=INPUT,
                                   env=env, capture_output=True)
                took = time.perf_counter() - t
                assert p.returncode == 0, (name, p)
                if i >= 10:  # warm-up
                    times[name].append(took)
        base = statistics.median(times["off"])
        print(f"{ROUNDS} rounds, interleaved; whole process incl. spawn")
        for name, env in homes.items():
            log = os.path.join(env["TOOLGATE_HOME"], "audit", "audit.jsonl")
            lines = open(log).read().splitlines()
            missed = sum("not exported" in l for l in lines)
            med = statistics.median(times[name])
            p90 = statistics.quantiles(times[name], n=10)[-1]
            print(f"{name:<22} median {med*1e3:6.2f} ms  p90 {p90*1e3:6.2f} ms  "
                  f"ratio {med/base:4.2f}  +{(med-base)*1e3:5.2f} ms  "
                  f"missed {missed}/{len(lines)-1}")
finally:
    for r in receivers:
        r.terminate()
