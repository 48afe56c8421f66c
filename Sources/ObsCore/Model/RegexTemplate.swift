/// Regex replacement templates shared by `label_replace` and relabeling.

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in a replacement, as Go's regexp.Expand does.
public func expandTemplate(_ template: String, match: Regex<AnyRegexOutput>.Match) -> String {
    let bytes = Array(template.utf8)
    var out: [UInt8] = []
    var i = 0
    func group(_ name: String) -> String {
        if let index = Int(name) {
            guard index < match.output.count, let sub = match.output[index].substring else { return "" }
            return String(sub)
        }
        guard let sub = match.output[name]?.substring else { return "" }
        return String(sub)
    }
    while i < bytes.count {
        guard bytes[i] == UInt8(ascii: "$"), i + 1 < bytes.count else {
            out.append(bytes[i])
            i += 1
            continue
        }
        if bytes[i + 1] == UInt8(ascii: "$") {
            out.append(UInt8(ascii: "$"))
            i += 2
            continue
        }
        var name: String?
        var next = i + 1
        if bytes[next] == UInt8(ascii: "{") {
            if let close = bytes[(next + 1)...].firstIndex(of: UInt8(ascii: "}")) {
                name = String(decoding: bytes[(next + 1)..<close], as: UTF8.self)
                next = close + 1
            }
        } else {
            var end = next
            while end < bytes.count, isTemplateNameByte(bytes[end]) { end += 1 }
            if end > next {
                name = String(decoding: bytes[next..<end], as: UTF8.self)
                next = end
            }
        }
        guard let name, !name.isEmpty else {
            out.append(bytes[i])
            i += 1
            continue
        }
        out.append(contentsOf: Array(group(name).utf8))
        i = next
    }
    return String(decoding: out, as: UTF8.self)
}

@inline(__always) func isTemplateNameByte(_ byte: UInt8) -> Bool {
    (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || (byte >= 0x30 && byte <= 0x39)
}
