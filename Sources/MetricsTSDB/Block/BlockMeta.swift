import FoundationEssentials
import ObsCore

/// `meta.json` of a block: its identity, time range and statistics. Written last, so a directory
/// without it is an unfinished block and is removed on open.
struct BlockMeta: Codable, Equatable, Sendable {
    static let currentVersion = 1

    var version = BlockMeta.currentVersion
    var ulid: String
    /// Inclusive lower bound of sample timestamps, milliseconds.
    var minTime: Int64
    /// Exclusive upper bound, milliseconds.
    var maxTime: Int64
    var stats: Stats
    var compaction: Compaction

    struct Stats: Codable, Equatable, Sendable {
        var numSeries: Int
        var numSamples: Int
        var numChunks: Int
    }

    struct Compaction: Codable, Equatable, Sendable {
        var level: Int
        var sources: [String]
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self))
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> BlockMeta {
        do {
            let meta = try JSONDecoder().decode(BlockMeta.self, from: Data(bytes))
            guard meta.version == currentVersion else {
                throw CoreError.corrupt(codec: "block meta", detail: "\(path): unsupported version \(meta.version)")
            }
            return meta
        } catch let error as CoreError {
            throw error
        } catch {
            throw CoreError.corrupt(codec: "block meta", detail: "\(path): \(error)")
        }
    }
}

/// Sortable, unique block names in the ULID layout: 48 bits of milliseconds then 80 random bits,
/// in Crockford base 32, so names sort by creation time.
enum BlockID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    static func make(milliseconds: UInt64) -> String {
        var random = SystemRandomNumberGenerator()
        let high = UInt64.random(in: 0...UInt64.max, using: &random)
        let low = UInt64.random(in: 0...UInt64.max, using: &random)
        // 128 bits: time (48) | random (80); emitted 5 bits at a time, 26 characters.
        let top = (milliseconds << 16) | (high >> 48)
        let bottom = (high << 16) | (low >> 48)
        var out: [UInt8] = []
        for index in 0..<26 {
            let bitOffset = index * 5 - 2  // 130 bits of output for 128 of input: two leading zero bits
            var value: UInt64 = 0
            for bit in 0..<5 {
                let position = bitOffset + bit
                guard position >= 0 else { continue }
                let word = position < 64 ? top : bottom
                let shift = 63 - (position % 64)
                value = value << 1 | ((word >> UInt64(shift)) & 1)
            }
            out.append(alphabet[Int(value)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
