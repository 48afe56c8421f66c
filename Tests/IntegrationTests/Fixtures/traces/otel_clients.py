"""Sends one trace through each of the OpenTelemetry Python SDK's exporters: OTLP/HTTP protobuf,
OTLP/gRPC and Zipkin JSON. usage: otel_clients.py HTTP_BASE GRPC_HOST:PORT
Prints one JSON object: exporter name -> {"trace_id": hex, "service": name}."""
import json
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

base, grpc = sys.argv[1], sys.argv[2]
exporters = {
    "otlp-http": HTTPExporter(endpoint=base + "/v1/traces"),
    "otlp-grpc": GRPCExporter(endpoint=grpc, insecure=True),
    "zipkin": ZipkinExporter(endpoint=base + "/api/v2/spans"),
}
out = {}
for name, exporter in exporters.items():
    service = "checkout-" + name
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test",
                                                        "host.name": "node-1", "k8s.pod.name": "checkout-7f9c"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.instrumentation", "1.4.2")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.route", "/checkout")
        root.set_attribute("http.response.status_code", 502)
        root.set_attribute("url.scheme", "https")
        root.set_attribute("user_agent.original", "curl/8.5")
        root.set_attribute("server.address", "shop.example")
        root.set_attribute("server.port", 443)
        root.set_attribute("cart.items", 3)
        root.set_attribute("cart.total", 59.9)
        root.set_attribute("customer.vip", True)
        root.set_attribute("feature.flags", ["fast-pay", "new-ui"])
        root.set_attribute("request.id", "r-8812")
        root.add_event("payment.retry", {"attempt": 2})
        root.set_status(Status(StatusCode.ERROR, "payment gateway failed"))
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as child:
            child.set_attribute("peer.service", "payments")
            child.set_attribute("rpc.system", "grpc")
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    provider.shutdown()
    out[name] = {"trace_id": trace_id, "service": service}
print(json.dumps(out))
