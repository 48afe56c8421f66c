import Foundation
@testable import Forwarding
import NIOHPACK
import Testing

/// How an OTLP/gRPC answer becomes a verdict: the trailers' status, or the HTTP status mapped as
/// gRPC maps it when there is none; which codes OTLP retries.
struct OTLPGRPCOutcomeTests {
    @Test func theTrailersDecide() {
        let ok = OTLPGRPCExporter.outcome(httpStatus: "200", trailers: ["grpc-status": "0"])
        #expect(ok.code == 0 && !ok.retryable)
        let refused = OTLPGRPCExporter.outcome(httpStatus: "200", trailers: ["grpc-status": "3", "grpc-message": "bad%20span%3A%20%E2%9C%97"])
        #expect(refused.code == 3 && refused.message == "bad span: ✗" && !refused.retryable)
        let unavailable = OTLPGRPCExporter.outcome(httpStatus: "200", trailers: ["grpc-status": "14"])
        #expect(unavailable.retryable)
    }

    @Test(arguments: [(1, true), (4, true), (10, true), (11, true), (14, true), (15, true), (2, false), (3, false), (7, false),
                      (8, false), (12, false), (13, false), (16, false)])
    func retryableCodes(code: Int, retryable: Bool) {
        #expect(OTLPGRPCExporter.Outcome(code: code, message: "").retryable == retryable)
    }

    /// RESOURCE_EXHAUSTED is retried only when the server says recovery is possible (`RetryInfo`
    /// in `grpc-status-details-bin`, base64 without padding).
    @Test func resourceExhaustedWithRetryInfo() {
        // google.rpc.Status{code: 8, details: [Any{type_url: "type.googleapis.com/google.rpc.RetryInfo"}]}
        let typeURL = Array("type.googleapis.com/google.rpc.RetryInfo".utf8)
        let any: [UInt8] = [0x0A, UInt8(typeURL.count)] + typeURL
        let status: [UInt8] = [0x08, 0x08, 0x1A, UInt8(any.count)] + any
        let details = Data(status).base64EncodedString().replacingOccurrences(of: "=", with: "")
        let withInfo = OTLPGRPCExporter.outcome(httpStatus: "200", trailers: ["grpc-status": "8", "grpc-status-details-bin": details])
        #expect(withInfo.retryInfo && withInfo.retryable)
        let without = OTLPGRPCExporter.outcome(httpStatus: "200", trailers: ["grpc-status": "8"])
        #expect(!without.retryable)
    }

    @Test(arguments: [("503", 14), ("429", 14), ("401", 16), ("403", 7), ("404", 12), ("400", 13), ("500", 2)])
    func anAnswerWithoutStatusMapsFromHTTP(http: String, code: Int) {
        #expect(OTLPGRPCExporter.outcome(httpStatus: http, trailers: [:]).code == code)
    }

    @Test func percentDecodingKeepsWhatIsNotAnEscape() {
        #expect(OTLPGRPCExporter.percentDecoded("100%") == "100%")
        #expect(OTLPGRPCExporter.percentDecoded("%zz%41") == "%zzA")
    }
}
