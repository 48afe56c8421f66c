import CShims
import CZlib
import NIOCore

/// The container around deflate data.
public enum ZlibFormat: Sendable {
    /// RFC 1952 gzip (`Content-Encoding: gzip`); concatenated members are decoded as one stream.
    case gzip
    /// RFC 1950 zlib (`Content-Encoding: deflate` as HTTP defines it).
    case zlib
    /// RFC 1951 raw deflate (what some clients send as `deflate`).
    case raw
    /// gzip or zlib, detected from the header (inflate only).
    case auto

    var windowBits: Int32 {
        switch self {
        case .gzip: 15 + 16
        case .zlib: 15
        case .raw: -15
        case .auto: 15 + 32
        }
    }

    var name: String {
        switch self {
        case .gzip: "gzip"
        case .zlib, .auto: "zlib"
        case .raw: "deflate"
        }
    }
}

/// Streaming decompressor with a bound on the total decoded size.
///
/// Feed input in pieces with `inflate(_:into:)`, then call `finish()` to check the stream was complete.
/// Not thread-safe: one owner at a time. The `z_stream` lives at a fixed address because zlib keeps a
/// pointer back to it.
public final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let format: ZlibFormat
    private let maxDecodedSize: Int
    private var decoded = 0
    private var ended = false

    public init(format: ZlibFormat, maxDecodedSize: Int) throws {
        self.format = format
        self.maxDecodedSize = maxDecodedSize
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = obs_inflate_init2(stream, format.windowBits)
        guard status == Z_OK else {
            stream.deallocate()
            throw CoreError.corrupt(codec: format.name, detail: "inflateInit2 failed (\(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Total bytes produced so far.
    public var decodedSize: Int { decoded }

    /// Decodes all readable bytes of `input`, appending to `output`. Throws on corrupt data or when the
    /// output would pass `maxDecodedSize`.
    public func inflate(_ input: ByteBuffer, into output: inout ByteBuffer) throws {
        try input.withUnsafeReadableBytes { source in
            var offset = 0
            while offset < source.count {
                if ended {
                    // Another gzip member follows, or trailing garbage after a zlib/raw stream.
                    guard format == .gzip || format == .auto else {
                        throw CoreError.corrupt(codec: format.name, detail: "data after end of stream")
                    }
                    guard inflateReset(stream) == Z_OK else {
                        throw CoreError.corrupt(codec: format.name, detail: "cannot reset stream")
                    }
                    ended = false
                }
                let consumed = try step(
                    UnsafeRawBufferPointer(rebasing: source[offset...]), into: &output)
                offset += consumed
            }
        }
    }

    /// Checks that the input ended on a stream boundary.
    public func finish() throws {
        guard ended else {
            throw CoreError.corrupt(codec: format.name, detail: "unexpected end of stream")
        }
    }

    /// Runs inflate over `source` until it is consumed or the stream ends; returns bytes consumed.
    private func step(_ source: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws -> Int {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(clamping: source.count)
        let offered = Int(stream.pointee.avail_in)
        repeat {
            let room = min(max(offered * 4, 16 * 1024), 1 << 20)
            var status: Int32 = Z_OK
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target in
                stream.pointee.next_out = target.baseAddress?.assumingMemoryBound(to: Bytef.self)
                // One byte past the bound is enough to tell that the bound is exceeded.
                stream.pointee.avail_out = UInt32(clamping: min(target.count, maxDecodedSize - decoded + 1))
                let before = Int(stream.pointee.avail_out)
                status = CZlib.inflate(stream, Z_NO_FLUSH)
                let produced = before - Int(stream.pointee.avail_out)
                switch status {
                case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
                    break
                case Z_NEED_DICT:
                    throw CoreError.corrupt(codec: format.name, detail: "preset dictionary required")
                default:
                    let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw CoreError.corrupt(codec: format.name, detail: message)
                }
                decoded += produced
                guard decoded <= maxDecodedSize else {
                    throw CoreError.tooLarge(codec: format.name, limit: maxDecodedSize, claimed: nil)
                }
                return produced
            }
            if status == Z_STREAM_END {
                ended = true
                break
            }
            if status == Z_BUF_ERROR && stream.pointee.avail_in == 0 { break }
        } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
        return offered - Int(stream.pointee.avail_in)
    }
}

/// Streaming compressor. Not thread-safe: one owner at a time.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let format: ZlibFormat

    /// `level` follows zlib: 1 fastest ... 9 smallest, -1 the default (6).
    public init(format: ZlibFormat, level: Int32 = -1) {
        precondition(format != .auto, "auto-detection applies to decoding only")
        self.format = format
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // Only fails for invalid parameters or out of memory, neither of which a caller can handle.
        let status = obs_deflate_init2(stream, level, format.windowBits)
        precondition(status == Z_OK, "deflateInit2 failed (\(status))")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses the readable bytes of `input`, appending whatever output is ready to `output`.
    public func deflate(_ input: ByteBuffer, into output: inout ByteBuffer) {
        run(input, flush: Z_NO_FLUSH, into: &output)
    }

    /// Flushes remaining output and writes the stream trailer.
    public func finish(into output: inout ByteBuffer) {
        run(ByteBuffer(), flush: Z_FINISH, into: &output)
    }

    private func run(_ input: ByteBuffer, flush: Int32, into output: inout ByteBuffer) {
        input.withUnsafeReadableBytes { source in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(source.count)
            var status: Int32 = Z_OK
            repeat {
                let room = Int(deflateBound(stream, UInt(stream.pointee.avail_in))) + 64
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target in
                    stream.pointee.next_out = target.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = UInt32(clamping: target.count)
                    let before = Int(stream.pointee.avail_out)
                    status = CZlib.deflate(stream, flush)
                    return before - Int(stream.pointee.avail_out)
                }
            } while stream.pointee.avail_in > 0 || (flush == Z_FINISH && status != Z_STREAM_END)
        }
    }
}

/// One-shot helpers over `Inflater` and `Deflater`.
public enum Zlib {
    public static func compress(_ input: ByteBuffer, format: ZlibFormat, level: Int32 = -1) -> ByteBuffer {
        let deflater = Deflater(format: format, level: level)
        var output = ByteBufferAllocator().buffer(capacity: input.readableBytes / 2 + 64)
        deflater.deflate(input, into: &output)
        deflater.finish(into: &output)
        return output
    }

    public static func uncompress(_ input: ByteBuffer, format: ZlibFormat, maxDecodedSize: Int) throws -> ByteBuffer {
        let inflater = try Inflater(format: format, maxDecodedSize: maxDecodedSize)
        var output = ByteBufferAllocator().buffer(capacity: min(input.readableBytes * 4, maxDecodedSize))
        try inflater.inflate(input, into: &output)
        try inflater.finish()
        return output
    }
}
