import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The lines a run has appended to `metrics.jsonl` since the last look. The launcher polls it
/// every 200 ms and hands the new lines to each reader (the progress display, the TensorBoard
/// log), so the file is read once per change instead of once per reader per tick. Only whole
/// lines count: a line still being written is taken on a later look.
final class MetricsTail {
    let path: String
    var bytesSeen = -1
    var linesSeen = 0

    init(_ path: String) { self.path = path }

    func newLines() -> [[String: Any]] {
        var st = stat()
        guard stat(path, &st) == 0, Int(st.st_size) != bytesSeen,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else { return [] }
        bytesSeen = Int(st.st_size)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // after the last newline: empty, or a line not yet complete
        guard lines.count > linesSeen else { return [] }
        let fresh = lines[linesSeen...].compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        linesSeen = lines.count
        return fresh
    }
}
