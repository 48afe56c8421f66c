#!/usr/bin/env python3
"""Trace benchmark: OTLP/HTTP protobuf ingest, bytes per span on disk, trace-by-id latency.

usage: trace_bench.py OBS_AGENT_BINARY [SPANS] [CLIENTS]

Generates SPANS realistic spans (traces of 8 spans across 4 services, 10-20 attributes each:
HTTP, RPC, DB and Kubernetes attributes with realistic values and ids) as OTLP protobuf export
requests of 512 spans, starts the agent on a fresh data directory with nothing else to do, pushes
them from CLIENTS concurrent keep-alive connections, and reports spans per second, spans per
CPU-second of the agent (its user + system time from /proc while pushing, i.e. per core), peak
RSS, then stops it gracefully (the head is flushed) and reports the trace store's bytes per span.
Finally restarts it on the same data and times GET /api/traces/<id> (OTLP JSON, as Tempo answers)
for 300 random stored traces: p50, p99 and max.
"""
import http.client, os, random, resource, signal, subprocess, sys, tempfile, threading, time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

binary = sys.argv[1]
total = int(float(sys.argv[2])) if len(sys.argv) > 2 else 1_000_000
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
per_request = 512
spans_per_trace = 8
rng = random.Random(7)

SERVICES = ["frontend", "checkout", "payments", "inventory"]
ROUTES = ["/api/v1/users/{id}", "/api/v1/orders/{id}", "/api/v1/cart", "/healthz", "/api/v2/search", "/checkout"]
TABLES = ["users", "orders", "carts", "payments", "stock"]


def kv(key, value):
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource(service, pod):
    return Resource(attributes=[kv("service.name", service), kv("service.version", "1.%d.0" % rng.randint(0, 9)),
                                kv("k8s.namespace.name", "shop"), kv("k8s.pod.name", pod), kv("k8s.node.name", "node-3"),
                                kv("host.name", "node-3"), kv("telemetry.sdk.language", "python"),
                                kv("telemetry.sdk.name", "opentelemetry"), kv("telemetry.sdk.version", "1.27.0")])


def span(trace_id, span_id, parent, service, index, start):
    duration = int(rng.lognormvariate(16, 1.2))
    kind = 2 if index == 0 else rng.choice([1, 3, 3, 2])
    attrs = [kv("http.request.method", rng.choice(["GET", "POST", "PUT"])),
             kv("http.route", rng.choice(ROUTES)), kv("http.response.status_code", rng.choice([200] * 12 + [404, 500, 503])),
             kv("url.scheme", "https"), kv("server.address", service + ".shop.svc.cluster.local"), kv("server.port", 8080),
             kv("network.protocol.version", "1.1"), kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
             kv("request.id", "%016x" % rng.getrandbits(64)), kv("enduser.id", "u-%d" % rng.randint(1, 50_000))]
    if kind == 3:
        table = rng.choice(TABLES)
        attrs += [kv("db.system", "postgresql"), kv("db.name", "shop"), kv("db.operation", "SELECT"),
                  kv("db.statement", "SELECT * FROM %s WHERE id = $1" % table), kv("db.sql.table", table),
                  kv("net.peer.name", "postgres.shop"), kv("rows", rng.randint(0, 200))]
    else:
        attrs += [kv("rpc.system", "grpc"), kv("thread.id", rng.randint(1, 64)), kv("cache.hit", rng.random() < 0.7)]
    status = Status(code=2, message="upstream error") if rng.random() < 0.03 else Status()
    return Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name="%s %s" % (service, rng.choice(ROUTES)),
                kind=kind, start_time_unix_nano=start, end_time_unix_nano=start + duration, attributes=attrs, status=status)


def payloads():
    now = time.time_ns()
    bodies, ids = [], []
    made = 0
    while made < total:
        by_service = {s: [] for s in SERVICES}
        for _ in range(per_request // spans_per_trace):
            trace_id = rng.getrandbits(128).to_bytes(16, "big")
            ids.append(trace_id.hex())
            start = now - rng.randint(0, 600) * 1_000_000_000
            parent = b""
            for index in range(spans_per_trace):
                span_id = rng.getrandbits(64).to_bytes(8, "big")
                service = SERVICES[index % len(SERVICES)]
                by_service[service].append(span(trace_id, span_id, parent, service, index, start + index * 1_000_000))
                parent = span_id if index < 2 else parent
                made += 1
        request = ExportTraceServiceRequest(resource_spans=[
            ResourceSpans(resource=resource(s, s + "-7d9f8c-x2k4p"),
                          scope_spans=[ScopeSpans(scope=InstrumentationScope(name="opentelemetry.instrumentation.flask", version="0.48b0"),
                                                  spans=spans)])
            for s, spans in by_service.items()])
        bodies.append(request.SerializeToString())
    return bodies, ids


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def start_agent(work, port):
    config = os.path.join(work, "config.yml")
    with open(config, "w") as f:
        f.write("scrape_configs: []\nlogs:\n  inputs: []\n")
    agent = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={work}/data", f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/-/ready")
            if connection.getresponse().status == 200:
                return agent
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("agent did not start")


print(f"generating {total} spans ...", file=sys.stderr)
bodies, trace_ids = payloads()
raw = sum(len(b) for b in bodies)
work = tempfile.mkdtemp(prefix="tracebench-")
port = 19470
agent = start_agent(work, port)
queue = list(range(len(bodies)))
lock = threading.Lock()
errors = []


def push():
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
        with lock:
            if not queue:
                return
            index = queue.pop()
        connection.request("POST", "/v1/traces", body=bodies[index], headers={"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            errors.append(response.status)


cpu_before = cpu_seconds(agent.pid)
began = time.time()
threads = [threading.Thread(target=push) for _ in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.time() - began
cpu = cpu_seconds(agent.pid) - cpu_before
rss = peak_rss(agent.pid)
agent.send_signal(signal.SIGTERM)
agent.wait()
disk = sum(os.path.getsize(os.path.join(root, name)) for root, _, files in os.walk(os.path.join(work, "data", "traces")) for name in files)

agent = start_agent(work, port)
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
latencies = []
for trace_id in rng.sample(trace_ids, min(300, len(trace_ids))):
    began_lookup = time.perf_counter()
    connection.request("GET", f"/api/traces/{trace_id}")
    response = connection.getresponse()
    body = response.read()
    latencies.append(time.perf_counter() - began_lookup)
    if response.status != 200 or trace_id not in body.decode(errors="replace"):
        errors.append(f"lookup {trace_id}: {response.status}")
agent.send_signal(signal.SIGTERM)
agent.wait()
latencies.sort()

print(f"spans: {total}, requests: {len(bodies)} of {per_request} spans, {raw / total:.0f} protobuf bytes per span, {clients} clients")
print(f"ingest: {total / elapsed:,.0f} spans/s wall, agent CPU {cpu:.2f} s -> {total / cpu:,.0f} spans per CPU-second, peak RSS {rss / 1e6:.0f} MB")
print(f"disk: {disk / 1e6:.1f} MB for the trace store after the final flush -> {disk / total:.1f} bytes per span "
      f"({raw / disk:.1f}x smaller than the OTLP protobuf)")
print(f"trace by id ({len(latencies)} lookups, {spans_per_trace} spans each, {total} spans stored): "
      f"p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, "
      f"max {latencies[-1] * 1000:.2f} ms")
print(f"errors: {len(errors)} {errors[:3]}")
