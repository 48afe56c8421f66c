#!/usr/bin/env python3
"""What the DaemonSet costs on a node: the agent running the ConfigMap's configuration as shipped
(30 s scrapes, the default rules, its Alertmanager), on a realistic node:

  kubelet   a stand-in API server (in-cluster discovery, HTTPS, the token) lists this node and
            --pods pods; the stand-in kubelet serves /metrics, /metrics/cadvisor and
            /metrics/probes, each --series series, over HTTPS with the token;
  pods      --exporters of the pods carry the prometheus.io annotations and serve --series series;
  logs      --pods pod log files under /var/log/pods in the kubelet's layout, --log-rate bytes per
            second in total, CRI lines of about 200 bytes, rotated at 10 MB as the kubelet does.

The two host paths a pod is given (the service-account directory and /var/log/pods) are temporary
directories; nothing else in the configuration changes. After --warmup seconds, CPU and RSS are
sampled for --measure seconds. For scale, Prometheus 2.42 scrapes the same targets (static
configuration, no logs, no rules) in a second run with the same load.

usage: bench/node_footprint.py --agent .build/release/obs-agent [--measure 120] [--warmup 60]
"""
import argparse
import http.server
import json
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def certificates(directory):
    script = """set -e
cd '%s'
q() { "$@" > /dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
""" % directory
    subprocess.run(["bash", "-c", script], check=True)


