import CShims
import NIOCore

/// CRC32C (Castagnoli), the checksum every block and record on disk carries. Hardware-accelerated
/// where the processor supports it. Pure function; safe from any thread.
public enum CRC32C {
    /// Checksum of `bytes`, continuing from `crc` (pass the previous result to checksum in pieces).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        obs_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32
    where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// Checksum of the readable bytes of `buffer`.
    public static func checksum(_ buffer: ByteBuffer, continuing crc: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { checksum($0, continuing: crc) }
    }
}
