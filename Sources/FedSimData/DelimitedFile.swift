import Foundation

/// Reads a delimited text file line by line over raw bytes (MovieLens' u.item is Latin-1,
/// so we never assume UTF-8 for fields we do not need as text).
struct DelimitedFile {
    let path: String
    let bytes: [UInt8]

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, message: "cannot read file")
        }
        bytes = Self.withoutBOM([UInt8](data))
    }

    init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = Self.withoutBOM(bytes)
    }

    /// Spreadsheet tools write a UTF-8 byte-order mark; it is not part of the first field.
    static func withoutBOM(_ b: [UInt8]) -> [UInt8] { b.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(b.dropFirst(3)) : b }

    /// Calls `body(lineNumber, fields)` for every non-empty line. Fields are byte slices.
    func forEachLine(separator: UInt8, _ body: (Int, [ArraySlice<UInt8>]) throws -> Void) throws {
        var lineNo = 0
        var start = 0
        let n = bytes.count
        while start < n {
            var end = start
            while end < n && bytes[end] != 10 { end += 1 }
            lineNo += 1
            var stop = end
            if stop > start && bytes[stop - 1] == 13 { stop -= 1 }  // CRLF
            if stop > start {
                let line = bytes[start..<stop]
                try body(lineNo, line.split(separator: separator, omittingEmptySubsequences: false))
            }
            start = end + 1
        }
    }

    func error(_ line: Int, _ message: String) -> DataError { DataError(file: path, line: line, message: message) }
}

enum Field {
    static func text(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }

    static func int(_ s: ArraySlice<UInt8>) -> Int64? {
        var v: Int64 = 0
        var any = false
        var neg = false
        var i = s.startIndex
        if i < s.endIndex && s[i] == 45 {
            neg = true
            i += 1
        }
        while i < s.endIndex {
            let c = s[i]
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
            if o1 || o2 { return nil }
            v = a
            any = true
            i += 1
        }
        return any ? (neg ? -v : v) : nil
    }

    /// Integers, or decimals like "881250949.0" (RecBole writes float columns): an optional
    /// minus, digits, and at most one point followed by digits. Nothing else: no NUL (which
    /// the C parser would stop at, accepting "4\0junk" as 4), no spaces, no exponents, no hex.
    static func number(_ s: ArraySlice<UInt8>) -> Double? {
        if let i = int(s) { return Double(i) }
        var digits = 0
        var points = 0
        var afterPoint = 0
        for (k, c) in zip(s.indices, s) {
            switch c {
            case 48...57:
                digits += 1
                if points > 0 { afterPoint += 1 }
            case 46: points += 1
            case 45 where k == s.startIndex: break
            default: return nil
            }
        }
        guard digits > 0, points <= 1, points == 0 || afterPoint > 0, let d = Double(text(s)), d.isFinite else {
            return nil
        }
        return d
    }
}
