/// A strict JSON parser into `JSONValue` (RFC 8259, UTF-8). It exists so that readers keep
/// key order and the integer/floating-point distinction (see `JSONValue`), and so that a bad
/// file is reported at its column.
extension JSONValue {
    /// Why a text is not JSON: the message and the 1-based column (byte offset + 1).
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var message: String
        public var column: Int
        public init(message: String, column: Int) {
            self.message = message
            self.column = column
        }
        public var description: String { "column \(column): \(message)" }
    }

    /// Parses one JSON document (surrounding whitespace allowed, nothing else after it).
    public init(parsing text: some StringProtocol) throws {
        var p = Parser(bytes: Array(text.utf8))
        p.skipSpace()
        self = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.error("unexpected text after the value") }
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        func error(_ message: String) -> ParseError { ParseError(message: message, column: i + 1) }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func expect(_ literal: String) throws {
            let l = Array(literal.utf8)
            guard i + l.count <= bytes.count, Array(bytes[i..<i + l.count]) == l else {
                throw error("expected \(literal)")
            }
            i += l.count
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 128 else { throw error("nesting deeper than 128") }
            guard i < bytes.count else { throw error("unexpected end of text") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default: return try number()
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            i += 1
            var members: [Member] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                members.append(Member(key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw error("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(members)
                } else {
                    throw error("expected , or }")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw error("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                } else if bytes[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(items)
                } else {
                    throw error("expected , or ]")
                }
            }
        }

        /// A number: integer syntax gives `.int` (when it fits), anything with a fraction or
        /// an exponent gives `.double`, parsed correctly rounded by `Double(_:)`.
        mutating func number() throws -> JSONValue {
            let start = i
            var floating = false
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                    floating = true
                } else if !(c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) && c != UInt8(ascii: "-")
                    && c != UInt8(ascii: "+")
                {
                    break
                }
                i += 1
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if !floating, let n = Int(text) { return .int(n) }
            guard !text.isEmpty, let d = Double(text), d.isFinite else {
                i = start
                throw error(text.isEmpty ? "unexpected character" : "bad number \(text)")
            }
            return .double(d)
        }

        mutating func string() throws -> String {
            i += 1
            var scalars = String.UnicodeScalarView()
            var run = i
            func flush(_ end: Int) {
                scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars)
            }
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    flush(i)
                    i += 1
                    return String(scalars)
                }
                if c < 0x20 { throw error("control character in a string") }
                if c == UInt8(ascii: "\\") {
                    flush(i)
                    scalars.append(try escape())
                    run = i
                } else {
                    i += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func escape() throws -> Unicode.Scalar {
            i += 1
            guard i < bytes.count else { throw error("unterminated escape") }
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let high = try hex4()
                if (0xD800..<0xDC00).contains(high) {
                    try expect("\\u")
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                    return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
                }
                guard let s = Unicode.Scalar(high) else { throw error("unpaired surrogate") }
                return s
            default: throw error("bad escape")
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16)
            else { throw error("bad \\u escape") }
            i += 4
            return v
        }
    }
}
