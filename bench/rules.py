#!/usr/bin/env python3
"""Rule evaluation cost: obs-agent, Prometheus 2.42 and vmalert (with VictoriaMetrics as its data
source and remote-write target), side by side on the shared kit's data set.

For each system in turn: the data set is built to end 15 minutes from now, the server starts with 1,000 recording
and 1,000 alerting rules (50 groups, one per host, 20 of each per group) at a 15 s interval and
an Alertmanager sink, the data set is remote-written to it, and once it is idle the CPU time of the
whole process tree (vmalert and VictoriaMetrics together) is read over --cycles evaluation cycles;
RSS (summed over the tree) is read at the end. Each system's output is checked: recorded series
exist and some alerts fire, so no system is measured doing nothing.

usage: bench/rules.py --agent .build/release/obs-agent [--hosts 50] [--hours 1] [--cycles 8]
"""
import argparse, http.server, json, os, shutil, sys, tempfile, threading, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import common, dataset, ingest, remote_write  # noqa: E402

# Per host: (record name, expression over {I} — the host's instance selector).
RECORDING = [
    ("instance:node_cpu_busy:rate5m", 'sum by (instance) (rate(node_cpu_seconds_total{I, mode!="idle"}[5m]))'),
    ("instance_mode:node_cpu:rate5m", 'sum by (instance, mode) (rate(node_cpu_seconds_total{I}[5m]))'),
    ("instance:node_cpus:count", 'count by (instance) (node_cpu_seconds_total{I, mode="idle"})'),
    ("instance:node_memory_available:ratio", 'node_memory_MemAvailable_bytes{I} / node_memory_MemTotal_bytes{I}'),
    ("instance:node_memory_used:bytes", 'node_memory_MemTotal_bytes{I} - node_memory_MemAvailable_bytes{I}'),
    ("instance:node_load1_per_cpu:ratio",
     'node_load1{I} / on(instance) count by (instance) (node_cpu_seconds_total{I, mode="idle"})'),
    ("instance:node_network_receive_bytes:rate5m", 'sum by (instance) (rate(node_network_receive_bytes_total{I}[5m]))'),
    ("instance:node_network_transmit_bytes:rate5m", 'sum by (instance) (rate(node_network_transmit_bytes_total{I}[5m]))'),
    ("instance_device:node_network_receive_drop:rate5m", 'rate(node_network_receive_drop_total{I}[5m])'),
    ("instance:node_disk_io_time:rate5m", 'sum by (instance) (rate(node_disk_io_time_seconds_total{I}[5m]))'),
    ("instance_device:node_disk_read_bytes:rate5m", 'rate(node_disk_read_bytes_total{I}[5m])'),
    ("instance_device:node_disk_written_bytes:rate5m", 'rate(node_disk_written_bytes_total{I}[5m])'),
    ("instance_mountpoint:node_filesystem_avail:ratio",
     'node_filesystem_avail_bytes{I} / node_filesystem_size_bytes{I}'),
    ("instance:node_context_switches:rate5m", 'rate(node_context_switches_total{I}[5m])'),
    ("instance:node_forks:increase15m", 'increase(node_forks_total{I}[15m])'),
    ("instance:node_load5:max15m", 'max_over_time(node_load5{I}[15m])'),
    ("instance:node_filefd:ratio", 'node_filefd_allocated{I} / node_filefd_maximum{I}'),
    ("instance:node_tcp_retrans:rate5m", 'rate(node_netstat_Tcp_RetransSegs{I}[5m])'),
    ("instance:node_intr:irate", 'irate(node_intr_total{I}[1m])'),
    ("instance:node_hwmon_temp:max", 'max by (instance) (node_hwmon_temp_celsius{I})'),
]

