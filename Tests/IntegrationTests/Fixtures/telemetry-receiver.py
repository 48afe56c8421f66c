#!/usr/bin/env python3
"""A minimal destination for forwarded telemetry, decoding each protocol on its own from the
published schemas (no code shared with the agent): Prometheus remote write at /api/v1/write
(prompb WriteRequest, snappy) and Loki push at /loki/api/v1/push (logproto PushRequest, snappy),
read field by field; OTLP traces and logs with the OpenTelemetry project's generated classes
(opentelemetry-proto), over HTTP at /v1/traces and /v1/logs (gzip or plain) or, with --grpc, as a
grpcio TraceService and LogsService server (plain HTTP/2, or TLS with --tls CERT KEY). Every sample, log line and span
received is appended to RECORD_FILE as one JSON object per line. It listens on PORT, or on a
free port when none is given, and writes the port to PORT_FILE once it listens.

--unavailable N answers the first N export calls with UNAVAILABLE (retryable); a span named
"poison" makes its call fail with INVALID_ARGUMENT (not retryable), recording nothing.

Usage: telemetry-receiver.py PORT_FILE RECORD_FILE [PORT] [--grpc] [--tls CERT KEY] [--unavailable N]
"""
import argparse
import gzip
import http.server
import json
import os
import signal
import struct
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
PARENT = os.getppid()


def watch_parent():
    # Never outlive the test run that started this process.
    while os.getppid() == PARENT:
        time.sleep(0.5)
    os._exit(0)


def varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def fields(data):
    """(field number, wire type, value) of each field of one protobuf message."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            length, at = varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield number, wire, value


def unsnappy(data):
    """Snappy's block format: the uncompressed length, then literals and back-references."""
    size, at = varint(data, 0)
    out = bytearray()
    while at < len(data):
        tag = data[at]
        at += 1
        kind = tag & 3
        if kind == 0:
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[at:at + extra], "little")
                at += extra
            length += 1
            out += data[at:at + length]
            at += length
            continue
        if kind == 1:
            length, offset = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | data[at]
            at += 1
        elif kind == 2:
            length, offset = (tag >> 2) + 1, int.from_bytes(data[at:at + 2], "little")
            at += 2
        else:
            length, offset = (tag >> 2) + 1, int.from_bytes(data[at:at + 4], "little")
            at += 4
        if offset == 0 or offset > len(out):
            raise ValueError("bad snappy offset")
        for _ in range(length):
            out.append(out[-offset])
    if len(out) != size:
        raise ValueError("snappy length mismatch")
    return bytes(out)


METRIC_TYPES = ["unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"]


def remote_write(body):
    # WriteRequest: timeseries = 1 { labels = 1 { name = 1, value = 2 }, samples = 2 { value = 1, timestamp = 2 } },
    # metadata = 3 { type = 1, metric_family_name = 2, help = 4, unit = 5 }
    for number, _, series in fields(body):
        if number == 3:
            entry = {n: v for n, _, v in fields(series)}
            yield {"kind": "metadata", "family": entry.get(2, b"").decode(), "type": METRIC_TYPES[entry.get(1, 0)],
                   "help": entry.get(4, b"").decode(), "unit": entry.get(5, b"").decode()}
            continue
        if number != 1:
            continue
        labels, samples = {}, []
        for field, _, value in fields(series):
            if field == 1:
                pair = {n: v.decode() for n, _, v in fields(value)}
                labels[pair.get(1, "")] = pair.get(2, "")
            elif field == 2:
                sample = {n: v for n, _, v in fields(value)}
                timestamp = sample.get(2, 0)
                if timestamp >= 1 << 63:
                    timestamp -= 1 << 64
                samples.append((timestamp, struct.unpack("<d", sample.get(1, b"\0" * 8))[0]))
        for timestamp, value in samples:
            yield {"kind": "sample", "labels": labels, "t": timestamp, "v": value}


