/// Reads one YAML document into `YAMLNode`s: block and flow collections, the five scalar styles,
/// comments, anchors and aliases, tags and merge keys (`<<`) — what configuration files, rule
/// files and Alertmanager configurations use. Explicit keys (`? `), collections as keys and `%TAG`
/// directives are refused with an error rather than guessed at.
///
/// Hostile input is bounded: nesting deeper than `maxDepth` (64; configurations use a dozen) and documents that expand to more than
/// `maxExpandedNodes` through aliases are errors, and every loop advances through the bytes.
/// Positions are 1-based lines and columns counted in characters.
struct YAMLReader {
    static let maxDepth = 64
    static let maxExpandedNodes = 1_000_000

    let bytes: [UInt8]
    let file: String
    var pos = 0
    var line = 1
    var column = 1
    var lineStart = 0
    var depth = 0
    /// Nodes produced so far, aliases counted at their anchored node's full size.
    var nodeCount = 0
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]

    init(_ text: String, file: String) {
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if bytes.contains(.carriageReturn) {
            // CRLF and lone CR are line breaks; the reader only knows LF.
            var normalized: [UInt8] = []
            normalized.reserveCapacity(bytes.count)
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == .carriageReturn {
                    normalized.append(.newline)
                    if index + 1 < bytes.count, bytes[index + 1] == .newline { index += 1 }
                } else {
                    normalized.append(byte)
                }
                index += 1
            }
            bytes = normalized
        }
        self.bytes = bytes
        self.file = file
    }

    // MARK: The document

    /// The document's root, or `nil` for a document with no content.
    mutating func document() throws(ConfigError) -> YAMLNode? {
        _ = skipSpaceAndComments()
        while column == 1, peek() == .percent {
            if bytes[pos...].starts(with: Array("%TAG".utf8)) { throw fail("%TAG directives are not supported") }
            while let byte = peek(), byte != .newline { advance() }
            _ = skipSpaceAndComments()
        }
        if atDocumentMarker(.hyphen) { advance(count: 3) }
        let root = try blockNode(parent: -1, inlineAfterKey: false, indentlessSequence: false)
        _ = skipSpaceAndComments()
        if atDocumentMarker(.period) {
            advance(count: 3)
            _ = skipSpaceAndComments()
        }
        if !atEnd {
            guard atDocumentMarker(.hyphen) else { throw fail("unexpected \(describeNext()) after the end of the document") }
            advance(count: 3)
            _ = skipSpaceAndComments()
            guard atEnd else { throw fail("the file holds more than one YAML document; a configuration is one document, so put everything in one") }
        }
        return root.isNull && root.tag == nil && root.scalarText == "" ? nil : root
    }

    // MARK: Block structure

    /// The node that follows an indicator (`key:`, `- `, `---`) or starts a line. `parent` is the
    /// indentation of the enclosing block collection, -1 at the top. A node on a later line belongs
    /// here only if it is indented more than `parent`, or equally for a list that is a mapping's
    /// value (`indentlessSequence`).
    mutating func blockNode(parent: Int, inlineAfterKey: Bool, indentlessSequence: Bool) throws(ConfigError) -> YAMLNode {
        let emptyLine = line, emptyColumn = column
        var sameLine = !skipSpaceAndComments() && !freshLine
        var properties = Properties()
        while true {
            if atEnd || atAnyDocumentMarker {
                return try finish(makeEmpty(line: emptyLine, column: emptyColumn), properties, startCount: nodeCount)
            }
            if !sameLine {
                try checkIndentation()
                let indent = column - 1
                if indent < parent || (indent == parent && !(indentlessSequence && atSequenceEntry)) {
                    return try finish(makeEmpty(line: emptyLine, column: emptyColumn), properties, startCount: nodeCount)
                }
            }
            guard peek() == .ampersand || peek() == .exclamation else { break }
            try readProperty(into: &properties, flow: false)
            skipInlineSpace()
            if atEnd || peek() == .newline || peek() == .hash {
                if skipSpaceAndComments() { sameLine = false }
            }
        }

        // A collection's indentation is where its line's content starts, properties included.
        let indent = (properties.isEmpty || properties.line != line ? column : properties.column) - 1
        let startLine = line, startColumn = column
        let startCount = nodeCount
        guard let byte = peek() else { throw fail("unexpected end of the document") }
        if atSequenceEntry {
            if sameLine && inlineAfterKey {
                throw fail("a list cannot start on the same line as its key; put its items on the lines below")
            }
            return try finish(blockSequence(indent: indent, indentless: indent == parent), properties, startCount: startCount)
        }
        switch byte {
        case .pipe, .greaterThan:
            return try finish(blockScalar(parent: parent), properties, startCount: startCount)
        case .openBracket, .openBrace:
            let node = try flowCollection()
            skipInlineSpace()
            if atValueIndicator { throw fail("a flow collection cannot be a mapping key") }
            return try finish(node, properties, startCount: startCount)
        case .question where isBlank(peek(1)):
            throw fail("explicit mapping keys ('? ') are not supported")
        case .asterisk:
            guard properties.isEmpty else { throw fail("an alias cannot have an anchor or a tag") }
            let node = try alias()
            skipInlineSpace()
            guard atValueIndicator else { return node }
            if sameLine && inlineAfterKey { throw mappingInValue() }
            try requireScalarKey(node, line: startLine, column: startColumn)
            return try blockMapping(indent: indent, firstKey: node)
        case .quote, .apostrophe:
            let (text, style, multiline) = try quotedScalar()
            let node = try make(.scalar(text, style), line: startLine, column: startColumn)
            skipInlineSpace()
            guard atValueIndicator else { return try finish(node, properties, startCount: startCount) }
            if sameLine && inlineAfterKey { throw mappingInValue() }
            if multiline { throw fail("a mapping key must fit on one line", line: startLine, column: startColumn) }
            return try mapping(indent: indent, firstKey: node, properties, startCount: startCount)
        default:
            guard canStartPlain(flow: false) else { throw fail("unexpected \(describeNext())") }
            let first = plainSegment(flow: false)
            if atValueIndicator {
                if sameLine && inlineAfterKey { throw mappingInValue() }
                let key = try make(.scalar(first, .plain), line: startLine, column: startColumn)
                return try mapping(indent: indent, firstKey: key, properties, startCount: startCount)
            }
            let text = try plainContinuation(first, parent: parent, flow: false)
            return try finish(make(.scalar(text, .plain), line: startLine, column: startColumn), properties, startCount: startCount)
        }
    }

    /// A block mapping that starts with `firstKey`. Properties on the key's line belong to the key
    /// (`&a key: v`), as in YAML; on a line of their own, to the mapping.
    mutating func mapping(indent: Int, firstKey: YAMLNode, _ properties: Properties, startCount: Int) throws(ConfigError) -> YAMLNode {
        if properties.isEmpty || properties.line == firstKey.line {
            return try blockMapping(indent: indent, firstKey: finish(firstKey, properties, startCount: startCount))
        }
        return try finish(blockMapping(indent: indent, firstKey: firstKey), properties, startCount: startCount)
    }

    /// A block mapping whose first key was read; the cursor is at that key's `:`.
    mutating func blockMapping(indent: Int, firstKey: YAMLNode) throws(ConfigError) -> YAMLNode {
        try enter()
        defer { depth -= 1 }
        var pairs = MappingBuilder()
        var key = firstKey
        while true {
            advance()  // the ':'
            let value = try blockNode(parent: indent, inlineAfterKey: true, indentlessSequence: true)
            try pairs.add(key, value, reader: self)
            guard let column = try nextEntryColumn(after: "a value", indent: indent) else { break }
            guard column == indent else {
                throw fail("this line is indented more than the keys above it (column \(indent + 1)); a value that continues must not contain ': '")
            }
            key = try mappingKey()
        }
        return try make(.mapping(pairs.merged(reader: self)), line: firstKey.line, column: firstKey.column)
    }

    /// A key of a block mapping after its first, at the mapping's indentation; stops at the `:`.
    mutating func mappingKey() throws(ConfigError) -> YAMLNode {
        if atSequenceEntry { throw fail("expected a key, found a list item ('- '); a list must be the value of a key") }
        var properties = Properties()
        while peek() == .ampersand || peek() == .exclamation {
            try readProperty(into: &properties, flow: false)
            skipInlineSpace()
        }
        let startLine = line, startColumn = column, startCount = nodeCount
        var key: YAMLNode
        switch peek() {
        case .asterisk?:
            key = try alias()
            try requireScalarKey(key, line: startLine, column: startColumn)
        case .quote?, .apostrophe?:
            let (text, style, multiline) = try quotedScalar()
            if multiline { throw fail("a mapping key must fit on one line", line: startLine, column: startColumn) }
            key = try make(.scalar(text, style), line: startLine, column: startColumn)
        case .openBracket?, .openBrace?:
            throw fail("a flow collection cannot be a mapping key")
        case .question? where isBlank(peek(1)):
            throw fail("explicit mapping keys ('? ') are not supported")
        default:
            guard canStartPlain(flow: false) else { throw fail("unexpected \(describeNext())") }
            key = try make(.scalar(plainSegment(flow: false), .plain), line: startLine, column: startColumn)
        }
        key = try finish(key, properties, startCount: startCount)
        skipInlineSpace()
        guard atValueIndicator else {
            throw fail("expected ':' after the key \"\(key.scalarText ?? "")\"")
        }
        return key
    }

    /// A block list; the cursor is at its first `- `. An indentless list (a mapping's value at the
    /// mapping's own indentation) ends at the first line that is not an item.
    mutating func blockSequence(indent: Int, indentless: Bool) throws(ConfigError) -> YAMLNode {
        try enter()
        defer { depth -= 1 }
        let startLine = line, startColumn = column
        var items: [YAMLNode] = []
        while true {
            advance()  // the '-'
            items.append(try blockNode(parent: indent, inlineAfterKey: false, indentlessSequence: false))
            guard let column = try nextEntryColumn(after: "a list item", indent: indent) else { break }
            guard column == indent else { throw fail("this line is indented more than the list items above it (column \(indent + 1))") }
            guard atSequenceEntry else {
                if indentless { break }
                throw fail("expected a list item ('- ') at this indentation")
            }
        }
        return try make(.sequence(items), line: startLine, column: startColumn)
    }

    /// Moves to the line of a collection's next entry and returns its indentation; `nil` when the
    /// collection ends there (the document ends, or the line is indented less than `indent`).
    mutating func nextEntryColumn(after what: String, indent: Int) throws(ConfigError) -> Int? {
        let crossed = skipSpaceAndComments()
        if atEnd || atAnyDocumentMarker { return nil }
        guard crossed || freshLine else { throw fail("unexpected \(describeNext()) after \(what)") }
        try checkIndentation()
        return column - 1 < indent ? nil : column - 1
    }

    // MARK: Nodes, anchors, merge keys

    struct Properties {
        var anchor: String?
        var tag: String?
        /// Where the first property starts; the node is reported there.
        var line = 0, column = 0
        var isEmpty: Bool { anchor == nil && tag == nil }
    }

    /// Applies `properties` to a node that began when `nodeCount` was `startCount`, and remembers
    /// an anchored node with its expanded size, which every alias to it adds to the budget.
    mutating func finish(_ node: YAMLNode, _ properties: Properties, startCount: Int) throws(ConfigError) -> YAMLNode {
        var node = node
        if !properties.isEmpty {
            node.line = properties.line
            node.column = properties.column
        }
        // Tags matter only to scalars here (`!!str 1`); a tag on a collection changes nothing.
        if let tag = properties.tag, case .scalar = node.content { node.tag = tag }
        if let anchor = properties.anchor { anchors[anchor] = (node, max(1, nodeCount - startCount)) }
        return node
    }

    mutating func make(_ content: YAMLNode.Content, line: Int, column: Int) throws(ConfigError) -> YAMLNode {
        nodeCount += 1
        guard nodeCount <= Self.maxExpandedNodes else {
            throw fail("the document expands to more than \(Self.maxExpandedNodes) nodes (through aliases)")
        }
        return YAMLNode(content, line: line, column: column)
    }

    mutating func makeEmpty(line: Int, column: Int) throws(ConfigError) -> YAMLNode {
        try make(.scalar("", .plain), line: line, column: column)
    }

    mutating func enter() throws(ConfigError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("collections nested deeper than \(Self.maxDepth) levels") }
    }

    /// A mapping's entries in document order, refusing a repeated key and applying merge keys.
    struct MappingBuilder {
        var pairs: [YAMLPair] = []
        var firstLines: [String: Int] = [:]

        mutating func add(_ key: YAMLNode, _ value: YAMLNode, reader: YAMLReader) throws(ConfigError) {
            // Keys are names; a tag on one (`!!str 1: a`) changes nothing here, so it is not kept.
            var key = key
            key.tag = nil
            guard let name = key.scalarText else {
                throw reader.fail("a mapping key must be a single value, not a list or mapping", line: key.line, column: key.column)
            }
            if let first = firstLines[name] {
                throw reader.fail("duplicate key \"\(name)\" (first at line \(first))", line: key.line, column: key.column)
            }
            firstLines[name] = key.line
            pairs.append(YAMLPair(key: key, value: value))
        }

        /// Replaces each `<<` entry by the entries of the mapping (or list of mappings) it names
        /// that the mapping does not set itself; of several merged mappings, the first wins.
        func merged(reader: YAMLReader) throws(ConfigError) -> [YAMLPair] {
            func isMergeKey(_ node: YAMLNode) -> Bool {
                if case .scalar("<<", .plain) = node.content, node.tag == nil { return true }
                return false
            }
            guard pairs.contains(where: { isMergeKey($0.key) }) else { return pairs }
            var taken = Set(pairs.filter { !isMergeKey($0.key) }.compactMap(\.key.scalarText))
            var result: [YAMLPair] = []
            for pair in pairs {
                guard isMergeKey(pair.key) else {
                    result.append(pair)
                    continue
                }
                let sources: [YAMLNode]
                switch pair.value.content {
                case .mapping: sources = [pair.value]
                case .sequence(let nodes): sources = nodes
                case .scalar: sources = []
                }
                for source in sources.isEmpty ? [pair.value] : sources {
                    guard case let .mapping(entries) = source.content else {
                        throw reader.fail("the value of a merge key (<<) must be a mapping or a list of mappings",
                                          line: source.line, column: source.column)
                    }
                    for entry in entries where entry.key.scalarText.map({ taken.insert($0).inserted }) ?? true {
                        result.append(entry)
                    }
                }
            }
            return result
        }
    }

    // MARK: The cursor

    var atEnd: Bool { pos >= bytes.count }

    func peek(_ offset: Int = 0) -> UInt8? {
        let index = pos + offset
        return index < bytes.count ? bytes[index] : nil
    }

    mutating func advance() {
        let byte = bytes[pos]
        pos += 1
        if byte == .newline {
            line += 1
            column = 1
            lineStart = pos
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
    }

    mutating func advance(count: Int) {
        for _ in 0..<count where !atEnd { advance() }
    }

    struct Position {
        let pos: Int, line: Int, column: Int, lineStart: Int
    }

    var position: Position { Position(pos: pos, line: line, column: column, lineStart: lineStart) }

    mutating func restore(_ position: Position) {
        pos = position.pos
        line = position.line
        column = position.column
        lineStart = position.lineStart
    }

    func isBlank(_ byte: UInt8?) -> Bool {
        guard let byte else { return true }
        return byte == .space || byte == .tab || byte == .newline
    }

    func isFlowIndicator(_ byte: UInt8?) -> Bool {
        byte == .comma || byte == .openBracket || byte == .closeBracket || byte == .openBrace || byte == .closeBrace
    }

    var atSequenceEntry: Bool { peek() == .hyphen && isBlank(peek(1)) }

    /// `:` followed by a blank: the value indicator of a block mapping.
    var atValueIndicator: Bool { peek() == .colon && isBlank(peek(1)) }

    /// Only spaces and tabs precede the cursor on its line.
    var freshLine: Bool {
        bytes[lineStart..<pos].allSatisfy { $0 == .space || $0 == .tab }
    }

    func atDocumentMarker(_ byte: UInt8) -> Bool {
        column == 1 && pos + 3 <= bytes.count && bytes[pos] == byte && bytes[pos + 1] == byte && bytes[pos + 2] == byte
            && isBlank(peek(3))
    }

    var atAnyDocumentMarker: Bool { atDocumentMarker(.hyphen) || atDocumentMarker(.period) }

    mutating func skipInlineSpace() {
        while peek() == .space || peek() == .tab { advance() }
    }

    /// Skips spaces, comments and line breaks; true if a line break was crossed.
    mutating func skipSpaceAndComments() -> Bool {
        var crossed = false
        while let byte = peek() {
            if byte == .space || byte == .tab {
                advance()
            } else if byte == .hash {
                while let next = peek(), next != .newline { advance() }
            } else if byte == .newline {
                advance()
                crossed = true
            } else {
                break
            }
        }
        return crossed
    }

    func checkIndentation() throws(ConfigError) {
        if bytes[lineStart..<pos].contains(.tab) {
            throw fail("tab characters must not be used for indentation", line: line, column: 1)
        }
    }

    func describeNext() -> String {
        guard let byte = peek() else { return "end of the document" }
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let end = min(bytes.count, pos + 4)
        let text = String(decoding: bytes[pos..<end], as: UTF8.self)
        return "character '\(text.first.map(String.init) ?? "?")'"
    }

    func fail(_ message: String, line: Int? = nil, column: Int? = nil) -> ConfigError {
        ConfigError(file: file, line: line ?? self.line, column: column ?? self.column, key: "", message: "invalid YAML: \(message)")
    }

    func requireScalarKey(_ key: YAMLNode, line: Int, column: Int) throws(ConfigError) {
        guard key.scalarText != nil else {
            throw fail("a mapping key must be a single value, not a list or mapping", line: line, column: column)
        }
    }

    func mappingInValue() -> ConfigError {
        fail("a value cannot itself be a 'key: value' on the same line; quote it if it contains ': '")
    }
}

extension UInt8 {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let hyphen = UInt8(ascii: "-")
    static let period = UInt8(ascii: ".")
    static let question = UInt8(ascii: "?")
    static let percent = UInt8(ascii: "%")
    static let ampersand = UInt8(ascii: "&")
    static let asterisk = UInt8(ascii: "*")
    static let exclamation = UInt8(ascii: "!")
    static let pipe = UInt8(ascii: "|")
    static let greaterThan = UInt8(ascii: ">")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}
