/// Appends bits most-significant first into a byte array. Bits collect in a 64-bit register that
/// reaches the array eight bytes at a time: appending byte by byte paid the array's uniqueness and
/// capacity checks for every byte, a tenth of the time spent re-encoding the head on restart.
/// Not thread-safe; value type.
struct BitWriter {
    private var complete: [UInt8] = []
    /// Pending bits, right-aligned; fewer than 64 between calls. Bits above them are stale.
    private var register: UInt64 = 0
    private var pending = 0

    init() {}

    /// Resumes writing after `bitCount` bits of `bytes` (as `bytes` returned them, the last byte
    /// padded): a head snapshot restores an open chunk this way and appends go on where they stopped.
    /// Nil when `bytes` is too short for `bitCount`.
    init?(resuming bytes: some Collection<UInt8>, bitCount: Int) {
        guard bitCount >= 0, (bitCount + 7) / 8 <= bytes.count else { return nil }
        let words = bitCount / 64
        complete = Array(bytes.prefix(words * 8))
        pending = bitCount % 64
        var register: UInt64 = 0
        for byte in bytes.dropFirst(words * 8).prefix((pending + 7) / 8) { register = register << 8 | UInt64(byte) }
        let padded = (pending + 7) / 8 * 8
        self.register = pending == 0 ? 0 : register >> UInt64(padded - pending)
    }

    var bitCount: Int { complete.count * 8 + pending }

    /// Everything written so far, the last byte padded with zero bits.
    var bytes: [UInt8] {
        guard pending > 0 else { return complete }
        var out = complete
        let aligned = register << UInt64(64 - pending)
        for index in 0..<(pending + 7) / 8 { out.append(UInt8(truncatingIfNeeded: aligned >> UInt64(56 - 8 * index))) }
        return out
    }

    mutating func write(bit: Bool) {
        write(bits: bit ? 1 : 0, count: 1)
    }

    /// Writes the low `count` bits of `value` (0...64), high bit first.
    @inline(__always)
    mutating func write(bits value: UInt64, count: Int) {
        guard count > 0 else { return }
        let masked = count == 64 ? value : value & ((1 << UInt64(count)) - 1)
        let room = 64 - pending
        if count < room {
            register = (register << UInt64(count)) | masked
            pending += count
            return
        }
        // The register fills: its 64 bits go out, the rest of `value` stays.
        let rest = count - room
        flush(room == 64 ? masked : (register << UInt64(room)) | (masked >> UInt64(rest)))
        register = masked
        pending = rest
    }

    private mutating func flush(_ word: UInt64) {
        // Half of the series a node ships are constant, and their whole chunk fits in 64 bytes; the
        // others grow by doubling, twice per chunk at most.
        if complete.capacity == 0 { complete.reserveCapacity(64) }
        withUnsafeBytes(of: word.bigEndian) { complete.append(contentsOf: $0) }
    }

    mutating func write(byte: UInt8) { write(bits: UInt64(byte), count: 8) }
}

/// Reads bits most-significant first. Returns `nil` past the end, never traps on short input.
/// Holds the bytes; the reads themselves happen on `RawBits`, inside `withBits`, so that a loop
/// decoding a whole chunk pays for reaching the array's storage once rather than per field.
struct BitReader {
    private let bytes: [UInt8]
    private var position: Int  // in bits

    init(_ bytes: [UInt8], startingAtByte offset: Int = 0) {
        self.bytes = bytes
        position = offset * 8
    }

    /// Runs `body` with a reader over the bytes at the current position; the position it ends at
    /// is kept.
    @inline(__always)
    mutating func withBits<R>(_ body: (inout RawBits) -> R) -> R {
        let start = position
        var end = start
        let result = bytes.withUnsafeBytes { raw in
            var bits = RawBits(raw: raw, position: start)
            defer { end = bits.position }
            return body(&bits)
        }
        position = end
        return result
    }

}

/// Bit reads over raw bytes, valid inside `BitReader.withBits`. Every read is bounds-checked.
struct RawBits {
    let raw: UnsafeRawBufferPointer
    var position: Int  // in bits

    var bitsLeft: Int { raw.count * 8 - position }

    @inline(__always)
    mutating func readBit() -> Bool? {
        guard position < raw.count * 8 else { return nil }
        let byte = raw[position >> 3]
        let bit = (byte >> (7 - UInt8(position & 7))) & 1
        position += 1
        return bit == 1
    }

    /// Counts `1` bits up to `limit` (at most 8) and consumes them, plus the `0` that ends a shorter
    /// run: the prefix codes of XOR chunks in one read instead of one per bit.
    @inline(__always)
    mutating func readOnes(upTo limit: Int) -> Int? {
        let available = min(limit + 1, bitsLeft)
        guard available > 0 else { return nil }
        let window = peek(available) << UInt64(64 - available)
        let ones = min((~window).leadingZeroBitCount, limit)
        if ones < limit {
            guard ones < available else { return nil }
            position += ones + 1
        } else {
            position += ones
        }
        return ones
    }

    @inline(__always)
    mutating func readBits(_ count: Int) -> UInt64? {
        guard count <= 64, bitsLeft >= count else { return nil }
        if count == 0 { return 0 }
        if count > 56 {
            let high = peek(count - 32)
            position += count - 32
            let low = peek(32)
            position += 32
            return high << 32 | low
        }
        let value = peek(count)
        position += count
        return value
    }

    /// The next `count` (1…56) bits, without moving: eight bytes are loaded at once, so a read costs
    /// one load and two shifts instead of a loop over bytes.
    @inline(__always) private func peek(_ count: Int) -> UInt64 {
        let byteIndex = position >> 3
        var window: UInt64
        if byteIndex + 8 <= raw.count {
            window = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: byteIndex, as: UInt64.self))
        } else {
            window = 0
            for i in 0..<8 {
                window <<= 8
                if byteIndex + i < raw.count { window |= UInt64(raw[byteIndex + i]) }
            }
        }
        window <<= UInt64(position & 7)
        return window >> UInt64(64 - count)
    }
}
