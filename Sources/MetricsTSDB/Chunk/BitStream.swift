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

// MARK: Fields shared by the float chunk encodings (`Chunk/FORMAT.md`)

/// A prefix code for signed fields of a few widths: `n` ones and a zero announce the `n`-th width's
/// payload; `limit` ones (no zero) announce 64 bits. Widths are packed a byte each, so a reader
/// looks one up with a shift instead of a branch per prefix (prefixes vary from sample to sample,
/// and a mispredicted branch cost as much as the rest of a sample).
struct PrefixCode {
    let limit: Int
    let widths: UInt64

    /// Timestamp delta-of-deltas: `0`, `10` + 14 bits, `110` + 17, `1110` + 20, `1111` + 64.
    static var timestamp: PrefixCode { PrefixCode(limit: 4, widths: 0x14_11_0E_00) }
    /// Mantissa differences of decimal chunks: `0`, then 5, 9, 13, 20, 32 and 64 bits.
    static var varbit: PrefixCode { PrefixCode(limit: 6, widths: 0x20_14_0D_09_05_00) }

    @inline(__always)
    func width(_ ones: Int) -> Int {
        ones == limit ? 64 : Int(truncatingIfNeeded: widths >> UInt64(ones * 8)) & 0xFF
    }

    /// Bits `value` takes in this code.
    func size(_ value: Int64) -> Int {
        let ones = self.ones(for: value)
        return min(ones + 1, limit) + width(ones)
    }

    /// The shortest prefix whose payload holds `value` as readers sign-extend it:
    /// −(2^(w−1) − 1) … 2^(w−1) for a width w below 64.
    func ones(for value: Int64) -> Int {
        for ones in 0..<limit {
            let width = width(ones)
            if width == 0 ? value == 0 : (value > -(Int64(1) << Int64(width - 1)) && value <= Int64(1) << Int64(width - 1)) {
                return ones
            }
        }
        return limit
    }
}

extension BitWriter {
    mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            write(byte: UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        write(byte: UInt8(v))
    }

    mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// `value` with the shortest prefix of `code` that holds it.
    mutating func write(_ value: Int64, _ code: PrefixCode) {
        let ones = code.ones(for: value)
        let run = (UInt64(1) << UInt64(ones)) - 1
        if ones == code.limit {
            write(bits: run, count: ones)
        } else {
            write(bits: run << 1, count: ones + 1)
        }
        write(bits: UInt64(bitPattern: value), count: code.width(ones))
    }
}

extension RawBits {
    @inline(__always)
    mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<10 {
            guard let byte = readBits(8) else { return nil }
            result |= (byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }

    @inline(__always)
    mutating func readSignedVarint() -> Int64? {
        guard let raw = readVarint() else { return nil }
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A field of `code`, every read bounds-checked.
    @inline(__always)
    mutating func read(_ code: PrefixCode) -> Int64? {
        guard let ones = readOnes(upTo: code.limit) else { return nil }
        let width = code.width(ones)
        if width == 0 { return 0 }
        guard let raw = readBits(width) else { return nil }
        return width == 64 ? Int64(bitPattern: raw) : Self.signExtend(raw, bits: width)
    }

    /// Field values above 2^(bits−1) are negative, matching the writers' asymmetric ranges
    /// (−8191…8192 for 14 bits).
    @inline(__always)
    static func signExtend(_ raw: UInt64, bits: Int) -> Int64 {
        raw > (1 << UInt64(bits - 1)) ? Int64(raw) - (1 << Int64(bits)) : Int64(raw)
    }

    /// Bits a prefixed field takes at most: a 6-bit prefix and 64 bits.
    static let longestPrefixedField = 70
    /// Bits `readUnchecked` needs left at its start: the field, and the 8 bytes its last load
    /// reads from up to 38 bits in. Reading two fields in a row needs this plus the first's 70.
    static let uncheckedFieldRoom = 134

    /// The next 57 or more bits, left-aligned, in one load; needs 8 bytes left at the position.
    @inline(__always)
    private func window() -> UInt64 {
        UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: position >> 3, as: UInt64.self)) << UInt64(position & 7)
    }

    /// `read(code)` from one load and without bounds checks, for loops that made sure of
    /// `uncheckedFieldRoom` bits left.
    @inline(__always)
    mutating func readUnchecked(_ code: PrefixCode) -> Int64 {
        let bits = window()
        let ones = min((~bits).leadingZeroBitCount, code.limit)
        if ones == code.limit {
            // The longest prefix has no closing zero and a full 64-bit payload.
            position += ones
            let high = window() >> 32
            position += 32
            let low = window() >> 32
            position += 32
            return Int64(bitPattern: high << 32 | low)
        }
        let width = code.width(ones)
        let payload = width == 0 ? 0 : (bits << UInt64(ones + 1)) >> UInt64(64 - width)
        position += ones + 1 + width
        let half = (UInt64(1) << UInt64(width)) >> 1
        return payload > half ? Int64(bitPattern: payload) &- Int64(bitPattern: half << 1) : Int64(bitPattern: payload)
    }
}
