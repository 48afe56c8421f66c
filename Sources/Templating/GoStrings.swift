/// Go's `strings` functions whose rules differ from the standard library's.
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
}