def loki_push(body, tenant):
    # PushRequest: streams = 1 { labels = 1, entries = 2 { timestamp = 1 { seconds = 1, nanos = 2 }, line = 2 } }
    for number, _, stream in fields(body):
        if number != 1:
            continue
        labels, entries = "", []
        for field, _, value in fields(stream):
            if field == 1:
                labels = value.decode()
            elif field == 2:
                entry = {n: v for n, _, v in fields(value)}
                stamp = {n: v for n, _, v in fields(entry.get(1, b""))}
                entries.append((stamp.get(1, 0) * 1_000_000_000 + stamp.get(2, 0), entry.get(2, b"").decode()))
        for timestamp, line in entries:
            yield {"kind": "log", "labels": labels, "tenant": tenant, "t": timestamp, "line": line}


def otlp_traces(request):
    """The spans of an ExportTraceServiceRequest, decoded by the generated classes."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {"kind": "span", "trace": span.trace_id.hex(), "span": span.span_id.hex(), "name": span.name}


def otlp_logs(request):
    """The log records of an ExportLogsServiceRequest, with their resource's attributes."""
    for resource_logs in request.resource_logs:
        resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield {"kind": "log", "labels": resource, "t": record.time_unix_nano, "line": record.body.string_value,
                       "attributes": {kv.key: kv.value.string_value for kv in record.attributes},
                       "scope": scope_logs.scope.name}


LOCK = threading.Lock()
RECORD_FILE = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            if self.path == "/api/v1/write":
                records = list(remote_write(unsnappy(body)))
            elif self.path == "/loki/api/v1/push":
                records = list(loki_push(unsnappy(body), self.headers.get("X-Scope-OrgID")))
            elif self.path in ("/v1/traces", "/v1/logs"):
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    records = list(otlp_traces(trace_service_pb2.ExportTraceServiceRequest.FromString(body)))
                else:
                    records = list(otlp_logs(logs_service_pb2.ExportLogsServiceRequest.FromString(body)))
            else:
                self.answer(404, b"not found\n")
                return
        except (ValueError, IndexError, UnicodeDecodeError, OSError, EOFError, DecodeError) as error:
            self.answer(400, ("cannot decode: %s\n" % error).encode())
            return
        record(records)
        if self.path.startswith("/v1/"):
            self.answer(200, b"", "application/x-protobuf")
        else:
            self.answer(204, b"")

    def answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def record(records):
    with LOCK, open(RECORD_FILE, "a") as out:
        for item in records:
            out.write(json.dumps(item) + "\n")


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, unavailable):
        self.unavailable = unavailable

    def Export(self, request, context):
        with LOCK:
            refuse = self.unavailable > 0
            self.unavailable -= 1
        if refuse:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        spans = list(otlp_traces(request))
        if any(span["name"] == "poison" for span in spans):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a poison span: refused for good")
        record(spans)
        return trace_service_pb2.ExportTraceServiceResponse()


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        record(list(otlp_logs(request)))
        return logs_service_pb2.ExportLogsServiceResponse()


def serve_grpc(port, tls, unavailable):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(unavailable), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(), server)
    address = "127.0.0.1:%d" % port
    if tls:
        with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([(key.read(), cert.read())]))
    else:
        bound = server.add_insecure_port(address)
    server.start()
    return server, bound


def main():
    global RECORD_FILE
    threading.Thread(target=watch_parent, daemon=True).start()
    arguments = argparse.ArgumentParser()
    arguments.add_argument("port_file")
    arguments.add_argument("record_file")
    arguments.add_argument("port", nargs="?", type=int, default=0)
    arguments.add_argument("--grpc", action="store_true")
    arguments.add_argument("--tls", nargs=2)
    arguments.add_argument("--unavailable", type=int, default=0)
    options = arguments.parse_args()
    RECORD_FILE = options.record_file
    if options.grpc:
        server, port = serve_grpc(options.port, options.tls, options.unavailable)
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
        port = server.server_address[1]
    with open(options.port_file + ".tmp", "w") as out:
        out.write(str(port))
    os.rename(options.port_file + ".tmp", options.port_file)
    if options.grpc:
        server.wait_for_termination()
    else:
        server.serve_forever()


if __name__ == "__main__":
    main()
