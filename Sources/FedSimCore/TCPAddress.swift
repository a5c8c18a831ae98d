/// A TCP endpoint written as `tcp://HOST:PORT` (`tcp://[::1]:PORT` for IPv6 literals), the
/// form of `runtime.listen`, `runtime.connect` and the run directory's `coordinator.addr`.
/// It lives in FedSimCore because both the scenario reader (validation) and the transport
/// (binding, connecting) parse it, and neither may depend on the other.
public struct TCPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 0 when listening means "any free port"; the bound one is then written to the run directory.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `tcp://HOST:PORT`; nil for anything else (no scheme, empty host, port outside 0…65535).
    public init?(parsing text: String) {
        let s = text.trimmingWhitespace
        guard s.hasPrefix("tcp://") else { return nil }
        let rest = s.dropFirst("tcp://".count)
        let hostPart: Substring
        let portPart: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            portPart = after.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { return nil }
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
            if hostPart.contains(":") { return nil }
        }
        guard !hostPart.isEmpty, !hostPart.contains("/"), let port = Int(portPart), (0...65_535).contains(port)
        else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)" }
}

extension String {
    fileprivate var trimmingWhitespace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[first...last]
    }
}
