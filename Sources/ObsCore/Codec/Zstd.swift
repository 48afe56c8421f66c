import CZstd

/// Zstandard frames, backed by libzstd. Pure functions; safe from any thread.
public enum Zstd {
    /// Compresses `input` into one frame that records its decoded size.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { output, count in
            let written = ZSTD_compress(output.baseAddress, bound, input.baseAddress, input.count, level)
            // A destination of ZSTD_compressBound bytes cannot be too small.
            precondition(ZSTD_isError(written) == 0, "ZSTD_compress failed with a full-size buffer")
            count = written
        }
    }

    /// Decodes one frame. The size the frame announces is checked against `maxDecodedSize` before
    /// anything is allocated.
    public static func decompress(_ input: UnsafeRawBufferPointer, maxDecodedSize: Int) throws -> [UInt8] {
        try ZstdDecoder().decompress(input, maxDecodedSize: maxDecodedSize) { Array($0) }
    }
}

/// Decodes many frames with one decompression context and one output buffer, so a scan over
/// thousands of blocks allocates neither per block (each fresh large buffer is a fresh mmap and
/// page faults). One owner at a time; not thread-safe.
public final class ZstdDecoder {
    private let context: OpaquePointer
    private var output: UnsafeMutableRawBufferPointer
    /// Compressed bytes read from storage, reused the same way.
    public var input: [UInt8] = []

    public init() {
        context = ZSTD_createDCtx()
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    /// Decodes one frame and hands its bytes to `body`; they are valid only during the call.
    public func decompress<R>(_ frame: UnsafeRawBufferPointer, maxDecodedSize: Int,
                              _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let announced = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard announced != ZSTD_CONTENTSIZE_ERROR, announced != ZSTD_CONTENTSIZE_UNKNOWN else {
            throw CoreError.corrupt(codec: "zstd", detail: "no frame content size")
        }
        guard announced <= UInt64(maxDecodedSize) else {
            throw CoreError.corrupt(codec: "zstd", detail: "frame announces \(announced) bytes, limit \(maxDecodedSize)")
        }
        let size = Int(announced)
        if output.count < size {
            output.deallocate()
            output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, output.count * 2), alignment: 16)
        }
        let read = ZSTD_decompressDCtx(context, output.baseAddress, size, frame.baseAddress, frame.count)
        guard ZSTD_isError(read) == 0, read == size else {
            let detail = ZSTD_isError(read) != 0 ? String(cString: ZSTD_getErrorName(read)) : "decoded \(read) of \(size) bytes"
            throw CoreError.corrupt(codec: "zstd", detail: detail)
        }
        return try body(UnsafeRawBufferPointer(rebasing: output[0..<size]))
    }
}
