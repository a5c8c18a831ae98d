/// Why a frame was refused. Any of these closes the offending connection (and only it).
public struct FrameError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case oversized, undersized, badVersion, unknownKind, reservedBits, truncated, trailingBytes
        case countLimit, badString, badValue
    }
    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public static func == (a: FrameError, b: FrameError) -> Bool { a.code == b.code }
    public var description: String { "\(code.rawValue): \(detail)" }
}

/// Explicit bounds on what a decoder will accept, so a hostile peer cannot make us allocate
/// without limit: the frame size caps every count before any allocation happens.
public struct FrameLimits: Sendable, Equatable {
    public var maxFrameBytes: Int
    public var maxStringBytes: Int
    public init(maxFrameBytes: Int = 256 << 20, maxStringBytes: Int = 4_096) {
        self.maxFrameBytes = maxFrameBytes
        self.maxStringBytes = maxStringBytes
    }
}
