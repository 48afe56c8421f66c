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
        let announced = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        guard announced != ZSTD_CONTENTSIZE_ERROR, announced != ZSTD_CONTENTSIZE_UNKNOWN else {
            throw CoreError.corrupt(codec: "zstd", detail: "no frame content size")
        }
        guard announced <= UInt64(maxDecodedSize) else {
            throw CoreError.corrupt(codec: "zstd", detail: "frame announces \(announced) bytes, limit \(maxDecodedSize)")
        }
        let size = Int(announced)
        var failure: String?
        let output = [UInt8](unsafeUninitializedCapacity: size) { output, count in
            let read = ZSTD_decompress(output.baseAddress, size, input.baseAddress, input.count)
            if ZSTD_isError(read) != 0 || read != size {
                failure = ZSTD_isError(read) != 0 ? String(cString: ZSTD_getErrorName(read)) : "decoded \(read) of \(size) bytes"
                count = 0
            } else {
                count = read
            }
        }
        if let failure { throw CoreError.corrupt(codec: "zstd", detail: failure) }
        return output
    }
}