def exposition(prefix, series, started):
    """`series` series in families of 50, counters advancing with time."""
    elapsed = time.time() - started
    lines = []
    for family in range(series // 50):
        name = "%s_family_%d_total" % (prefix, family)
        lines.append("# HELP %s Synthetic counter family %d." % (name, family))
        lines.append("# TYPE %s counter" % name)
        for i in range(50):
            lines.append('%s{pod="pod-%d",container="c",code="%d"} %r' % (name, i, 200 + i % 5, 1000 + elapsed * (i + 1)))
    return ("\n".join(lines) + "\n").encode()


def serve(handler_class, tls_dir=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    if tls_dir:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "server.key"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def quiet(cls):
    cls.log_message = lambda *args: None
    cls.protocol_version = "HTTP/1.1"
    return cls


def reply(handler, status, body, content_type="text/plain; version=0.0.4"):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def start_targets(args, tls_dir, token, started):
    @quiet
    class Kubelet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != "Bearer " + token:
                return reply(self, 401, b"Unauthorized\n")
            prefix = {"/metrics": "kubelet", "/metrics/cadvisor": "container", "/metrics/probes": "prober"}.get(self.path)
            if not prefix:
                return reply(self, 404, b"404 page not found\n")
            reply(self, 200, exposition(prefix, args.series, started))

    @quiet
    class Exporter(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            reply(self, 200, exposition("app", args.series, started))

    kubelet = serve(Kubelet, tls_dir)
    exporters = [serve(Exporter) for _ in range(args.exporters)]
    return kubelet.server_address[1], [e.server_address[1] for e in exporters]


def start_api_server(args, tls_dir, kubelet_port, exporter_ports):
    node = {"metadata": {"name": "node-a", "labels": {"kubernetes.io/os": "linux"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}}}}
    pods = []
    for i in range(args.pods):
        annotations = {}
        if i < len(exporter_ports):
            annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(exporter_ports[i])}
        pods.append({"metadata": {"name": "pod-%d" % i, "namespace": "ns-%d" % (i % 8), "uid": "uid-%d" % i,
                                  "labels": {"app": "app-%d" % i}, "annotations": annotations},
                     "spec": {"nodeName": "node-a", "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
                     "status": {"phase": "Running", "podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}})

    @quiet
    class APIServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if "watch=true" in self.path:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                time.sleep(3600)
                return
            items = {"/api/v1/nodes": [node], "/api/v1/pods": pods}.get(path)
            if items is None:
                return reply(self, 404, b"{}", "application/json")
            reply(self, 200, json.dumps({"metadata": {"resourceVersion": "1"}, "items": items}).encode(), "application/json")

    http.server.ThreadingHTTPServer.daemon_threads = True
    return serve(APIServer, tls_dir).server_address[1]


class LogWriter(threading.Thread):
    """--pods files at --log-rate bytes per second in total, rotated at 10 MB."""

    def __init__(self, root, pods, rate):
        super().__init__(daemon=True)
        self.paths = []
        for i in range(pods):
            folder = os.path.join(root, "ns-%d_pod-%d_uid-%d" % (i % 8, i, i), "c")
            os.makedirs(folder, exist_ok=True)
            self.paths.append(os.path.join(folder, "0.log"))
        self.rate = rate
        self.written = 0
        self.stopping = False

    def run(self):
        tick = 0.1
        filler = "x" * 120
        while not self.stopping:
            start = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + ".%09dZ" % int((start % 1) * 1e9)
            budget = self.rate * tick
            per_file = budget / len(self.paths)
            for path in self.paths:
                chunk = []
                size = 0
                while size < per_file:
                    level = random.choice(("info", "info", "info", "warn", "error"))
                    line = '%s stdout F level=%s msg="handled request" id=%d %s\n' % (stamp, level, random.randrange(10 ** 9), filler)
                    chunk.append(line)
                    size += len(line)
                with open(path, "a") as f:
                    f.write("".join(chunk))
                self.written += size
                if os.path.getsize(path) > 10 << 20:
                    os.rename(path, path + "." + time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
            time.sleep(max(0.0, tick - (time.time() - start)))


def counter(server, name):
    """The sum of a counter in the server's own /metrics."""
    _, body = common.http_get("127.0.0.1", server.port, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def measure(server, warmup, duration, counters=()):
    """CPU in cores, mean and peak RSS, and the rate of each of `counters` over the measurement."""
    time.sleep(warmup)
    cpu0, t0 = server.cpu(), time.time()
    before = [counter(server, name) for name in counters]
    rss = []
    while time.time() - t0 < duration:
        rss.append(server.rss())
        time.sleep(1)
    elapsed = time.time() - t0
    cpu = (server.cpu() - cpu0) / elapsed
    rates = [(counter(server, name) - b) / elapsed for name, b in zip(counters, before)]
    return cpu, sum(rss) / len(rss), max(rss), rates


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    parser.add_argument("--pods", type=int, default=40)
    parser.add_argument("--exporters", type=int, default=5)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--log-rate", type=int, default=1 << 20)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--measure", type=int, default=120)
    args = parser.parse_args()
    common.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="node-footprint-")
    tls_dir = os.path.join(work, "tls")
    service_account = os.path.join(work, "serviceaccount")
    pods_dir = os.path.join(work, "pods")
    for d in (tls_dir, service_account, pods_dir):
        os.makedirs(d)
    certificates(tls_dir)
    shutil.copy(os.path.join(tls_dir, "ca.crt"), service_account)
    token = "bench-token"
    with open(os.path.join(service_account, "token"), "w") as f:
        f.write(token + "\n")
    started = time.time()
    kubelet_port, exporter_ports = start_targets(args, tls_dir, token, started)
    api_port = start_api_server(args, tls_dir, kubelet_port, exporter_ports)

    with open(os.path.join(REPO, "deploy", "kubernetes", "configmap.yaml")) as f:
        files = yaml.safe_load(f)["data"]
    config_dir = os.path.join(work, "config")
    os.makedirs(config_dir)
    for name, text in files.items():
        text = text.replace("/var/run/secrets/kubernetes.io/serviceaccount", service_account).replace("/var/log/pods", pods_dir)
        with open(os.path.join(config_dir, name), "w") as f:
            f.write(text)

    writer = LogWriter(pods_dir, args.pods, args.log_rate)
    writer.start()
    results = []

    # The shipped configuration scrapes the agent at localhost:9090, where the DaemonSet has it listen.
    try:
        common.http_get("127.0.0.1", 9090, "/", timeout=1)
        port = common.free_port()
    except OSError:
        port = 9090
    environment = dict(os.environ, NODE_NAME="node-a", KUBERNETES_SERVICE_HOST="127.0.0.1",
                       KUBERNETES_SERVICE_PORT=str(api_port), OBS_AGENT_SERVICE_ACCOUNT_DIR=service_account)
    spec = common.ServerSpec("obs-agent", "%s --config.file=%s --storage.path={datadir} --web.listen-address=127.0.0.1:{port}"
                             % (os.path.abspath(args.agent), os.path.join(config_dir, "obs-agent.yml")))
    agent = common.Server(spec, os.path.join(work, "agent"))
    agent.port = port
    os.environ.update(environment)
    agent.start()
    common.log("obs-agent ready; warming up %d s, then measuring %d s" % (args.warmup, args.measure))
    cpu, rss_mean, rss_max, (lines, read) = measure(agent, args.warmup, args.measure,
                                                    ("obs_logs_tail_lines_total", "obs_logs_tail_read_bytes_total"))
    targets = json.loads(common.http_get("127.0.0.1", port, "/api/v1/targets")[1])["data"]["activeTargets"]
    up = sum(1 for t in targets if t["health"] == "up")
    samples = common.scalar_result(common.promql(agent, "sum(scrape_samples_scraped)"))
    disk = common.du(agent.datadir)[0]
    agent.stop()
    results.append(("obs-agent (ConfigMap as shipped)", cpu, rss_mean, rss_max,
                    "%d of %d targets up, %s samples per scrape round, %.0f lines/s (%.2f MB/s) tailed, %.0f MB on disk"
                    % (up, len(targets), common.fmt(samples), lines, read / 1e6, disk / 1e6)))

    if os.path.exists(args.prometheus):
        targets = ["127.0.0.1:%d" % p for p in exporter_ports]
        config = {"global": {"scrape_interval": "30s", "scrape_timeout": "10s"}, "scrape_configs": [
            {"job_name": job, "scheme": "https", "metrics_path": path, "tls_config": {"insecure_skip_verify": True},
             "authorization": {"credentials_file": os.path.join(service_account, "token")},
             "static_configs": [{"targets": ["127.0.0.1:%d" % kubelet_port]}]}
            for job, path in (("kubelet", "/metrics"), ("cadvisor", "/metrics/cadvisor"), ("kubelet-probes", "/metrics/probes"))
        ] + [{"job_name": "pods", "static_configs": [{"targets": targets}]}]}
        spec = common.ServerSpec("prometheus", args.prometheus + " --config.file={config} --storage.tsdb.path={datadir}"
                                                " --web.listen-address=127.0.0.1:{port}")
        prometheus = common.Server(spec, os.path.join(work, "prometheus"))
        prometheus.write_config(yaml.safe_dump(config))
        prometheus.start()
        cpu, rss_mean, rss_max, _ = measure(prometheus, args.warmup, args.measure)
        up = common.scalar_result(common.promql(prometheus, "sum(up)"))
        samples = common.scalar_result(common.promql(prometheus, "sum(scrape_samples_scraped)"))
        disk = common.du(prometheus.datadir)[0]
        prometheus.stop()
        results.append(("Prometheus 2.42 (same targets; no logs, no rules)", cpu, rss_mean, rss_max,
                        "%s of %d targets up, %s samples per scrape round, %.0f MB on disk"
                        % (common.fmt(up), 3 + args.exporters, common.fmt(samples), disk / 1e6)))

    writer.stopping = True
    rows = [(name, "%.3f" % cpu, "%.0f" % (mean / 2 ** 20), "%.0f" % (peak / 2 ** 20), note) for name, cpu, mean, peak, note in results]
    print(common.table(["process", "CPU (cores)", "RSS mean (MiB)", "RSS max (MiB)", "notes"], rows,
                       title="Node footprint: %d pods, %d log files at %.1f MB/s, %d targets of %d series, 30 s scrapes"
                       % (args.pods, args.pods, args.log_rate / 1e6, 3 + args.exporters, args.series)))
    print("log bytes written: %.1f MB in %.0f s" % (writer.written / 1e6, time.time() - started))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
