import Hummingbird
import NIOCore
import ObsCore

/// A receiver's request body, inflated when sent with `Content-Encoding: gzip`.
enum RequestBody {
    /// Why a body could not be read; each receiver answers it in its protocol's error shape.
    struct Failure: Error, CustomStringConvertible {
        var status: HTTPResponse.Status
        var description: String
    }

    static func read(_ request: Request, maxBodySize: Int, maxDecodedSize: Int) async throws -> ByteBuffer {
        var request = request
        let body = try await request.collectBody(upTo: maxBodySize)
        guard let encoding = request.headers[.contentEncoding]?.lowercased(), !encoding.isEmpty, encoding != "identity" else {
            return body
        }
        guard encoding == "gzip" else {
            throw Failure(status: .unsupportedMediaType, description: "unsupported Content-Encoding \"\(encoding)\"")
        }
        // A single-member gzip body ends with its decoded size (mod 2^32): a bomb that says how big
        // it is is refused before anything is inflated, and an honest body gets its buffer at once.
        var declared: Int?
        if body.readableBytes >= 18, let size = body.getInteger(at: body.readerIndex + body.readableBytes - 4, endianness: .little, as: UInt32.self) {
            declared = Int(size)
        }
        if let declared, declared > maxDecodedSize {
            throw Failure(status: .contentTooLarge, description: "the gzip body decodes to \(declared) bytes, more than the \(maxDecodedSize) allowed")
        }
        do {
            let inflater = try Inflater(format: .gzip, maxDecodedSize: maxDecodedSize)
            var decoded = ByteBufferAllocator().buffer(capacity: min(declared ?? body.readableBytes * 4, maxDecodedSize))
            try inflater.inflate(body, into: &decoded)
            try inflater.finish()
            return decoded
        } catch {
            throw Failure(status: .badRequest, description: "decompressing the gzip body: \(error)")
        }
    }
}
