/// Turns one stream of a file's physical lines into entries: joins partial pieces (CRI `P`, Docker
/// 16 KiB splits), then continuation lines when a multiline rule is set, and truncates entries past
/// the size limit. Owned by the file's tailer.
struct EntryAssembler {
    struct Entry {
        var timestamp: Int64
        var line: String
    }

    private var rule: MultilineRule?
    private let maxLines: Int
    private let maxBytes: Int
    /// Partial pieces waiting for their final piece.
    private var pieces: [UInt8] = []
    private var piecesTime: Int64?
    /// The entry being assembled from continuation lines.
    private var pending: (timestamp: Int64, lines: [String], bytes: Int)?
    /// When the pending entry last grew (nanoseconds), for the flush timeout.
    private(set) var pendingSince: Int64 = 0
    private(set) var truncated = 0

    init(rule: MultilineRule?, maxLines: Int, maxBytes: Int) {
        self.rule = rule
        self.maxLines = maxLines
        self.maxBytes = maxBytes
    }

    var hasPending: Bool { pending != nil || !pieces.isEmpty }

    /// Adds a physical line read at `now`; returns the entries it completes.
    mutating func add(_ line: RawLine, now: Int64) -> [Entry] {
        if line.partial {
            if pieces.isEmpty { piecesTime = line.timestamp ?? now }
            if pieces.count < maxBytes { pieces.append(contentsOf: line.content.prefix(maxBytes - pieces.count + 1)) }
            return []
        }
        var content = line.content
        var timestamp = line.timestamp ?? now
        if !pieces.isEmpty {
            pieces.append(contentsOf: content.prefix(max(0, maxBytes - pieces.count + 1)))
            content = pieces
            timestamp = piecesTime ?? timestamp
            pieces = []
            piecesTime = nil
        }
        if content.count > maxBytes {
            content.removeLast(content.count - maxBytes)
            truncated += 1
        }
        let text = String(decoding: content, as: UTF8.self)
        guard var rule else { return [Entry(timestamp: timestamp, line: text)] }
        defer { self.rule = rule }
        if var open = pending, rule.continues(text, hasPending: true), open.lines.count < maxLines, open.bytes + text.utf8.count < maxBytes {
            open.lines.append(text)
            open.bytes += text.utf8.count + 1
            pending = open
            pendingSince = now
            return []
        }
        let finished = take()
        _ = rule.continues(text, hasPending: false)
        pending = (timestamp, [text], text.utf8.count)
        pendingSince = now
        return finished
    }

    /// The pending entry, if any, as finished.
    mutating func take() -> [Entry] {
        guard let open = pending else { return [] }
        pending = nil
        return [Entry(timestamp: open.timestamp, line: open.lines.joined(separator: "\n"))]
    }
}
