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

    /// Where the reader is: the byte offset and the current line.
    struct Cursor {
        var offset = 0
        var line = 1
    }

    /// Calls `body(line, fields)` for every non-blank record, fields decoded as UTF-8.
    /// `columnName(k)` names field k in messages (the header's names once it is read).
    func forEach(
        columnName: (Int) -> String = { "field \($0 + 1)" },
        _ body: (Int, [String]) throws -> Void
    ) throws {
        let b = file.bytes
        var at = Cursor()
        while at.offset < b.count {
            let start = at.line
            var fields: [String] = []
            var atEnd = false
            while !atEnd {
                let field: [UInt8]
                if quoting && at.offset < b.count && b[at.offset] == Self.quote {
                    field = try quoted(&at, recordLine: start, column: columnName(fields.count))
                } else {
                    field = plain(&at)
                }
                fields.append(String(decoding: field, as: UTF8.self))
                if at.offset < b.count && b[at.offset] == separator {
                    at.offset += 1
                } else {
                    if at.offset < b.count && b[at.offset] == 13 { at.offset += 1 }
                    if at.offset < b.count && b[at.offset] == 10 {
                        at.offset += 1
                        at.line += 1
                    }
                    atEnd = true
                }
            }
            if fields.count == 1 && fields[0].isEmpty { continue }  // a blank line
            try body(start, fields)
        }
    }

    /// An unquoted field: up to the separator or the line end (a CR before LF is not data).
    func plain(_ at: inout Cursor) -> [UInt8] {
        let b = file.bytes
        var field: [UInt8] = []
        while at.offset < b.count && b[at.offset] != separator && b[at.offset] != 10 {
            field.append(b[at.offset])
            at.offset += 1
        }
        if field.last == 13 && (at.offset == b.count || b[at.offset] == 10) { field.removeLast() }
        return field
    }

    /// A quoted field from its opening quote to the closing one, `""` read as one quote;
    /// what follows the closing quote must end the field.
    func quoted(_ at: inout Cursor, recordLine: Int, column: String) throws -> [UInt8] {
        let b = file.bytes
        let n = b.count
        var field: [UInt8] = []
        at.offset += 1
        var closed = false
        while at.offset < n {
            let c = b[at.offset]
            if c == Self.quote {
                if at.offset + 1 < n && b[at.offset + 1] == Self.quote {
                    field.append(c)
                    at.offset += 2
                    continue
                }
                at.offset += 1
                closed = true
                break
            }
            if c == 10 { at.line += 1 }
            field.append(c)
            at.offset += 1
        }
        guard closed else {
            throw file.error(
                recordLine,
                "column \(column): a quoted field is never closed (expected a closing \" before the end of the file)"
            )
        }
        let next: UInt8? = at.offset < n ? b[at.offset] : nil
        let crlf = next == 13 && (at.offset + 1 == n || b[at.offset + 1] == 10)
        guard next == nil || next == separator || next == 10 || crlf else {
            throw file.error(
                at.line,
                "column \(column): unexpected text after a closing quote (a quote inside a quoted field is written \"\")"
            )
        }
        return field
    }
}
