#!/usr/bin/env python3
"""Alertmanager cost and latency: obs-agent's embedded Alertmanager and Alertmanager 0.25, side by
side.

For each system in turn: it starts with one webhook receiver (this script's sink), grouping by
alertname and group, group_wait 5 s, group_interval 10 s, repeat_interval 1 h. Then:
  post     10,000 alerts in 500 groups (20 each) over API v2, in batches of 100, as fast as the
           server answers;
  hold     every alert re-posted every 15 s for --hold seconds (what Prometheus does);
  resolve  every alert posted again with endsAt = now.
Measured: CPU seconds of the process tree for the whole run and for the hold phase, RSS after the
hold and the peak, and the delay from each group's first alert (and from the resolve) to its
webhook beyond group_wait (resolves: beyond the group's next group_interval tick). Each system's
output is checked: 500 firing notifications carrying 10,000 alerts and 500 resolved ones.

usage: bench/alertmanager.py --agent .build/release/obs-agent [--groups 500] [--per-group 20] [--hold 60]
"""
import argparse, http.client, http.server, json, os, shutil, sys, tempfile, threading, time
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import common  # noqa: E402

GROUP_WAIT, GROUP_INTERVAL = 5.0, 10.0
EVENTS = []
EVENTS_LOCK = threading.Lock()


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with EVENTS_LOCK:
            EVENTS.append((time.time(), body["groupLabels"].get("group"), body["status"], len(body["alerts"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def config(sink_port):
    return """route:
  receiver: sink
  group_by: [alertname, group]
  group_wait: 5s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs: [{url: 'http://127.0.0.1:%d/hook'}]
""" % sink_port


def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def post_all(port, args, starts, ends):
    """Posts every alert in batches of 100 over one connection; returns the time each group's
    first batch was acknowledged."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    posted = {}
    batch = []
    for g in range(args.groups):
        for i in range(args.per_group):
            batch.append({"labels": {"alertname": "BenchAlert", "group": "g%03d" % g, "instance": "i%02d" % i, "severity": "warning"},
                          "annotations": {"summary": "alert %d of group %d" % (i, g)},
                          "startsAt": stamp(starts), "endsAt": stamp(ends), "generatorURL": "http://bench/graph"})
            if len(batch) == 100:
                flush(conn, batch, posted)
                batch = []
    if batch:
        flush(conn, batch, posted)
    conn.close()
    return posted


def flush(conn, batch, posted):
    conn.request("POST", "/api/v2/alerts", json.dumps(batch), {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise RuntimeError("POST /api/v2/alerts: %d" % r.status)
    now = time.time()
    for a in batch:
        posted.setdefault(a["labels"]["group"], now)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def run(name, command, args, workdir, sink_port, wrap):
    del EVENTS[:]
    server = common.Server(common.ServerSpec(name, command), os.path.join(workdir, name))
    server.write_config(wrap(config(sink_port)))
    server.start(120)
    try:
        time.sleep(2)
        c0, t0 = server.cpu(), time.time()
        start = time.time()
        posted = post_all(server.port, args, start, start + 3600)
        post_seconds = time.time() - t0
        if not wait_for(lambda: len({e[1] for e in EVENTS if e[2] == "firing"}) >= args.groups, 120):
            raise RuntimeError("%s: only %d groups notified" % (name, len({e[1] for e in EVENTS})))
        firsts = {}
        for t, group, status, n in EVENTS:
            if status == "firing":
                firsts.setdefault(group, t)
        delays = [firsts[g] - posted[g] - GROUP_WAIT for g in posted]
        alerts_notified = sum(e[3] for e in EVENTS if e[2] == "firing")
        # Hold: re-post everything every 15 s.
        h0 = server.cpu()
        hold_end = time.time() + args.hold
        while time.time() < hold_end:
            t = time.time()
            post_all(server.port, args, start, time.time() + 3600)
            time.sleep(max(0, 15 - (time.time() - t)))
        hold_cpu = server.cpu() - h0
        rss = server.rss()
        # Resolve.
        resolved_at = time.time()
        post_all(server.port, args, start, resolved_at)
        if not wait_for(lambda: len({e[1] for e in EVENTS if e[2] == "resolved"}) >= args.groups, 120):
            raise RuntimeError("%s: only %d groups resolved" % (name, len({e[1] for e in EVENTS if e[2] == "resolved"})))
        resolves = {}
        for t, group, status, n in EVENTS:
            if status == "resolved":
                resolves.setdefault(group, t)
        # A resolve goes out at the group's next tick, at most one group_interval after it arrived.
        resolve_delays = [resolves[g] - resolved_at for g in resolves]
        total_cpu = server.cpu() - c0
        hwm = server.hwm()
        figures = {
            "cpu_s": total_cpu, "hold_cpu_s": hold_cpu, "rss_MB": rss / 1e6, "peak_rss_MB": hwm / 1e6, "post_s": post_seconds,
            "delay_p50_ms": 1000 * percentile(delays, 0.5), "delay_p99_ms": 1000 * percentile(delays, 0.99),
            "delay_max_ms": 1000 * max(delays), "resolve_max_s": max(resolve_delays),
            "alerts_notified": alerts_notified, "notifications": len(EVENTS),
        }
        common.log("%s: %s" % (name, figures))
        return figures
    finally:
        server.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", required=True)
    p.add_argument("--groups", type=int, default=500)
    p.add_argument("--per-group", type=int, default=20)
    p.add_argument("--hold", type=float, default=60)
    p.add_argument("--only", help="comma-separated: obs-agent,alertmanager")
    args = p.parse_args()
    common.install_signal_handlers()
    workdir = tempfile.mkdtemp(prefix="am-bench-")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    agent = os.path.abspath(args.agent)
    indent = lambda text: "alertmanager:\n" + "".join("  " + line + "\n" for line in text.splitlines())
    systems = [
        ("obs-agent", agent + " --config.file={config} --storage.path={datadir} --web.listen-address=127.0.0.1:{port}", indent),
        ("alertmanager", "prometheus-alertmanager --config.file={config} --storage.path={datadir} "
                         "--web.listen-address=127.0.0.1:{port} --cluster.listen-address=", lambda text: text),
    ]
    only = set(args.only.split(",")) if args.only else None
    results = {}
    for name, command, wrap in systems:
        if only and name not in only:
            continue
        results[name] = run(name, command, args, workdir, sink.server_address[1], wrap)
    header = ["system", "CPU s (all)", "CPU s (hold)", "RSS MB", "peak RSS MB", "post s", "delay p50 ms", "p99 ms", "max ms",
              "resolve max s", "alerts notified"]
    rows = [[n, "%.2f" % r["cpu_s"], "%.2f" % r["hold_cpu_s"], "%.0f" % r["rss_MB"], "%.0f" % r["peak_rss_MB"], "%.2f" % r["post_s"],
             "%.0f" % r["delay_p50_ms"], "%.0f" % r["delay_p99_ms"], "%.0f" % r["delay_max_ms"], "%.1f" % r["resolve_max_s"],
             "%d" % r["alerts_notified"]] for n, r in results.items()]
    print(common.table(header, rows, title="%d alerts in %d groups, held %.0f s, then resolved" % (args.groups * args.per_group, args.groups, args.hold)))
    if len(results) == 2:
        a, b = results["obs-agent"], results["alertmanager"]
        print("obs-agent / alertmanager: CPU %.2fx, hold CPU %.2fx, RSS %.2fx, peak RSS %.2fx, delay p99 %+.0f ms"
              % (a["cpu_s"] / b["cpu_s"], a["hold_cpu_s"] / b["hold_cpu_s"], a["rss_MB"] / b["rss_MB"], a["peak_rss_MB"] / b["peak_rss_MB"],
                 a["delay_p99_ms"] - b["delay_p99_ms"]))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
