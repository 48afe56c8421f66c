#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server: answers list and watch for pods, nodes, services,
endpoints and endpoint slices with recorded objects, the way the real one does. The cluster-wide
pod watch adds a pod after a second and deletes one a second later. Every request line is
appended, with its Authorization header, to the log file given as the second argument.

Usage: fake-kube-apiserver.py PORT LOGFILE [PORTFILE]
With KUBELET_PORT set, the node's address is 127.0.0.1 and its kubelet listens on that port; with
TLS_CERT and TLS_KEY set, it serves HTTPS (as in-cluster clients expect).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs


def pod(name, ip, scrape, port="9102", phase="Running", extra_ports=()):
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": port} if scrape else {}
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": "shop", "uid": "uid-" + name, "resourceVersion": "100",
            "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"}, "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f", "controller": True}],
        },
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "web", "image": "shop/web:1.2",
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}] + list(extra_ports)}],
        },
        "status": {
            "phase": phase, "podIP": ip, "hostIP": "10.0.0.10",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "containerID": "containerd://abc" + name}],
        },
    }


NODE = {
    "kind": "Node", "apiVersion": "v1",
    "metadata": {"name": "node-a", "labels": {"kubernetes.io/os": "linux"}, "resourceVersion": "7"},
    "spec": {"providerID": "kind://docker/kind/node-a"},
    "status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": "node-a"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
    },
}

SERVICES = [
    {"kind": "Service", "apiVersion": "v1",
     "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "31",
                  "labels": {"app": "web"}, "annotations": {"prometheus.io/probe": "true"}},
     "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
              "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                        {"name": "metrics", "port": 9102, "protocol": "TCP"}]}},
    {"kind": "Service", "apiVersion": "v1",
     "metadata": {"name": "db", "namespace": "shop", "resourceVersion": "32"},
     "spec": {"type": "ExternalName", "externalName": "db.example.com", "ports": [{"port": 5432, "protocol": "TCP"}]}},
]

# The pods of the namespace as the endpoints roles see them: web-1 also serves metrics on a port
# no endpoint names, which Prometheus makes a target of its own.
SHOP_PODS = [pod("web-1", "10.0.0.1", True, extra_ports=[{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]),
             pod("db-1", "10.0.0.2", False)]

# web-1 on this node and ready; web-9 on another node, not ready, its pod unknown here.
ENDPOINT_SLICES = [
    {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
     "metadata": {"name": "web-abc12", "namespace": "shop", "resourceVersion": "41",
                  "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
     "addressType": "IPv4",
     "endpoints": [
         {"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False},
          "nodeName": "node-a", "zone": "zone-1", "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "uid-web-1"}},
         {"addresses": ["10.0.1.7"], "conditions": {"ready": False, "serving": False, "terminating": True},
          "nodeName": "node-b", "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-9"}},
     ],
     "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}]},
]

ENDPOINTS = [
    {"kind": "Endpoints", "apiVersion": "v1",
     "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "42", "labels": {"app": "web"}},
     "subsets": [{"addresses": [{"ip": "10.0.0.1", "nodeName": "node-a", "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1"}}],
                  "notReadyAddresses": [{"ip": "10.0.1.7", "nodeName": "node-b", "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-9"}}],
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]},
]

# Namespaced collections that list their objects and then watch with no change.
STATIC = {
    "/api/v1/namespaces/shop/pods": ("PodList", SHOP_PODS),
    "/api/v1/namespaces/shop/endpoints": ("EndpointsList", ENDPOINTS),
    "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices": ("EndpointSliceList", ENDPOINT_SLICES),
}

if os.environ.get("KUBELET_PORT"):
    NODE["status"]["addresses"][0]["address"] = "127.0.0.1"
    NODE["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = int(os.environ["KUBELET_PORT"])

LOG = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(LOG, "a") as log:
            log.write(self.path + " " + (self.headers.get("Authorization") or "-") + "\n")
        url = urlparse(self.path)
        query = parse_qs(url.query)
        watching = query.get("watch") == ["true"]
        if url.path == "/api/v1/pods":
            if watching:
                return self.stream([("ADDED", pod("web-3", "10.0.0.3", True)), ("DELETED", pod("web-1", "10.0.0.1", True))])
            return self.send_json({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"},
                                   "items": [pod("web-1", "10.0.0.1", True), pod("db-1", "10.0.0.2", False),
                                             pod("job-1", "10.0.0.4", True, phase="Succeeded")]})
        if url.path == "/api/v1/nodes":
            if watching:
                return self.stream([])
            return self.send_json({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [NODE]})
        if url.path == "/api/v1/namespaces/shop/services":
            if watching:
                return self.stream([])
            return self.send_json({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "32"}, "items": SERVICES})
        if url.path in STATIC:
            if watching:
                return self.stream([])
            kind, items = STATIC[url.path]
            return self.send_json({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "50"}, "items": items})
        self.send_json({"kind": "Status", "status": "Failure", "code": 404}, status=404)

    def send_json(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, events):
        # A watch: one JSON event per line, the connection held open, as the API server does.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            # With HOLD_WATCH set, events wait until that file exists: a test that looks at the list
            # first must not race the watch on a loaded machine.
            hold = os.environ.get("HOLD_WATCH")
            for _ in range(1200):
                if not hold or os.path.exists(hold):
                    break
                time.sleep(0.1)
            for kind, obj in events:
                time.sleep(1)
                self.wfile.write((json.dumps({"type": kind, "object": obj}) + "\n").encode())
                self.wfile.flush()
            time.sleep(60)
        except (BrokenPipeError, ConnectionResetError):
            pass


# Never outlive a test run that lost track of this process.
threading.Timer(120, lambda: os._exit(0)).start()
ThreadingHTTPServer.daemon_threads = True
# Port 0 binds a free port, written to the file named third, so no other process can take it
# between choosing and binding.
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
if os.environ.get("TLS_CERT"):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["TLS_CERT"], os.environ["TLS_KEY"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
if len(sys.argv) > 3:
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])
server.serve_forever()
