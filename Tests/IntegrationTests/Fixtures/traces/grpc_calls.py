"""OTLP/gRPC calls against a TLS listener with grpcio, each case's status code printed as JSON.

usage: grpc_calls.py HOST:PORT CERT_DIR
CERT_DIR holds ca.crt, other-ca.crt, client.crt/.key, expired-client.crt and other.crt/.key.
"""
import base64, json, os, sys

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

target, certs = sys.argv[1], sys.argv[2]


def read(name):
    with open(os.path.join(certs, name), "rb") as f:
        return f.read()


def request(service, trace_id, padding=0):
    span = trace_pb2.Span(trace_id=trace_id, span_id=b"\x01" * 8, name="grpc-tls", start_time_unix_nano=1_700_000_000_000_000_000,
                          end_time_unix_nano=1_700_000_001_000_000_000, kind=trace_pb2.Span.SPAN_KIND_SERVER)
    if padding:
        span.attributes.append(common_pb2.KeyValue(key="padding", value=common_pb2.AnyValue(string_value="x" * padding)))
    resource = resource_pb2.Resource(attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))])
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])


def call(ca="ca.crt", client="client", key=None, auth=("alice", "secret"), plaintext=False, compression=None, padding=0, method=None, trace=1):
    if plaintext:
        channel = grpc.insecure_channel(target)
    else:
        creds = grpc.ssl_channel_credentials(root_certificates=read(ca),
                                             private_key=read((key or client) + ".key") if client else None,
                                             certificate_chain=read(client + ".crt") if client else None)
        channel = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    metadata = [("authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())] if auth else []
    try:
        with channel:
            if method:
                channel.unary_unary(method)(b"", metadata=metadata, timeout=5)
            else:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)
                stub.Export(request("grpc-tls-%d" % trace, bytes([trace]) * 16, padding), metadata=metadata, timeout=5, compression=compression)
        return "OK"
    except grpc.RpcError as error:
        return error.code().name


print(json.dumps({
    "good": call(trace=1),
    "gzip": call(compression=grpc.Compression.Gzip, trace=2),
    "no credentials": call(auth=None),
    "wrong password": call(auth=("alice", "nope")),
    "no client certificate": call(client=None),
    "client certificate of another CA": call(client="other"),
    "expired client certificate": call(client="expired-client", key="client"),
    "server checked against the wrong CA": call(ca="other-ca.crt"),
    "plaintext": call(plaintext=True),
    "unknown method": call(method="/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
    "too large": call(padding=200_000),
}))
