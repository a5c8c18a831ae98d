/// Checks an analytic gradient against central finite differences, one parameter field at a
/// time, for any model block whose fields are `[Double]` or `Double` (kernels are generic over
/// `BinaryFloatingPoint`, so tests run them in `Double`).
///
///     var check = GradientChecker(at: block, gradient: g) { Kernel.loss($0, batch, l2: 0.05) }
///     check.field(\.rows)
///     check.field(\.bias)
///     #expect(check.worst < 1e-5)
///
/// The error of each coordinate is relative, |a − n| / max(1e-6, |a| + |n|): central
/// differences with h = 1e-6 in Double are accurate to about 1e-9 on smooth losses, so 1e-5
/// catches any real error while tolerating round-off near zero.
public struct GradientChecker<Block> {
    public let point: Block
    public let gradient: Block
    let loss: (Block) -> Double
    public var h = 1e-6
    /// The largest relative error seen so far, and where.
    public private(set) var worst = 0.0
    public private(set) var worstAt = ""
    /// Coordinates checked.
    public private(set) var checked = 0

    public init(at point: Block, gradient: Block, loss: @escaping (Block) -> Double) {
        self.point = point
        self.gradient = gradient
        self.loss = loss
    }

    /// ∂loss/∂x by central differences, x moved by `perturb`.
    public func numeric(_ perturb: (inout Block, Double) -> Void) -> Double {
        var plus = point
        var minus = point
        perturb(&plus, h)
        perturb(&minus, -h)
        return (loss(plus) - loss(minus)) / (2 * h)
    }

    mutating func record(_ analytic: Double, _ numeric: Double, _ name: String) {
        checked += 1
        let e = abs(analytic - numeric) / max(1e-6, abs(analytic) + abs(numeric))
        if e > worst { (worst, worstAt) = (e, name) }
    }

    /// Every coordinate of an array field (or those `including` accepts).
    public mutating func field(
        _ path: WritableKeyPath<Block, [Double]>,
        _ name: String = "",
        including: (Int) -> Bool = { _ in true }
    ) {
        for i in point[keyPath: path].indices where including(i) {
            record(gradient[keyPath: path][i], numeric { $0[keyPath: path][i] += $1 }, "\(name)[\(i)]")
        }
    }

    /// A scalar field.
    public mutating func field(_ path: WritableKeyPath<Block, Double>, _ name: String = "") {
        record(gradient[keyPath: path], numeric { $0[keyPath: path] += $1 }, name)
    }
}
