import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A webhook receiver in Python that appends every POST to `hooks.jsonl` as
/// `{"t": seconds, "path": path, "body": payload}`. Paths under `/fail/` answer 500 and paths under
/// `/hang/` answer after a minute, for fault tests. It unblocks SIGTERM (the test process hands
/// down a mask that blocks it) and exits with the test process.
final class WebhookRecorder {
    let process: Process
    let port: Int
    let file: String

    init(directory: String) throws {
        port = try ScrapeIntegrationTests.freePort()
        file = directory + "/hooks.jsonl"
        process = try startPython("""
        import http.server, json, os, signal, threading, time
        lock = threading.Lock()
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                if self.path.startswith('/hang/'):
                    time.sleep(60)
                with lock, open('\(file)', 'a') as f:
                    f.write(json.dumps({"t": time.time(), "path": self.path, "auth": self.headers.get('Authorization'),
                                        "body": json.loads(body)}) + "\\n")
                self.send_response(500 if self.path.startswith('/fail/') else 200)
                self.end_headers()
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), Hook).serve_forever()
        """, at: directory + "/webhook.py")
    }

    /// For Python helpers the tests start: the test process hands down a signal mask that blocks
    /// SIGTERM, so take it back (`terminate()` works), and end with the test process even if
    /// nobody stops the helper.
    static let pythonPreamble = """
        import os as _os, signal as _signal, threading as _threading, time as _time
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM})
        _parent = _os.getppid()
        def _watch():
            while _os.getppid() == _parent:
                _time.sleep(0.5)
            _os._exit(0)
        _threading.Thread(target=_watch, daemon=True).start()
        """

    var url: String { "http://127.0.0.1:\(port)" }

    func waitUntilUp() async throws {
        let up = try await AlertingIntegrationTests.eventually(seconds: 20) { (try? await http(.GET, url + "/")) != nil }
        guard up else { throw TestFailure("the webhook receiver did not start") }
    }

    struct Notification {
        var time: Double
        var path: String
        var authorization: String?
        var body: [String: Any]

        var groupKey: String { body["groupKey"] as? String ?? "" }
        var status: String { body["status"] as? String ?? "" }
        var alerts: [[String: Any]] { body["alerts"] as? [[String: Any]] ?? [] }
        var truncated: Int { body["truncatedAlerts"] as? Int ?? -1 }
        /// Each alert as `fingerprint:status`, in payload order.
        var alertSummary: [String] { alerts.map { "\($0["fingerprint"] as? String ?? "?"):\($0["status"] as? String ?? "?")" } }
    }

    /// Every notification so far whose path starts with `prefix`.
    func notifications(under prefix: String = "/") -> [Notification] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> Notification? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let path = object["path"] as? String, path.hasPrefix(prefix) else { return nil }
            return Notification(time: object["t"] as? Double ?? 0, path: path, authorization: object["auth"] as? String,
                                body: object["body"] as? [String: Any] ?? [:])
        }
    }

    deinit { process.terminate() }
}
