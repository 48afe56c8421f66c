#!/usr/bin/env python3
"""Cold start to ready, and idle RSS, of obs-agent and Prometheus side by side.

Each round starts each server on a new, empty data directory and a free loopback port, polls
/-/ready until it answers 200 (the time from exec to that answer is "ready"), waits --idle seconds,
then reads VmRSS from /proc. Rounds alternate the servers so machine noise hits both alike.
Reported: median and min of each, and the ratio obs-agent / Prometheus of the medians.
"""
import argparse, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

PROM_CONFIG = """global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def measure(command, port, idle):
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/-/ready"
    ready = None
    while time.monotonic() - start < 30:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    ready = time.monotonic() - start
                    break
        except Exception:
            time.sleep(0.002)
    time.sleep(idle)
    rss = rss_kb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    if ready is None:
        raise SystemExit(f"{command[0]} never became ready")
    return ready * 1000, rss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default=".build/release/obs-agent")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading RSS")
    args = parser.parse_args()

    results = {"obs-agent": [], "prometheus": []}
    for round_number in range(args.rounds):
        for name in ("obs-agent", "prometheus"):
            work = tempfile.mkdtemp(prefix=f"startup-{name}-")
            port = free_port()
            if name == "obs-agent":
                command = [args.agent, f"--storage.path={work}/data", f"--web.listen-address=127.0.0.1:{port}"]
            else:
                config = os.path.join(work, "prometheus.yml")
                with open(config, "w") as f:
                    f.write(PROM_CONFIG.format(port=port))
                command = [args.prometheus, f"--config.file={config}", f"--storage.tsdb.path={work}/data",
                           f"--web.listen-address=127.0.0.1:{port}"]
            results[name].append(measure(command, port, args.idle))
            shutil.rmtree(work, ignore_errors=True)

    print(f"{'server':<12} {'ready ms (median / min)':>26} {'idle RSS MiB (median / min)':>30}")
    medians = {}
    for name, rows in results.items():
        ready = [r[0] for r in rows]
        rss = [r[1] for r in rows]
        medians[name] = (statistics.median(ready), statistics.median(rss))
        print(f"{name:<12} {statistics.median(ready):>15.1f} / {min(ready):>7.1f} {statistics.median(rss):>19.1f} / {min(rss):>7.1f}")
    a, p = medians["obs-agent"], medians["prometheus"]
    print(f"ratio obs-agent/prometheus: ready {a[0] / p[0]:.3f}x, idle RSS {a[1] / p[1]:.3f}x")


if __name__ == "__main__":
    main()
