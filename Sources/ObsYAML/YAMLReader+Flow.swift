/// Flow collections (`[a, b]`, `{k: v}`), anchors, aliases and tags.
extension YAMLReader {
    /// A flow list or mapping; the cursor is at its opening bracket. Line breaks inside are blanks.
    /// In a list, `k: v` is a one-entry mapping, as YAML reads it.
    mutating func flowCollection() throws(ConfigError) -> YAMLNode {
        try enter()
        defer { depth -= 1 }
        let startLine = line, startColumn = column
        let isMapping = peek() == .openBrace
        let closing: UInt8 = isMapping ? .closeBrace : .closeBracket
        let unterminated = fail("unterminated flow collection: missing '\(Character(Unicode.Scalar(closing)))'",
                                line: startLine, column: startColumn)
        advance()
        var items: [YAMLNode] = []
        var pairs = MappingBuilder()
        while true {
            skipFlowSpace()
            guard !atEnd, !atAnyDocumentMarker else { throw unterminated }
            if peek() == closing {
                advance()
                break
            }
            if peek() == .question && isBlank(peek(1)) { throw fail("explicit mapping keys ('? ') are not supported") }
            let first = try flowNode()
            skipFlowSpace()
            var value: YAMLNode?
            // After a quoted key (JSON style), ':' needs no blank behind it.
            let quotedKey: Bool
            if case .scalar(_, let style) = first.content { quotedKey = style != .plain } else { quotedKey = false }
            if peek() == .colon, quotedKey || isBlank(peek(1)) || isFlowIndicator(peek(1)) {
                advance()
                skipFlowSpace()
                if peek() == .comma || peek() == closing {
                    value = try makeEmpty(line: line, column: column)
                } else {
                    value = try flowNode()
                    skipFlowSpace()
                }
            }
            if isMapping {
                var entryValue: YAMLNode
                if let value { entryValue = value } else { entryValue = try makeEmpty(line: first.line, column: first.column) }
                try pairs.add(first, entryValue, reader: self)
            } else if let value {
                var single = MappingBuilder()
                try single.add(first, value, reader: self)
                items.append(try make(.mapping(single.merged(reader: self)), line: first.line, column: first.column))
            } else {
                items.append(first)
            }
            if peek() == .comma {
                advance()
                continue
            }
            if peek() == closing {
                advance()
                break
            }
            guard !atEnd else { throw unterminated }
            throw fail("expected ',' or '\(Character(Unicode.Scalar(closing)))' in a flow collection, found \(describeNext())")
        }
        if isMapping { return try make(.mapping(pairs.merged(reader: self)), line: startLine, column: startColumn) }
        return try make(.sequence(items), line: startLine, column: startColumn)
    }

    /// One entry of a flow collection.
    mutating func flowNode() throws(ConfigError) -> YAMLNode {
        var properties = Properties()
        while peek() == .ampersand || peek() == .exclamation {
            try readProperty(into: &properties, flow: true)
            skipFlowSpace()
        }
        let startLine = line, startColumn = column, startCount = nodeCount
        if !properties.isEmpty, peek() == .comma || peek() == .closeBracket || peek() == .closeBrace {
            return try finish(makeEmpty(line: startLine, column: startColumn), properties, startCount: startCount)
        }
        let node: YAMLNode
        switch peek() {
        case .openBracket?, .openBrace?:
            node = try flowCollection()
        case .asterisk?:
            guard properties.isEmpty else { throw fail("an alias cannot have an anchor or a tag") }
            return try alias()
        case .quote?, .apostrophe?:
            let (text, style, _) = try quotedScalar()
            node = try make(.scalar(text, style), line: startLine, column: startColumn)
        default:
            guard canStartPlain(flow: true) else { throw fail("unexpected \(describeNext()) in a flow collection") }
            let text = try plainContinuation(plainSegment(flow: true), parent: -1, flow: true)
            node = try make(.scalar(text, .plain), line: startLine, column: startColumn)
        }
        return try finish(node, properties, startCount: startCount)
    }

    /// Blanks, line breaks and comments inside a flow collection.
    mutating func skipFlowSpace() {
        _ = skipSpaceAndComments()
    }

    /// The anchored node an alias (`*name`) names; the cursor is at the `*`.
    mutating func alias() throws(ConfigError) -> YAMLNode {
        let startLine = line, startColumn = column
        advance()
        let name = propertyName()
        guard !name.isEmpty else { throw fail("an alias needs a name after '*'", line: startLine, column: startColumn) }
        guard let (node, size) = anchors[name] else {
            throw fail("unknown alias *\(name); an anchor &\(name) must come before it", line: startLine, column: startColumn)
        }
        nodeCount += size
        guard nodeCount <= Self.maxExpandedNodes else {
            throw fail("the document expands to more than \(Self.maxExpandedNodes) nodes (through aliases)",
                       line: startLine, column: startColumn)
        }
        return node
    }

    /// An anchor (`&name`) or a tag (`!!str`, `!local`, `!<verbatim>`); the cursor is at its first
    /// character.
    mutating func readProperty(into properties: inout Properties, flow: Bool) throws(ConfigError) {
        let startLine = line, startColumn = column
        if properties.isEmpty {
            properties.line = line
            properties.column = column
        }
        if peek() == .ampersand {
            guard properties.anchor == nil else { throw fail("a node can have only one anchor") }
            advance()
            let name = propertyName()
            guard !name.isEmpty else { throw fail("an anchor needs a name after '&'", line: startLine, column: startColumn) }
            properties.anchor = name
        } else {
            guard properties.tag == nil else { throw fail("a node can have only one tag") }
            let start = pos
            advance()  // the '!'
            if peek() == UInt8(ascii: "<") {
                // A verbatim tag, `!<tag:yaml.org,2002:str>`.
                while let byte = peek(), byte != UInt8(ascii: ">"), byte > 0x20, byte < 0x7F { advance() }
                guard peek() == UInt8(ascii: ">") else { throw fail("a verbatim tag needs a closing '>'", line: startLine, column: startColumn) }
                advance()
            } else {
                // Tag characters are printable ASCII without the flow indicators.
                while let byte = peek(), byte > 0x20, byte < 0x7F, !isFlowIndicator(byte) { advance() }
            }
            properties.tag = String(decoding: bytes[start..<pos], as: UTF8.self)
        }
        guard isBlank(peek()) || (flow && isFlowIndicator(peek())) else {
            throw fail("unexpected \(describeNext()) after an anchor or tag")
        }
    }

    /// An anchor's or alias's name: everything up to a blank or a flow indicator.
    mutating func propertyName() -> String {
        let start = pos
        while let byte = peek(), !isBlank(byte), !isFlowIndicator(byte) { advance() }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }
}
