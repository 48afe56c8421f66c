import NIOCore
import ObsCore

/// A decoded Loki push body: streams, each a label set and its entries. JSON (`{"streams":[{"stream":
/// {…},"values":[["<ns>","<line>",{metadata}]]}]}`, and the older `labels`/`entries` form) and
/// protobuf (`logproto.PushRequest`, field numbers from Loki's `push.proto`).
public struct LokiPushRequest: Sendable {
    public struct Stream: Sendable {
        public var labels: Labels
        public var entries: [LogEntry]
    }

    public var streams: [Stream] = []

    /// Why a body could not be read; answered with 400 and this text.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var message: String
        public var description: String { message }
    }

    public var entryCount: Int { streams.reduce(0) { $0 + $1.entries.count } }

    // MARK: JSON

    public init(json body: UnsafeRawBufferPointer) throws(Failure) {
        var reader = JSONReader(body)
        do {
            var streams: [Stream] = []
            try reader.object { reader, key in
                guard key == "streams" else { return try reader.skip() }
                try reader.array { reader in streams.append(try Self.jsonStream(&reader)) }
            }
            guard reader.isAtEnd() else { throw Failure(message: "unexpected data after the push body") }
            self.streams = streams
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(message: "\(error)")
        }
    }

    private static func jsonStream(_ reader: inout JSONReader) throws -> Stream {
        var labels: Labels?
        var entries: [LogEntry] = []
        var scratch: [UInt8] = []
        try reader.object { reader, key in
            switch key {
            case "stream":
                var pairs: [Label] = []
                try reader.object { reader, name in pairs.append(Label(name, try reader.string())) }
                labels = try validated(pairs)
            case "labels":
                labels = try parseLabels(try reader.string())
            case "values":
                try reader.array { reader in
                    var fields = 0
                    var timestamp: Int64 = 0
                    var line = ""
                    var metadata: [Label] = []
                    try reader.array { reader in
                        switch fields {
                        case 0: timestamp = try nanoseconds(try reader.string())
                        case 1: line = try reader.withString(into: &scratch) { String(decoding: $0, as: UTF8.self) }
                        case 2: try reader.object { reader, name in metadata.append(Label(name, try reader.string())) }
                        default: try reader.skip()
                        }
                        fields += 1
                    }
                    guard fields >= 2 else { throw Failure(message: "a value needs a timestamp and a line") }
                    entries.append(LogEntry(timestamp: timestamp, line: line, metadata: Labels(metadata)))
                }
            case "entries":
                try reader.array { reader in
                    var timestamp: Int64?
                    var line = ""
                    try reader.object { reader, field in
                        switch field {
                        case "ts", "timestamp":
                            let text = try reader.string()
                            guard let parsed = text.utf8.withContiguousStorageIfAvailable({ TimeParsing.rfc3339Nanoseconds(UnsafeRawBufferPointer($0)) }) ?? nil
                            else { throw Failure(message: "invalid timestamp \"\(text)\"") }
                            timestamp = parsed
                        case "line": line = try reader.string()
                        default: try reader.skip()
                        }
                    }
                    guard let timestamp else { throw Failure(message: "an entry needs a timestamp") }
                    entries.append(LogEntry(timestamp: timestamp, line: line))
                }
            default:
                try reader.skip()
            }
        }
        guard let labels else { throw Failure(message: "a stream needs its labels") }
        return Stream(labels: labels, entries: entries)
    }

    /// Loki's JSON timestamps: Unix nanoseconds as a decimal string.
    static func nanoseconds(_ text: String) throws(Failure) -> Int64 {
        guard let value = Int64(text) else { throw Failure(message: "invalid timestamp \"\(text)\": want Unix nanoseconds as a string") }
        return value
    }

    static func validated(_ pairs: [Label]) throws(Failure) -> Labels {
        var names = Set<String>()
        for pair in pairs {
            guard LabelSetParser.isLabelName(pair.name) else { throw Failure(message: "error parsing labels: invalid label name \"\(pair.name)\"") }
            guard names.insert(pair.name).inserted else { throw Failure(message: "error parsing labels: duplicate label name \"\(pair.name)\"") }
        }
        return Labels(pairs)
    }

    static func parseLabels(_ text: String) throws(Failure) -> Labels {
        do {
            return try LabelSetParser.parse(text)
        } catch {
            throw Failure(message: "error parsing labels '\(text)': \(error)")
        }
    }

    // MARK: Protobuf

    static let codec = "loki push"

    public init(protobuf: ByteBuffer) throws(Failure) {
        do {
            var reader = ProtobufReader(protobuf, codec: Self.codec)
            while let (number, type) = try reader.nextField() {
                if number == 1 && type == .lengthDelimited {
                    var message = try reader.message()
                    streams.append(try Self.protobufStream(&message))
                } else {
                    try reader.skip(type)
                }
            }
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(message: "\(error)")
        }
    }

    private static func protobufStream(_ reader: inout ProtobufReader) throws -> Stream {
        var labelText = ""
        var entries: [LogEntry] = []
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                labelText = try reader.string()
            case (2, .lengthDelimited):
                var entry = try reader.message()
                var timestamp: Int64 = 0
                var line = ""
                var metadata: [Label] = []
                while let (field, kind) = try entry.nextField() {
                    switch (field, kind) {
                    case (1, .lengthDelimited):
                        var time = try entry.message()
                        var seconds: Int64 = 0, nanos: Int64 = 0
                        while let (part, partKind) = try time.nextField() {
                            switch (part, partKind) {
                            case (1, .varint): seconds = Int64(bitPattern: try time.varint())
                            case (2, .varint): nanos = Int64(Int32(truncatingIfNeeded: try time.varint()))
                            default: try time.skip(partKind)
                            }
                        }
                        timestamp = seconds &* 1_000_000_000 &+ nanos
                    case (2, .lengthDelimited):
                        line = try entry.string()
                    case (3, .lengthDelimited):
                        var pair = try entry.message()
                        var name = "", value = ""
                        while let (part, partKind) = try pair.nextField() {
                            switch (part, partKind) {
                            case (1, .lengthDelimited): name = try pair.string()
                            case (2, .lengthDelimited): value = try pair.string()
                            default: try pair.skip(partKind)
                            }
                        }
                        metadata.append(Label(name, value))
                    default:
                        try entry.skip(kind)
                    }
                }
                entries.append(LogEntry(timestamp: timestamp, line: line, metadata: Labels(metadata)))
            default:
                try reader.skip(type)
            }
        }
        return Stream(labels: try parseLabels(labelText), entries: entries)
    }
}
