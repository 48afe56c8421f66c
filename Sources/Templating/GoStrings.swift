/// Go's `strings` functions whose rules differ from Foundation's.
public enum GoStrings {
    /// `strings.Title`: the first letter of each word in upper case, the rest left as they are.
    /// Words are separated by white space and ASCII punctuation other than `_`.
    public static func title(_ text: String) -> String {
        var out = ""
        var previous: Character = " "
        for character in text {
            out += isSeparator(previous) ? character.uppercased() : String(character)
            previous = character
        }
        return out
    }

    private static func isSeparator(_ character: Character) -> Bool {
        if let ascii = character.asciiValue {
            if character.isLetter || character.isNumber || ascii == UInt8(ascii: "_") { return false }
            return true
        }
        if character.isLetter || character.isNumber { return false }
        return character.isWhitespace
    }

    /// `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX`.
    public static func queryEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x20: out += "+"
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}
