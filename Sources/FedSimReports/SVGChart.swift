import Foundation

/// Small, dependency-free SVG charts for the run reports: line charts with labelled axes,
/// ticks, a legend and optional reference lines, and histograms. Output is plain SVG text
/// that any browser renders offline.
public struct SVGLineChart {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        /// An interval around each point (e.g. a 95% confidence interval over seeds), drawn
        /// as a translucent band in the series' colour.
        public var band: [(x: Double, low: Double, high: Double)] = []
        public init(
            _ name: String,
            _ points: [(x: Double, y: Double)],
            dashed: Bool = false,
            band: [(x: Double, low: Double, high: Double)] = []
        ) {
            self.name = name
            self.points = points.filter { $0.x.isFinite && $0.y.isFinite }
            self.dashed = dashed
            self.band = band.filter { $0.x.isFinite && $0.low.isFinite && $0.high.isFinite }
        }
    }
    public struct ReferenceLine {
        public var y: Double
        public var label: String
        public init(y: Double, label: String) {
            self.y = y
            self.label = label
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var references: [ReferenceLine] = []
    public var width = 540.0, height = 300.0
    /// Draw markers at each point (useful for sparse series such as evaluations).
    public var markers = false

    public init(
        title: String,
        xLabel: String,
        yLabel: String,
        series: [Series],
        references: [ReferenceLine] = [],
        markers: Bool = false
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.references = references
        self.markers = markers
    }

    public static let palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
    ]

    public var isEmpty: Bool { series.allSatisfy { $0.points.isEmpty } }

    public func svg() -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } } + references.map(\.y)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return PlotFrame.empty(title: title, width: width, height: height)
        }
        let (xl, xh, xticks) = Self.niceScale(x0, x1)
        let (yl, yh, yticks) = Self.niceScale(y0, y1)
        let frame = PlotFrame(width: width, height: height, x: xl...xh, y: yl...yh)
        let left = frame.left
        let top = frame.top
        let pw = frame.pw
        func px(_ x: Double) -> Double { frame.px(x) }
        func py(_ y: Double) -> Double { frame.py(y) }
        var out = frame.open(title: title)
        out += frame.axes(xticks: xticks, yticks: yticks, xLabel: xLabel, yLabel: yLabel)
        for r in references {
            out +=
                "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left + pw))\" y1=\"\(fmt(py(r.y)))\" y2=\"\(fmt(py(r.y)))\" class=\"reference\"/>"
            out +=
                "<text x=\"\(fmt(left + pw - 4))\" y=\"\(fmt(py(r.y) - 4))\" text-anchor=\"end\" class=\"reference-label\">\(escape(r.label))</text>"
        }
        for (i, s) in series.enumerated() where s.band.count > 1 {
            let color = Self.palette[i % Self.palette.count]
            let outline =
                s.band.map { "\(fmt(px($0.x))),\(fmt(py($0.high)))" }
                + s.band.reversed().map { "\(fmt(px($0.x))),\(fmt(py($0.low)))" }
            out +=
                "<polygon fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"\(outline.joined(separator: " "))\"/>"
        }
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let color = Self.palette[i % Self.palette.count]
            let path = s.points.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            out +=
                "<polyline class=\"series\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(path)\"><title>\(escape(s.name))</title></polyline>"
            if markers || s.points.count == 1 {
                for p in s.points {
                    out += "<circle cx=\"\(fmt(px(p.x)))\" cy=\"\(fmt(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>"
                }
            }
        }
        // Legend, top right inside the plot.
        let named = series.enumerated().filter { !$0.element.points.isEmpty }
        if named.count > 1 || (named.count == 1 && !references.isEmpty) {
            var ly = top + 8
            for (i, s) in named {
                let color = Self.palette[i % Self.palette.count]
                out +=
                    "<line x1=\"\(fmt(left + 10))\" x2=\"\(fmt(left + 30))\" y1=\"\(fmt(ly))\" y2=\"\(fmt(ly))\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
                out += "<text x=\"\(fmt(left + 35))\" y=\"\(fmt(ly + 4))\" class=\"legend\">\(escape(s.name))</text>"
                ly += 15
            }
        }
        return out + "</svg>"
    }

    /// Rounded axis bounds and 4–8 ticks at 1, 2 or 5 × 10^k steps.
    public static func niceScale(_ lo: Double, _ hi: Double) -> (Double, Double, [Double]) {
        var lo = lo
        var hi = hi
        if hi - lo < 1e-12 * max(1, abs(hi)) {
            let pad = abs(hi) > 0 ? abs(hi) * 0.05 : 1
            lo -= pad
            hi += pad
        }
        let raw = (hi - lo) / 5
        let mag = pow10(floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        let start = floor(lo / step) * step
        let end = ceil(hi / step) * step
        var ticks: [Double] = []
        var t = start
        while t <= end + step * 1e-9 {
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return (start, end, ticks)
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e6 { return trim(v / 1e6) + "M" }
        if a >= 1e4 { return trim(v / 1e3) + "k" }
        return trim(v)
    }

    static func trim(_ v: Double) -> String {
        var s = String(format4(v))
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}

/// A histogram of values in equal-width bins.
public struct SVGHistogram {
    public var title: String
    public var xLabel: String
    public var values: [Double]
    public var bins: Int
    public var width = 540.0, height = 300.0

    public init(title: String, xLabel: String, values: [Double], bins: Int = 30) {
        self.title = title
        self.xLabel = xLabel
        self.values = values.filter(\.isFinite)
        self.bins = bins
    }

    public func svg() -> String {
        guard let lo = values.min(), let hi = values.max() else {
            return PlotFrame.empty(title: title, width: width, height: height)
        }
        let (xl, xh, xticks) = SVGLineChart.niceScale(lo, hi)
        let w = (xh - xl) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, max(0, Int((v - xl) / w)))] += 1 }
        let (_, yh, yticks) = SVGLineChart.niceScale(0, Double(counts.max() ?? 1))
        let frame = PlotFrame(width: width, height: height, x: xl...xh, y: 0...yh)
        var out = frame.open(title: title)
        out += frame.axes(xticks: xticks, yticks: yticks, xLabel: xLabel, yLabel: "devices", xTickMarks: false)
        for (i, c) in counts.enumerated() where c > 0 {
            let x = frame.px(xl + Double(i) * w)
            out +=
                "<rect class=\"bar\" x=\"\(fmt(x + 0.5))\" y=\"\(fmt(frame.py(Double(c))))\" width=\"\(fmt(max(1, frame.pw / Double(bins) - 1)))\" height=\"\(fmt(frame.py(0) - frame.py(Double(c))))\"><title>\(SVGLineChart.label(xl + Double(i) * w))–\(SVGLineChart.label(xl + Double(i + 1) * w)): \(c)</title></rect>"
        }
        return out + "</svg>"
    }
}

