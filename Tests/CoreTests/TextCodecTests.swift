import ObsCore
import Testing

/// Query escaping, printf-style numbers, loose JSON documents and trimming.
@Suite struct TextCodecTests {
    @Test func queryEscapingAsGo() {
        #expect(URLQuery.escape("a b&c=d/é~", spaceAsPlus: true) == "a+b%26c%3Dd%2F%C3%A9~")
        #expect(URLQuery.escape("a b", spaceAsPlus: false) == "a%20b")
        #expect(URLQuery.unescape("a+b%26c%3dd%2F%C3%A9") == "a b&c=d/é")
        #expect(URLQuery.unescape("a+b", plusAsSpace: false) == "a+b")
        for bad in ["%", "%4", "%zz", "%ff"] { #expect(URLQuery.unescape(bad) == nil, "\(bad)") }
    }

    @Test func printfNumbers() {
        #expect(CFormat.double("%.3f", 1.23456) == "1.235")
        #expect(CFormat.double("%.4g", 123456) == "1.235e+05")
        #expect(CFormat.double("%.0fµs", 12.6) == "13µs")
        #expect(CFormat.double("%.300f", 1).count == 302, "longer than the first buffer")
    }

    @Test func looseJSONDocuments() throws {
        let text = #"{"a": [1, 2.5, "x", true, null, {"b": -3}], "n": null, "big": 1e400}"#
        let value = try Array(text.utf8).withUnsafeBytes { try JSONReader.anyDocument($0) } as? [String: Any]
        let array = try #require(value?["a"] as? [Any])
        #expect(array.count == 5, "nulls are left out")
        #expect(array[0] as? Int == 1 && array[1] as? Double == 2.5 && array[2] as? String == "x" && array[3] as? Bool == true)
        #expect((array[4] as? [String: Any])?["b"] as? Int == -3)
        #expect(value?["n"] == nil && value?["big"] as? Double == .infinity)
        #expect(throws: (any Error).self) { try Array("[1] 2".utf8).withUnsafeBytes { try JSONReader.anyDocument($0) } }
        #expect(throws: (any Error).self) {
            try Array((String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)).utf8).withUnsafeBytes { try JSONReader.anyDocument($0) }
        }
    }

    @Test func trimmingAndReplacing() {
        #expect(" \t a b \r\n".trimmingWhitespace() == "a b")
        #expect(" a \n".trimmingSpaces() == "a \n")
        #expect("xxaxx".trimming { $0 == "x" } == "a")
        #expect("a-b-c".replacingAll("-", with: "+") == "a+b+c")
        #expect("ab".replacingAll("", with: "|") == "|a|b|", "an empty target matches between characters, as in Go")
    }
}
