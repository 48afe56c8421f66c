/// What the search index records of a span: hashes of (field, value) pairs for span names, kinds,
/// status codes and string, integer and boolean attributes of spans and resources. The index maps
/// each term to the traces holding it, per segment; a key with too many values in a segment is
/// left out of that segment's index (and searched by reading its blocks). Hashes are FNV-1a over
/// the wire bytes, so ingest computes them without decoding; a collision only adds a candidate,
/// which the exact span filter then drops.
public struct IndexTerm: Hashable, Sendable {
    /// The field: scope and attribute key.
    public var key: UInt64
    /// The field and its value.
    public var term: UInt64
}

enum TermHash {
    static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    /// Scopes of fields.
    static let resource = UInt8(ascii: "r"), span = UInt8(ascii: "s"), name = UInt8(ascii: "n")
    static let kind = UInt8(ascii: "k"), status = UInt8(ascii: "t")
    /// Value types.
    static let string = UInt8(ascii: "s"), integer = UInt8(ascii: "i"), boolean = UInt8(ascii: "b")

    @inline(__always)
    static func mix(_ hash: inout UInt64, _ byte: UInt8) {
        hash = (hash ^ UInt64(byte)) &* prime
    }

    @inline(__always)
    static func key(scope: UInt8, _ key: some Sequence<UInt8>) -> UInt64 {
        var hash = offset
        mix(&hash, scope)
        for byte in key { mix(&hash, byte) }
        mix(&hash, 0)
        return hash
    }

    @inline(__always)
    static func term(key: UInt64, type: UInt8, _ value: some Sequence<UInt8>) -> IndexTerm {
        var hash = key
        mix(&hash, type)
        for byte in value { mix(&hash, byte) }
        return IndexTerm(key: key, term: hash)
    }

    static func term(key: UInt64, integer value: Int64) -> IndexTerm {
        withUnsafeBytes(of: value.littleEndian) { term(key: key, type: integer, $0) }
    }

    static func term(key: UInt64, bool value: Bool) -> IndexTerm {
        term(key: key, type: boolean, [value ? 1 : 0])
    }

    static let nameKey = key(scope: name, [])
    static let kindKey = key(scope: kind, [])
    static let statusKey = key(scope: status, [])
}

/// Which traces may match a span filter, as index lookups: nil stands for "any trace".
indirect enum Candidates: Sendable, Equatable {
    case all
    /// Traces holding any of `terms` (all of one key).
    case terms(key: UInt64, terms: [UInt64])
    case and(Candidates, Candidates)
    case or(Candidates, Candidates)

    /// Traces (positions in a segment's index) that may match; nil when the index cannot narrow.
    func positions(postings: [UInt64: [Int32]], unindexed: Set<UInt64>) -> Set<Int32>? {
        switch self {
        case .all: return nil
        case let .terms(key, terms):
            guard !unindexed.contains(key) else { return nil }
            var result = Set<Int32>()
            for term in terms { result.formUnion(postings[term] ?? []) }
            return result
        case let .and(left, right):
            switch (left.positions(postings: postings, unindexed: unindexed), right.positions(postings: postings, unindexed: unindexed)) {
            case let (a?, b?): return a.intersection(b)
            case let (a?, nil): return a
            case let (nil, b?): return b
            case (nil, nil): return nil
            }
        case let .or(left, right):
            guard let a = left.positions(postings: postings, unindexed: unindexed),
                  let b = right.positions(postings: postings, unindexed: unindexed) else { return nil }
            return a.union(b)
        }
    }

    /// Whether a trace with `terms` may match (the head's check).
    func admits(_ terms: [IndexTerm]) -> Bool {
        switch self {
        case .all: return true
        case let .terms(key, wanted): return wanted.contains { term in terms.contains(IndexTerm(key: key, term: term)) }
        case let .and(left, right): return left.admits(terms) && right.admits(terms)
        case let .or(left, right): return left.admits(terms) || right.admits(terms)
        }
    }
}

extension SpanFilter {
    /// The index lookups that bound this filter's matches: equality on names, kinds, statuses and
    /// attributes narrows; anything else does not.
    var candidates: Candidates {
        switch self {
        case .all: return .all
        case let .and(left, right): return .and(left.candidates, right.candidates)
        case let .or(left, right): return .or(left.candidates, right.candidates)
        case let .compare(field, comparison, value):
            guard comparison == .equal else { return .all }
            switch (field, value) {
            case let (.name, .string(text)): return .terms(key: TermHash.nameKey, terms: [TermHash.term(key: TermHash.nameKey, type: TermHash.string, Array(text.utf8)).term])
            case let (.kind, .kind(kind)): return .terms(key: TermHash.kindKey, terms: [TermHash.term(key: TermHash.kindKey, integer: Int64(kind.rawValue)).term])
            case let (.status, .status(code)): return .terms(key: TermHash.statusKey, terms: [TermHash.term(key: TermHash.statusKey, integer: Int64(code.rawValue)).term])
            case let (.attribute(scope, key), _):
                let scopes: [UInt8] = switch scope {
                case .span: [TermHash.span]
                case .resource: [TermHash.resource]
                case .any: [TermHash.span, TermHash.resource]
                }
                let lookups = scopes.map { scopeByte -> Candidates in
                    let keyHash = TermHash.key(scope: scopeByte, Array(key.utf8))
                    let terms = Self.valueTerms(value, key: keyHash)
                    return terms.isEmpty ? .all : .terms(key: keyHash, terms: terms)
                }
                return lookups.dropFirst().reduce(lookups[0]) { .or($0, $1) }
            default:
                return .all
            }
        }
    }

    /// Every stored form a compared value equals: a number also as its text, numeric text also as
    /// the number, as the span filter compares them.
    static func valueTerms(_ value: SpanValue, key: UInt64) -> [UInt64] {
        switch value {
        case let .string(text):
            var terms = [TermHash.term(key: key, type: TermHash.string, Array(text.utf8)).term]
            if let number = Int64(text) { terms.append(TermHash.term(key: key, integer: number).term) }
            if text == "true" || text == "false" { terms.append(TermHash.term(key: key, bool: text == "true").term) }
            return terms
        case let .number(number):
            guard number == number.rounded(), abs(number) < 9e18 else { return [] }
            let integer = Int64(number)
            return [TermHash.term(key: key, integer: integer).term, TermHash.term(key: key, type: TermHash.string, Array(String(integer).utf8)).term]
        case let .bool(flag):
            return [TermHash.term(key: key, bool: flag).term]
        case .duration, .status, .kind, .pattern:
            return []
        }
    }
}
