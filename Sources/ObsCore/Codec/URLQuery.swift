/// Percent-encoding of query-string values, as Go's `net/url` writes and reads them.
public enum URLQuery {
    /// Unreserved bytes (`A-Za-z0-9-._~`) kept, everything else `%XX`; a space is `+` when
    /// `spaceAsPlus` (`url.QueryEscape`), `%20` otherwise (`url.PathEscape`'s reading of it).
    public static func escape(_ text: String, spaceAsPlus: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(byte)
            case 0x20 where spaceAsPlus: out.append(UInt8(ascii: "+"))
            default: out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `url.QueryUnescape`: `+` as space (unless `plusAsSpace` is false, as in a path), `%XX`
    /// decoded; `nil` for a malformed escape or bytes that are not UTF-8.
    public static func unescape(_ text: String, plusAsSpace: Bool = true) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: "+") where plusAsSpace: out.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = bytes.next().flatMap(HexDigits.value), let low = bytes.next().flatMap(HexDigits.value) else { return nil }
                out.append(high << 4 | low)
            default: out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}