# Per host: (alert name, expression, for). Some fire on the data set, most do not; `for` is short
# so that every system reaches the same firing set before the measured cycles.
ALERTING = [
    ("HostHighCpu", 'sum by (instance) (rate(node_cpu_seconds_total{I, mode!="idle"}[5m])) > 0.5', "1m"),
    ("HostCpuSteal", 'avg by (instance) (rate(node_cpu_seconds_total{I, mode="steal"}[5m])) > 0.1', "1m"),
    ("HostIowait", 'avg by (instance) (rate(node_cpu_seconds_total{I, mode="iowait"}[5m])) > 0.2', "1m"),
    ("HostLowMemory", 'node_memory_MemAvailable_bytes{I} / node_memory_MemTotal_bytes{I} < 0.9', "1m"),
    ("HostSwapping", 'rate(node_vmstat_pswpout{I}[5m]) > 100', "1m"),
    ("HostHighLoad", 'node_load1{I} > 0.5', "1m"),
    ("HostNetworkReceiveErrors", 'rate(node_network_receive_errs_total{I}[5m]) > 1', "1m"),
    ("HostNetworkDrops", 'rate(node_network_receive_drop_total{I}[5m]) > 0', "1m"),
    ("HostNetworkBusy", 'sum by (instance) (rate(node_network_receive_bytes_total{I}[5m])) > 1000', "1m"),
    ("HostDiskBusy", 'rate(node_disk_io_time_seconds_total{I}[5m]) > 0.8', "1m"),
    ("HostDiskFilling", 'node_filesystem_avail_bytes{I} / node_filesystem_size_bytes{I} < 0.5', "1m"),
    ("HostDiskWillFill", 'predict_linear(node_filesystem_avail_bytes{I}[15m], 4 * 3600) < 0', "1m"),
    ("HostInodes", 'node_filesystem_files_free{I} / node_filesystem_files{I} < 0.1', "1m"),
    ("HostReadonlyFs", 'node_filesystem_readonly{I} > 0', "1m"),
    ("HostConntrack", 'node_nf_conntrack_entries{I} / node_nf_conntrack_entries_limit{I} > 0.01', "1m"),
    ("HostFds", 'node_filefd_allocated{I} / node_filefd_maximum{I} > 0.8', "1m"),
    ("HostTcpRetrans", 'rate(node_netstat_Tcp_RetransSegs{I}[5m]) > 0', "1m"),
    ("HostContextSwitches", 'rate(node_context_switches_total{I}[5m]) > 100', "1m"),
    ("HostHot", 'max by (instance, chip) (node_hwmon_temp_celsius{I}) > 40', "1m"),
    ("HostClockSkew", 'abs(node_timex_offset_seconds{I}) > 0.05', "1m"),
]


def scoped(expr, selector):
    return expr.replace("{I}", "{" + selector + "}").replace("{I,", "{" + selector + ",")


def rules_file(path, hosts):
    with open(path, "w") as f:
        f.write("groups:\n")
        for h in range(hosts):
            selector = 'instance="host-%04d:9100"' % h
            f.write("  - name: host-%04d\n    rules:\n" % h)
            for name, expr in RECORDING:
                f.write("      - record: %s\n        expr: '%s'\n" % (name, scoped(expr, selector)))
            for name, expr, hold in ALERTING:
                expr = scoped(expr, selector)
                f.write("      - alert: %s\n        expr: '%s'\n        for: %s\n" % (name, expr, hold))
                f.write("        labels: {severity: warning}\n")
                f.write("        annotations: {summary: '{{ $labels.instance }} at {{ $value | humanize }}'}\n")


class Sink(http.server.BaseHTTPRequestHandler):
    """An Alertmanager that accepts everything."""
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Sink.received += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def prometheus_config(rules, sink_port):
    return ("global:\n  evaluation_interval: 15s\nrule_files: [%s]\n"
            "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:%d']}]\n" % (rules, sink_port))


def ingest_into(server, args):
    # The data runs 15 minutes past now, so that every evaluation during ingest, settling and the
    # measured cycles finds full 5-minute windows (the samples after an evaluation's time are not
    # read by it).
    end_ms = (int(time.time()) + 900) // 15 * 15 * 1000
    catalog = dataset.build_catalog(args.hosts, 42)
    ds = remote_write.EncodedDataset(catalog, args.hours, 4, 2000, end_ms, 42, log=common.log)
    c0 = server.cpu()
    for lo, last, ranges in ingest.segments(ds, 4):
        result = ingest.send_all(server, ds, ranges, "/api/v1/write", 300_000, time.time() + 1800)
        if result["errors"]:
            common.log("%s: %d errors, first: %s" % (server.name, len(result["errors"]), result["errors"][0]))
    common.wait_idle(server, 120, quiet_s=2.0)
    return ds.n_samples, server.cpu() - c0


