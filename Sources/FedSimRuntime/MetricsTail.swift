import FedSimMetrics
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The lines a run has appended to `metrics.jsonl` since the last look. The launcher polls it
/// every 200 ms and hands the new lines to each reader (the progress display, the TensorBoard
/// log), so the file is read once per change instead of once per reader per tick. Only whole
/// lines count: a line still being written is taken on a later look. Lines are decoded into the
/// metrics schema (`RoundMetrics`), the type the coordinator wrote them from.
final class MetricsTail {
    let path: String
    var bytesSeen = -1
    var linesSeen = 0

    init(_ path: String) { self.path = path }

    /// Lines that do not decode (a file that is not this FedSim's) are left out, once each:
    /// the display is best effort, and metrics.jsonl stays the record.
    func newLines() -> [RoundMetrics] {
        var st = stat()
        guard stat(path, &st) == 0, Int(st.st_size) != bytesSeen,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else { return [] }
        bytesSeen = Int(st.st_size)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // after the last newline: empty, or a line not yet complete
        guard lines.count > linesSeen else { return [] }
        let fresh = lines[linesSeen...].compactMap { try? MetricsJSON.decode(RoundMetrics.self, line: $0) }
        linesSeen = lines.count
        return fresh
    }
}
