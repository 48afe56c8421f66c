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
        do {
            let inflater = try Inflater(format: .gzip, maxDecodedSize: maxDecodedSize)
            var decoded = ByteBuffer()
            try inflater.inflate(body, into: &decoded)
            try inflater.finish()
            return decoded
        } catch {
            throw Failure(status: .badRequest, description: "decompressing the gzip body: \(error)")
        }
    }
}