def check_output(port):
    def value(expr):
        status, body = common.http_get("127.0.0.1", port, "/api/v1/query?query=" + urllib.parse.quote(expr))
        result = json.loads(body).get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if result else 0.0
    return {"recorded_series": value('count({__name__=~"instance.*:.+"})'),
            "firing_alerts": value('count(ALERTS{alertstate="firing"})')}


def run(name, command, args, workdir, sink_port, extra=None):
    server = common.Server(common.ServerSpec(name, command), os.path.join(workdir, name))
    rules = os.path.join(server.workdir, "rules.yml")
    rules_file(rules, args.hosts)
    server.write_config(prometheus_config(rules, sink_port))
    server.start(300)
    helper = None
    try:
        if extra:
            helper = extra(server, rules)
        samples, ingest_cpu = ingest_into(server, args)
        common.log("%s: ingested %s samples (%.1f CPU s)" % (name, format(samples, ","), ingest_cpu))
        # Six cycles after ingest: every alert's `for` (1m) has passed and all three are in the
        # same steady state before the measured cycles.
        time.sleep(90)
        trees = [server.tree] + ([helper.tree] if helper else [])
        c0 = sum(t.cpu() for t in trees)
        t0 = time.time()
        time.sleep(args.cycles * 15)
        cpu = sum(t.cpu() for t in trees) - c0
        wall = time.time() - t0
        rss = sum(t.rss() for t in trees)
        output = check_output(server.port)
        figures = {"cpu_per_cycle_s": cpu / (wall / 15), "rss_MB": rss / 1e6, **output}
        common.log("%s: %s" % (name, figures))
        return figures
    finally:
        if helper:
            helper.stop()
        server.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", required=True)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--cycles", type=int, default=8)
    p.add_argument("--only", help="comma-separated: obs-agent,prometheus,vmalert")
    args = p.parse_args()
    common.install_signal_handlers()
    workdir = tempfile.mkdtemp(prefix="rules-bench-")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_port = sink.server_address[1]
    agent = os.path.abspath(args.agent)

    def vmalert(server, rules):
        port = common.free_port()
        helper = common.Server(common.ServerSpec(
            "vmalert", "vmalert -rule=%s -datasource.url=http://127.0.0.1:%d -remoteWrite.url=http://127.0.0.1:%d "
                       "-notifier.url=http://127.0.0.1:%d -evaluationInterval=15s -httpListenAddr=127.0.0.1:{port}"
                       % (rules, server.port, server.port, sink_port)), os.path.join(workdir, "vmalert"), ready_path="/health")
        helper.start(60)
        return helper

    systems = [
        ("obs-agent", agent + " --config.file={config} --storage.path={datadir} --web.listen-address=127.0.0.1:{port}", None),
        ("prometheus", "prometheus --config.file={config} --storage.tsdb.path={datadir} --web.listen-address=127.0.0.1:{port} "
                       "--web.enable-remote-write-receiver", None),
        ("vmalert", "victoria-metrics -storageDataPath={datadir} -httpListenAddr=127.0.0.1:{port} -retentionPeriod=100y "
                    "-search.latencyOffset=0s", vmalert),
    ]
    only = set(args.only.split(",")) if args.only else None
    results = {}
    for name, command, extra in systems:
        if only and name not in only:
            continue
        results[name] = run(name, command, args, workdir, sink_port, extra)
    rows = [[name, "%.3f" % r["cpu_per_cycle_s"], "%.0f" % r["rss_MB"], "%.0f" % r["recorded_series"], "%.0f" % r["firing_alerts"]]
            for name, r in results.items()]
    print(common.table(["system", "CPU s per cycle", "RSS MB", "recorded series", "firing alerts"], rows,
                       title="1,000 recording + 1,000 alerting rules, 15 s interval, %d hosts" % args.hosts))
    if "obs-agent" in results:
        for other in ("prometheus", "vmalert"):
            if other in results:
                a, b = results["obs-agent"], results[other]
                print("obs-agent / %s: CPU %.2fx, RSS %.2fx" % (other, a["cpu_per_cycle_s"] / b["cpu_per_cycle_s"], a["rss_MB"] / b["rss_MB"]))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
