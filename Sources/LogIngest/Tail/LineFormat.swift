import ObsCore

/// How a tailed file's lines are written.
public enum LineFormat: String, Sendable {
    /// `<RFC3339Nano> <stdout|stderr> <P|F> <text>`: containerd and CRI-O.
    case cri
    /// `{"log":"…\n","stream":"stdout","time":"…"}` per line: Docker's json-file driver.
    case docker
    /// Anything else: each line is an entry, stamped with the time it was read.
    case text

    /// Guesses the format from a file's first line.
    public static func detect(_ line: UnsafeRawBufferPointer) -> LineFormat {
        if line.first == UInt8(ascii: "{") { return .docker }
        if let parsed = CRILine(line), parsed.timestamp != nil { return .cri }
        return .text
    }
}

/// One physical line of a file, read according to its format.
public struct RawLine {
    /// Nanoseconds, nil when the line carries no usable time (text files, malformed lines).
    public var timestamp: Int64?
    public var stream: String?
    /// A piece of a longer line, to be joined with what follows (CRI `P`, Docker lines without `\n`).
    public var partial: Bool
    public var content: [UInt8]
    /// The line did not have its format's shape and is kept as it was.
    public var malformed = false

    /// Reads `line` (without its newline) in `format`.
    public init(_ line: UnsafeRawBufferPointer, format: LineFormat) {
        switch format {
        case .cri:
            if let parsed = CRILine(line), let timestamp = parsed.timestamp {
                self.init(timestamp: timestamp, stream: parsed.stream, partial: parsed.partial, content: parsed.content)
                return
            }
        case .docker:
            if let parsed = DockerLine(line) {
                self.init(timestamp: parsed.timestamp, stream: parsed.stream, partial: parsed.partial, content: parsed.content)
                return
            }
        case .text:
            self.init(timestamp: nil, stream: nil, partial: false, content: Array(line))
            return
        }
        self.init(timestamp: nil, stream: nil, partial: false, content: Array(line), malformed: true)
    }

    init(timestamp: Int64?, stream: String?, partial: Bool, content: [UInt8], malformed: Bool = false) {
        self.timestamp = timestamp
        self.stream = stream
        self.partial = partial
        self.content = content
        self.malformed = malformed
    }
}

/// A CRI log line's fields.
struct CRILine {
    var timestamp: Int64?
    var stream: String
    var partial: Bool
    var content: [UInt8]

    init?(_ line: UnsafeRawBufferPointer) {
        guard let firstSpace = line.firstIndex(of: 0x20) else { return nil }
        let rest = firstSpace + 1
        guard let secondSpace = line[rest...].firstIndex(of: 0x20) else { return nil }
        let streamBytes = line[rest..<secondSpace]
        if streamBytes.elementsEqual("stdout".utf8) {
            stream = "stdout"
        } else if streamBytes.elementsEqual("stderr".utf8) {
            stream = "stderr"
        } else {
            return nil
        }
        let tagStart = secondSpace + 1
        // The tag is `P` or `F`, possibly followed by `:`-separated fields; the text follows a space.
        let tagEnd = line[tagStart...].firstIndex(of: 0x20) ?? line.count
        guard tagEnd > tagStart else { return nil }
        let tag = line[tagStart]
        guard tag == UInt8(ascii: "P") || tag == UInt8(ascii: "F") else { return nil }
        partial = tag == UInt8(ascii: "P")
        timestamp = TimeParsing.rfc3339Nanoseconds(UnsafeRawBufferPointer(rebasing: line[..<firstSpace]))
        content = tagEnd < line.count ? Array(line[(tagEnd + 1)...]) : []
    }
}

/// A Docker json-file line's fields.
struct DockerLine {
    var timestamp: Int64?
    var stream: String?
    var partial: Bool
    var content: [UInt8]

    init?(_ line: UnsafeRawBufferPointer) {
        var reader = JSONReader(line)
        var log: [UInt8]?
        var stream: String?
        var time: Int64?
        var scratch: [UInt8] = []
        do {
            try reader.object { reader, key in
                switch key {
                case "log": log = try reader.withString(into: &scratch) { Array($0) }
                case "stream": stream = try reader.string()
                case "time": time = try reader.withString(into: &scratch) { TimeParsing.rfc3339Nanoseconds($0) }
                default: try reader.skip()
                }
            }
        } catch {
            return nil
        }
        guard var text = log, reader.isAtEnd() else { return nil }
        // Docker ends every complete line with "\n"; a line split at 16 KiB lacks it.
        partial = text.last != 0x0A
        if !partial { text.removeLast() }
        if text.last == 0x0D { text.removeLast() }
        self.timestamp = time
        self.stream = stream
        content = text
    }
}
