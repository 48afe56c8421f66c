import NIOCore
import Synchronization


/// Remote-write series recognised by the bytes of their label fields, as VictoriaMetrics does:
/// a sender repeats each series' labels byte for byte in every request, so a known series costs a
/// hash and a byte comparison instead of decoding, validating and hashing a dozen strings.
///
/// An entry maps a hash of the wire bytes to the store's reference and label set; a hit is
/// confirmed by comparing the wire bytes with that label set field by field, so a hash collision or
/// a sender that changes label order only misses. Bounded: a stripe that reaches its share of
/// `capacity` starts over. Thread-safe.
public final class WireSeriesCache: Sendable {
    public struct Entry: Sendable {
        public var ref: UInt64
        public var labels: Labels
    }

    private static let stripeCount = 16
    private final class Stripe: Sendable {
        let table = Mutex<[UInt64: Entry]>([:])
    }

    private let stripes: [Stripe]
    private let stripeCapacity: Int

    public init(capacity: Int = 1 << 20) {
        stripes = (0..<Self.stripeCount).map { _ in Stripe() }
        stripeCapacity = max(1, capacity / Self.stripeCount)
    }

    /// The series `wire` (a run of label fields) names, if known.
    public func lookup(_ wire: ByteBuffer, hash: UInt64) -> Entry? {
        guard let entry = stripe(hash).table.withLock({ $0[hash] }), Self.wire(wire, equals: entry.labels) else { return nil }
        return entry
    }

    public func remember(hash: UInt64, ref: UInt64, labels: Labels) {
        stripe(hash).table.withLock { table in
            if table.count >= stripeCapacity && table[hash] == nil { table.removeAll(keepingCapacity: true) }
            table[hash] = Entry(ref: ref, labels: labels)
        }
    }

    public var count: Int { stripes.reduce(0) { $0 + $1.table.withLock { $0.count } } }

    private func stripe(_ hash: UInt64) -> Stripe {
        stripes[Int(hash >> 60) % Self.stripeCount]
    }

    /// A 64-bit hash of the readable bytes, eight at a time.
    public static func hash(_ wire: ByteBuffer) -> UInt64 {
        wire.withUnsafeReadableBytes { bytes in
            var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
            var offset = 0
            @inline(__always) func mix(_ word: UInt64) {
                hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
                hash ^= hash >> 31
            }
            while offset + 8 <= bytes.count {
                mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            var tail: UInt64 = 0
            while offset < bytes.count {
                tail = tail << 8 | UInt64(bytes[offset])
                offset += 1
            }
            mix(tail)
            return hash &* 0x94D0_49BB_1331_11EB
        }
    }

    /// Whether the label fields in `wire` are exactly `labels`, in order: each field a `Label`
    /// message with the name in field 1 and the value in field 2 (the last of each wins, as in
    /// decoding). Reads the bytes in place.
    static func wire(_ wire: ByteBuffer, equals labels: Labels) -> Bool {
        wire.withUnsafeReadableBytes { bytes in
            labels.pairs.withUnsafeBufferPointer { pairs in
                var cursor = WireCursor(bytes: bytes)
                var index = 0
                while !cursor.atEnd {
                    guard index < pairs.count, cursor.byte() == 0x0A, let message = cursor.field() else { return false }
                    var inner = WireCursor(bytes: bytes, offset: message.lowerBound, end: message.upperBound)
                    var name: Range<Int>?, value: Range<Int>?
                    while !inner.atEnd {
                        let key = inner.byte()
                        guard let field = inner.field() else { return false }
                        switch key {
                        case 0x0A: name = field
                        case 0x12: value = field
                        default: return false
                        }
                    }
                    guard let name, let value, same(bytes, name, pairs[index].name), same(bytes, value, pairs[index].value)
                    else { return false }
                    index += 1
                }
                return index == pairs.count
            }
        }
    }

    @inline(__always)
    private static func same(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == range.count else { return false }
        return utf8.withContiguousStorageIfAvailable { stored in
            var offset = 0
            // Label names and values are short: whole words, then the last bytes.
            while offset + 8 <= stored.count {
                guard bytes.loadUnaligned(fromByteOffset: range.lowerBound + offset, as: UInt64.self)
                    == UnsafeRawPointer(stored.baseAddress! + offset).loadUnaligned(as: UInt64.self) else { return false }
                offset += 8
            }
            while offset < stored.count {
                guard bytes[range.lowerBound + offset] == stored[offset] else { return false }
                offset += 1
            }
            return true
        } ?? utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Reads one-byte keys and length-delimited fields; anything else reads as a mismatch. Not
    /// `RemoteWriteRequest.WireCursor`: that one throws and decodes any key, and comparing through
    /// it cost 8% of ingest CPU; here every label of every sample passes through.
    private struct WireCursor {
        let bytes: UnsafeRawBufferPointer
        var offset = 0
        var end: Int

        init(bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
            self.bytes = bytes
            self.offset = offset
            self.end = end ?? bytes.count
        }

        var atEnd: Bool { offset >= end }

        mutating func byte() -> UInt8 {
            defer { offset += 1 }
            return offset < end ? bytes[offset] : 0
        }

        /// A varint length and that many bytes: their range, nil if they run past the end.
        mutating func field() -> Range<Int>? {
            var length = 0
            var shift = 0
            while offset < end, shift < 35 {
                let byte = bytes[offset]
                offset += 1
                length |= Int(byte & 0x7F) << shift
                if byte < 0x80 {
                    guard length <= end - offset else { return nil }
                    defer { offset += length }
                    return offset..<offset + length
                }
                shift += 7
            }
            return nil
        }
    }
}
