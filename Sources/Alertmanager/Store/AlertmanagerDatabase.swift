import CShims
import CSQLite
import ObsCore

/// The Alertmanager's state in SQLite: the alerts received, the silences and the notification
/// log, each written as it changes in one transaction per change set, so what an API call
/// acknowledged and what a webhook was told survive a restart or `kill -9` (WAL journal; a process
/// crash loses no committed transaction). Blocking; callers serialise access and run it off the
/// cooperative pool.
public final class AlertmanagerDatabase: @unchecked Sendable {
    public let path: String
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    public init(path: String) throws(AlertmanagerError) {
        self.path = path
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            db = nil
            throw .storage(path: path, detail: message)
        }
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("""
            CREATE TABLE IF NOT EXISTS alerts (fingerprint INTEGER PRIMARY KEY, labels BLOB NOT NULL, annotations BLOB NOT NULL,
              starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL, generator_url TEXT NOT NULL, updated_at INTEGER NOT NULL,
              timeout INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, matchers BLOB NOT NULL, starts_at INTEGER NOT NULL,
              ends_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS nflog (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, firing BLOB NOT NULL,
              resolved BLOB NOT NULL, expires_at INTEGER NOT NULL);
            """)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(db)
    }

    // MARK: Alerts

    public func loadAlerts() throws(AlertmanagerError) -> [ManagedAlert] {
        var result: [ManagedAlert] = []
        try query("SELECT labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout FROM alerts") { s in
            result.append(ManagedAlert(labels: Labels(Self.pairs(s, 0)), annotations: Self.pairs(s, 1),
                                       startsAt: sqlite3_column_int64(s, 2), endsAt: sqlite3_column_int64(s, 3),
                                       generatorURL: Self.text(s, 4), updatedAt: sqlite3_column_int64(s, 5),
                                       timeout: sqlite3_column_int64(s, 6) != 0))
        }
        return result
    }

    public func save(alerts: [ManagedAlert]) throws(AlertmanagerError) {
        guard !alerts.isEmpty else { return }
        try transaction { () throws(AlertmanagerError) in
            let s = try statement("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            for alert in alerts {
                sqlite3_reset(s)
                sqlite3_bind_int64(s, 1, Int64(bitPattern: alert.fingerprint))
                Self.bind(s, 2, Self.encode(alert.labels.pairs))
                Self.bind(s, 3, Self.encode(alert.annotations))
                sqlite3_bind_int64(s, 4, alert.startsAt)
                sqlite3_bind_int64(s, 5, alert.endsAt)
                sqlite3_bind_text(s, 6, alert.generatorURL, -1, obs_sqlite_transient())
                sqlite3_bind_int64(s, 7, alert.updatedAt)
                sqlite3_bind_int64(s, 8, alert.timeout ? 1 : 0)
                try step(s)
            }
        }
    }

    public func delete(alerts fingerprints: [UInt64]) throws(AlertmanagerError) {
        try deleteRows("DELETE FROM alerts WHERE fingerprint = ?", fingerprints) { s, key in sqlite3_bind_int64(s, 1, Int64(bitPattern: key)) }
    }

    // MARK: Silences

    public func loadSilences() throws(AlertmanagerError) -> [Silence] {
        var result: [Silence] = []
        try query("SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment FROM silences") { s in
            let flat = Self.pairs(s, 1)
            var matchers: [Silence.Matcher] = []
            for entry in flat {
                // The flags ride in front of the name: one byte, bit 0 regex, bit 1 equal.
                guard let flags = entry.name.utf8.first else { continue }
                matchers.append(Silence.Matcher(name: String(entry.name.dropFirst()), value: entry.value,
                                                isRegex: flags & 1 != 0, isEqual: flags & 2 != 0))
            }
            result.append(Silence(id: Self.text(s, 0), matchers: matchers, startsAt: sqlite3_column_int64(s, 2),
                                  endsAt: sqlite3_column_int64(s, 3), updatedAt: sqlite3_column_int64(s, 4),
                                  createdBy: Self.text(s, 5), comment: Self.text(s, 6)))
        }
        return result
    }

    public func save(silences: [Silence]) throws(AlertmanagerError) {
        guard !silences.isEmpty else { return }
        try transaction { () throws(AlertmanagerError) in
            let s = try statement("INSERT OR REPLACE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)")
            for silence in silences {
                sqlite3_reset(s)
                sqlite3_bind_text(s, 1, silence.id, -1, obs_sqlite_transient())
                let flat = silence.matchers.map { m in
                    Label(String(UnicodeScalar(UInt8(0x40) | (m.isRegex ? 1 : 0) | (m.isEqual ? 2 : 0))) + m.name, m.value)
                }
                Self.bind(s, 2, Self.encode(flat))
                sqlite3_bind_int64(s, 3, silence.startsAt)
                sqlite3_bind_int64(s, 4, silence.endsAt)
                sqlite3_bind_int64(s, 5, silence.updatedAt)
                sqlite3_bind_text(s, 6, silence.createdBy, -1, obs_sqlite_transient())
                sqlite3_bind_text(s, 7, silence.comment, -1, obs_sqlite_transient())
                try step(s)
            }
        }
    }

    public func delete(silences ids: [String]) throws(AlertmanagerError) {
        try deleteRows("DELETE FROM silences WHERE id = ?", ids) { s, key in sqlite3_bind_text(s, 1, key, -1, obs_sqlite_transient()) }
    }

    // MARK: Notification log

    public func loadNotificationLog() throws(AlertmanagerError) -> [NotificationLog.Entry] {
        var result: [NotificationLog.Entry] = []
        try query("SELECT key, timestamp, firing, resolved, expires_at FROM nflog") { s in
            result.append(NotificationLog.Entry(key: Self.text(s, 0), timestamp: sqlite3_column_int64(s, 1),
                                                firing: Self.fingerprints(s, 2), resolved: Self.fingerprints(s, 3),
                                                expiresAt: sqlite3_column_int64(s, 4)))
        }
        return result
    }

    public func save(entry: NotificationLog.Entry) throws(AlertmanagerError) {
        let s = try statement("INSERT OR REPLACE INTO nflog VALUES (?, ?, ?, ?, ?)")
        sqlite3_reset(s)
        sqlite3_bind_text(s, 1, entry.key, -1, obs_sqlite_transient())
        sqlite3_bind_int64(s, 2, entry.timestamp)
        Self.bind(s, 3, Self.encode(entry.firing))
        Self.bind(s, 4, Self.encode(entry.resolved))
        sqlite3_bind_int64(s, 5, entry.expiresAt)
        try step(s)
    }

    public func delete(entries keys: [String]) throws(AlertmanagerError) {
        try deleteRows("DELETE FROM nflog WHERE key = ?", keys) { s, key in sqlite3_bind_text(s, 1, key, -1, obs_sqlite_transient()) }
    }

    // MARK: SQLite plumbing

    private func failure() -> AlertmanagerError { .storage(path: path, detail: String(cString: sqlite3_errmsg(db))) }

    private func execute(_ sql: String) throws(AlertmanagerError) {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "error"
            sqlite3_free(error)
            throw .storage(path: path, detail: message)
        }
    }

    private func statement(_ sql: String) throws(AlertmanagerError) -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else { throw failure() }
        statements[sql] = s
        return s
    }

    private func step(_ s: OpaquePointer) throws(AlertmanagerError) {
        guard sqlite3_step(s) == SQLITE_DONE else { throw failure() }
    }

    /// Deletes one row per key in one transaction.
    private func deleteRows<Key>(_ sql: String, _ keys: [Key], bind: (OpaquePointer, Key) -> Int32) throws(AlertmanagerError) {
        guard !keys.isEmpty else { return }
        try transaction { () throws(AlertmanagerError) in
            let s = try statement(sql)
            for key in keys {
                sqlite3_reset(s)
                _ = bind(s, key)
                try step(s)
            }
        }
    }

    private func transaction(_ body: () throws(AlertmanagerError) -> Void) throws(AlertmanagerError) {
        try execute("BEGIN")
        do {
            try body()
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
        try execute("COMMIT")
    }

    private func query(_ sql: String, _ row: (OpaquePointer) -> Void) throws(AlertmanagerError) {
        let s = try statement(sql)
        sqlite3_reset(s)
        while true {
            let code = sqlite3_step(s)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure() }
            row(s)
        }
    }

    private static func text(_ s: OpaquePointer, _ column: Int32) -> String {
        guard let text = sqlite3_column_text(s, column) else { return "" }
        return String(cString: text)
    }

    private static func bind(_ s: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { sqlite3_bind_blob(s, index, $0.baseAddress, Int32($0.count), obs_sqlite_transient()) }
    }

    private static func blob(_ s: OpaquePointer, _ column: Int32) -> UnsafeRawBufferPointer {
        let count = Int(sqlite3_column_bytes(s, column))
        guard count > 0, let base = sqlite3_column_blob(s, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base, count: count)
    }

    /// Names and values, each followed by 0xFF (a byte UTF-8 never contains).
    static func encode(_ pairs: [Label]) -> [UInt8] {
        var out: [UInt8] = []
        for pair in pairs {
            out += pair.name.utf8
            out.append(0xFF)
            out += pair.value.utf8
            out.append(0xFF)
        }
        return out
    }

    private static func pairs(_ s: OpaquePointer, _ column: Int32) -> [Label] {
        let bytes = blob(s, column)
        var fields: [String] = []
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0xFF {
            fields.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
            start = index + 1
        }
        return stride(from: 0, to: fields.count - 1, by: 2).map { Label(fields[$0], fields[$0 + 1]) }
    }

    static func encode(_ set: Set<UInt64>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(set.count * 8)
        for value in set.sorted() { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        return out
    }

    private static func fingerprints(_ s: OpaquePointer, _ column: Int32) -> Set<UInt64> {
        let bytes = blob(s, column)
        var result = Set<UInt64>()
        for offset in stride(from: 0, to: bytes.count - 7, by: 8) {
            result.insert(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        }
        return result
    }
}
