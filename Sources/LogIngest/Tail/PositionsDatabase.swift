import CShims
import CSQLite
import ObsCore

/// Tail positions in SQLite: one row per tailed path with the file's identity and the offset up to
/// which its lines are durable in the store. Written only after the store's commit returned, so a
/// row never runs ahead of the store. Blocking; one owner at a time (hence the unchecked sendability).
final class PositionsDatabase: @unchecked Sendable {
    let path: String
    private var db: OpaquePointer?

    init(path: String) throws {
        self.path = path
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw LogIngestError.positions(path: path, detail: message)
        }
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("""
            CREATE TABLE IF NOT EXISTS positions (
              path TEXT PRIMARY KEY, device INTEGER NOT NULL, inode INTEGER NOT NULL,
              fingerprint INTEGER NOT NULL, offset INTEGER NOT NULL)
            """)
    }

    deinit { sqlite3_close(db) }

    private func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "error"
            sqlite3_free(error)
            throw LogIngestError.positions(path: path, detail: message)
        }
    }

    private func failure() -> LogIngestError {
        .positions(path: path, detail: String(cString: sqlite3_errmsg(db)))
    }

    func all() throws -> [String: TailPosition] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "SELECT path, device, inode, fingerprint, offset FROM positions", -1, &statement, nil) == SQLITE_OK
        else { throw failure() }
        defer { sqlite3_finalize(statement) }
        var result: [String: TailPosition] = [:]
        while sqlite3_step(statement) == SQLITE_ROW {
            let path = String(cString: sqlite3_column_text(statement, 0))
            result[path] = TailPosition(path: path, device: UInt64(bitPattern: sqlite3_column_int64(statement, 1)),
                                        inode: UInt64(bitPattern: sqlite3_column_int64(statement, 2)),
                                        fingerprint: UInt64(bitPattern: sqlite3_column_int64(statement, 3)),
                                        offset: sqlite3_column_int64(statement, 4))
        }
        return result
    }

    /// Upserts `positions` in one transaction.
    func save(_ positions: [TailPosition]) throws {
        guard !positions.isEmpty else { return }
        try execute("BEGIN")
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?)", -1, &statement, nil) == SQLITE_OK else {
            try? execute("ROLLBACK")
            throw failure()
        }
        defer { sqlite3_finalize(statement) }
        for position in positions {
            sqlite3_reset(statement)
            sqlite3_bind_text(statement, 1, position.path, -1, obs_sqlite_transient())
            sqlite3_bind_int64(statement, 2, Int64(bitPattern: position.device))
            sqlite3_bind_int64(statement, 3, Int64(bitPattern: position.inode))
            sqlite3_bind_int64(statement, 4, Int64(bitPattern: position.fingerprint))
            sqlite3_bind_int64(statement, 5, position.offset)
            guard sqlite3_step(statement) == SQLITE_DONE else {
                try? execute("ROLLBACK")
                throw failure()
            }
        }
        try execute("COMMIT")
    }

    func remove(_ path: String) throws {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "DELETE FROM positions WHERE path = ?", -1, &statement, nil) == SQLITE_OK else { throw failure() }
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_text(statement, 1, path, -1, obs_sqlite_transient())
        guard sqlite3_step(statement) == SQLITE_DONE else { throw failure() }
    }
}