/// The plotting area both chart kinds share: margins, data-to-pixel mapping, the opening tag
/// with the title, and the grid, ticks, axes and axis labels.
struct PlotFrame {
    let width: Double, height: Double
    let x: ClosedRange<Double>, y: ClosedRange<Double>
    let left = 72.0, right = 16.0, top = 34.0, bottom = 48.0
    var pw: Double { width - left - right }
    var ph: Double { height - top - bottom }

    func px(_ v: Double) -> Double { left + (v - x.lowerBound) / max(x.upperBound - x.lowerBound, 1e-300) * pw }
    func py(_ v: Double) -> Double { top + ph - (v - y.lowerBound) / max(y.upperBound - y.lowerBound, 1e-300) * ph }

    static func header(title: String, width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
            + "<text x=\"\(fmt(width / 2))\" y=\"20\" text-anchor=\"middle\" class=\"title\">\(escape(title))</text>"
    }

    /// A titled chart with nothing to plot.
    static func empty(title: String, width: Double, height: Double) -> String {
        header(title: title, width: width, height: height)
            + "<text x=\"\(fmt(width / 2))\" y=\"\(fmt(height / 2))\" text-anchor=\"middle\" class=\"empty\">no data</text></svg>"
    }

    func open(title: String) -> String { Self.header(title: title, width: width, height: height) }

    func axes(xticks: [Double], yticks: [Double], xLabel: String, yLabel: String, xTickMarks: Bool = true) -> String {
        var out = ""
        for t in yticks {
            out +=
                "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left + pw))\" y1=\"\(fmt(py(t)))\" y2=\"\(fmt(py(t)))\" class=\"grid\"/>"
            out +=
                "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(SVGLineChart.label(t))</text>"
        }
        for t in xticks {
            if xTickMarks {
                out +=
                    "<line x1=\"\(fmt(px(t)))\" x2=\"\(fmt(px(t)))\" y1=\"\(fmt(top + ph))\" y2=\"\(fmt(top + ph + 4))\" class=\"axis\"/>"
            }
            out +=
                "<text x=\"\(fmt(px(t)))\" y=\"\(fmt(top + ph + 17))\" text-anchor=\"middle\" class=\"tick\">\(SVGLineChart.label(t))</text>"
        }
        out +=
            "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left + pw))\" y1=\"\(fmt(top + ph))\" y2=\"\(fmt(top + ph))\" class=\"axis\"/>"
        out +=
            "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left))\" y1=\"\(fmt(top))\" y2=\"\(fmt(top + ph))\" class=\"axis\"/>"
        out +=
            "<text x=\"\(fmt(left + pw / 2))\" y=\"\(fmt(height - 8))\" text-anchor=\"middle\" class=\"label\">\(escape(xLabel))</text>"
        out +=
            "<text transform=\"translate(14 \(fmt(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(escape(yLabel))</text>"
        return out
    }
}

func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

/// Fixed-point text (String(format:) is locale-independent: always a '.').
func format4(_ v: Double, places: Int = 4) -> String { v.isFinite ? String(format: "%.\(places)f", v) : "0" }

func escape(_ s: String) -> String {
    var o = ""
    for c in s {
        switch c {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        default: o.append(c)
        }
    }
    return o
}

func pow10(_ e: Double) -> Double { pow(10, e) }
