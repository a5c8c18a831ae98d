/// Splits a delimited file into records as RFC 4180 says: a field that starts with a double
/// quote runs to the matching quote, may hold the separator and line breaks, and writes a
/// quote as two (`"say ""hi"""`). Records end at LF or CRLF; blank lines are skipped.
///
/// Quoting can be turned off (RecBole's atomic files are plain tab-separated text, where a
/// title may start with a quote). A record's line is the line it starts on, so an error in a
/// quoted multi-line field still points at the record.
struct CSVRecords {
    let file: DelimitedFile
    let separator: UInt8
    let quoting: Bool

    static let quote = UInt8(ascii: "\"")

    /// Calls `body(line, fields)` for every non-blank record, fields decoded as UTF-8.
    /// `columnName(k)` names field k in messages (the header's names once it is read).
    func forEach(
        columnName: (Int) -> String = { "field \($0 + 1)" },
        _ body: (Int, [String]) throws -> Void
    ) throws {
        let b = file.bytes
        let n = b.count
        var i = 0
        var line = 1
        while i < n {
            let start = line
            var fields: [String] = []
            var atEnd = false
            while !atEnd {
                var field: [UInt8] = []
                if quoting && i < n && b[i] == Self.quote {
                    i += 1
                    var closed = false
                    while i < n {
                        let c = b[i]
                        if c == Self.quote {
                            if i + 1 < n && b[i + 1] == Self.quote {
                                field.append(c)
                                i += 2
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if c == 10 { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    guard closed else {
                        throw file.error(
                            start,
                            "column \(columnName(fields.count)): a quoted field is never closed (expected a closing \" before the end of the file)"
                        )
                    }
                    let next: UInt8? = i < n ? b[i] : nil
                    guard
                        next == nil || next == separator || next == 10 || (next == 13 && (i + 1 == n || b[i + 1] == 10))
                    else {
                        throw file.error(
                            line,
                            "column \(columnName(fields.count)): unexpected text after a closing quote (a quote inside a quoted field is written \"\")"
                        )
                    }
                } else {
                    while i < n && b[i] != separator && b[i] != 10 {
                        field.append(b[i])
                        i += 1
                    }
                    if field.last == 13 && (i == n || b[i] == 10) { field.removeLast() }  // CRLF
                }
                fields.append(String(decoding: field, as: UTF8.self))
                if i < n && b[i] == separator {
                    i += 1
                } else {
                    if i < n && b[i] == 13 { i += 1 }
                    if i < n && b[i] == 10 {
                        i += 1
                        line += 1
                    }
                    atEnd = true
                }
            }
            if fields.count == 1 && fields[0].isEmpty { continue }  // a blank line
            try body(start, fields)
        }
    }
}
