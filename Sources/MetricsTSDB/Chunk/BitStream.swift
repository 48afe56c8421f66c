/// Appends bits most-significant first into a byte array. Not thread-safe; value type.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    /// Free bits in the last byte (0 when the last byte is full or there is none).
    private var free = 0

    init() {}

    var bitCount: Int { bytes.count * 8 - free }

    mutating func write(bit: Bool) {
        if free == 0 {
            bytes.append(0)
            free = 8
        }
        free -= 1
        if bit { bytes[bytes.count - 1] |= 1 << free }
    }

    /// Writes the low `count` bits of `value`, high bit first.
    mutating func write(bits value: UInt64, count: Int) {
        var remaining = count
        while remaining > 0 {
            if free == 0 {
                bytes.append(0)
                free = 8
            }
            let take = min(free, remaining)
            let shift = remaining - take
            let chunk = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & ((1 << UInt64(take)) - 1))
            free -= take
            bytes[bytes.count - 1] |= chunk << free
            remaining -= take
        }
    }

    mutating func write(byte: UInt8) { write(bits: UInt64(byte), count: 8) }
}

/// Reads bits most-significant first. Returns `nil` past the end, never traps on short input.
struct BitReader {
    private let bytes: [UInt8]
    private var position: Int  // in bits

    init(_ bytes: [UInt8], startingAtByte offset: Int = 0) {
        self.bytes = bytes
        position = offset * 8
    }

    var bitsLeft: Int { bytes.count * 8 - position }

    mutating func readBit() -> Bool? {
        guard position < bytes.count * 8 else { return nil }
        let byte = bytes[position >> 3]
        let bit = (byte >> (7 - UInt8(position & 7))) & 1
        position += 1
        return bit == 1
    }

    mutating func readBits(_ count: Int) -> UInt64? {
        guard count <= 64, bitsLeft >= count else { return nil }
        var value: UInt64 = 0
        var remaining = count
        while remaining > 0 {
            let offset = position & 7
            let available = 8 - offset
            let take = min(available, remaining)
            let byte = UInt64(bytes[position >> 3])
            let chunk = (byte >> UInt64(available - take)) & ((1 << UInt64(take)) - 1)
            value = (value << UInt64(take)) | chunk
            position += take
            remaining -= take
        }
        return value
    }

    /// A signed varint stored on a byte boundary is not used here; chunk headers use fixed bit fields.
}
