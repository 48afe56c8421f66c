import CSnappy
import NIOCore

/// Snappy block format (the framing Prometheus remote write and Loki push use), backed by libsnappy.
/// Pure functions; safe from any thread.
public enum Snappy {
    /// Compresses the readable bytes of `input`.
    public static func compress(_ input: ByteBuffer) -> ByteBuffer {
        input.withUnsafeReadableBytes { source in
            let bound = snappy_max_compressed_length(source.count)
            var output = ByteBufferAllocator().buffer(capacity: bound)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                var length = target.count
                let status = snappy_compress(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                    target.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                // Compression into a buffer of snappy_max_compressed_length cannot fail.
                precondition(status == SNAPPY_OK, "snappy_compress failed with a full-size buffer")
                return length
            }
            return output
        }
    }

    /// The decoded size `input` announces in its header, without decoding it.
    public static func decodedLength(_ input: ByteBuffer) throws -> Int {
        try input.withUnsafeReadableBytes { source in
            var length = 0
            guard snappy_uncompressed_length(
                source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count, &length) == SNAPPY_OK
            else { throw CoreError.corrupt(codec: "snappy", detail: "invalid length header") }
            return length
        }
    }

    /// Decodes `input`. The announced size is checked against `maxDecodedSize` before anything is
    /// allocated, so a small body claiming gigabytes is refused cheaply.
    public static func uncompress(_ input: ByteBuffer, maxDecodedSize: Int) throws -> ByteBuffer {
        let length = try decodedLength(input)
        guard length <= maxDecodedSize else {
            throw CoreError.tooLarge(codec: "snappy", limit: maxDecodedSize, claimed: length)
        }
        var output = ByteBufferAllocator().buffer(capacity: length)
        try input.withUnsafeReadableBytes { source in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: max(length, 1)) { target in
                var written = length
                let status = snappy_uncompress(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self), source.count,
                    target.baseAddress?.assumingMemoryBound(to: CChar.self), &written)
                guard status == SNAPPY_OK, written == length else {
                    throw CoreError.corrupt(codec: "snappy", detail: "invalid compressed data")
                }
                return written
            }
        }
        return output
    }
}
