import FedSimCore
import FedSimWire
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Real loopback sockets for the TCP tests: a raw client (bytes below any protocol) and a
/// relay that forwards a client's connection to the server, reading the client's side record
/// by record so a test can tamper with, replay, reorder or cut exactly one record.
enum TCPTestSupport {
    static let token = [UInt8](repeating: 1, count: 32)
    static let secret = TransportSecret(token: token)

    /// The handshake deadline defaults far above any honest handshake: it is wall-clock on the
    /// server's threads, and a test whose client task was starved for 30 s on a loaded 2-core
    /// machine saw its peer closed for "no hello" before it wrote the frame under test. Tests
    /// of the deadline itself pass a short one.
    static func server(timeout: Double = 600, maxPending: Int = 64) async throws -> SocketServer {
        try await SocketServer.start(
            tcp: TCPAddress(host: "127.0.0.1", port: 0),
            secret: secret,
            limits: FrameLimits(),
            handshake: HandshakePolicy(token: token, timeoutSeconds: timeout, maxPending: maxPending)
        )
    }

    static func client(_ port: Int, secret: TransportSecret = secret) async throws -> SocketClient {
        try await SocketClient.connect(
            tcp: { TCPAddress(host: "127.0.0.1", port: port) },
            secret: secret,
            limits: FrameLimits(),
            timeout: 30
        )
    }

    static var hello: Message {
        .hello(Hello(token: token, processIndex: 0, processCount: 1, firstDevice: 0, deviceCount: 1))
    }

    static func update(_ n: Int, value: Float = 0.5) -> Message {
        .update(
            DeviceUpdate(
                round: 1,
                device: 0,
                examples: 1,
                trainLoss: 0,
                weightedDelta: [Float](repeating: value, count: n),
                weights: [],
                withinClip: 1
            )
        )
    }

    static func frame(_ m: Message) -> [UInt8] {
        var b = FrameCodec.encode(m)
        return b.readBytes(length: b.readableBytes)!
    }

    static func connectFD(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw FrameError(.truncated, "connect failed: \(errno)")
        }
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads exactly `n` bytes, or nil at EOF / error.
    static func read(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = out[off...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r <= 0 { return nil }
            off += r
        }
        return out
    }

    /// A plain TCP socket.
    final class RawSocket {
        let fd: Int32
        init(port: Int) throws { fd = try TCPTestSupport.connectFD(port: port) }
        func send(_ bytes: [UInt8]) { TCPTestSupport.send(fd, bytes) }
        deinit { close(fd) }
    }

    /// What the relay does to the client→server records (numbered from 0, after the handshake).
    enum Mutation: Sendable {
        case none
        case flipByte(record: Int)
        case replay(record: Int)
        case swap(record: Int)  // sends record k+1 before record k
        case cutInside(record: Int)  // half of record k, then the connection ends
        case cutBefore(record: Int)  // records before k, then the connection ends
    }

    /// A one-connection relay on 127.0.0.1: client → relay → server.
    final class Relay: @unchecked Sendable {
        let listener: Int32
        let port: Int
        let forwarded = NIOLockedValueBox(0)
        /// Every client→server byte the relay saw, as an eavesdropper would.
        let captured = NIOLockedValueBox<[UInt8]>([])

        init(to serverPort: Int, mutation: Mutation) throws {
            let l = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = 0
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(l, $0, len) }
            }
            listen(l, 4)
            _ = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(l, $0, &len) }
            }
            listener = l
            port = Int(UInt16(bigEndian: addr.sin_port))
            let counter = forwarded
            let tap = captured
            Thread.detachNewThread {
                let client = accept(l, nil, nil)
                guard client >= 0, let server = try? TCPTestSupport.connectFD(port: serverPort) else { return }
                Thread.detachNewThread {  // server → client, untouched
                    var buf = [UInt8](repeating: 0, count: 65_536)
                    while true {
                        let n = buf.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
                        if n <= 0 { break }
                        TCPTestSupport.send(client, Array(buf[0..<n]))
                    }
                    shutdown(client, Int32(SHUT_RDWR))
                }
                Relay.pump(client, server, mutation, counter, tap)
                shutdown(server, Int32(SHUT_RDWR))
                shutdown(client, Int32(SHUT_RDWR))
            }
        }

        /// Client → server: the two handshake messages as they are, then record by record.
        static func pump(
            _ client: Int32,
            _ server: Int32,
            _ mutation: Mutation,
            _ counter: NIOLockedValueBox<Int>,
            _ tap: NIOLockedValueBox<[UInt8]>
        ) {
            let send = { (fd: Int32, bytes: [UInt8]) in
                tap.withLockedValue { $0 += bytes }
                TCPTestSupport.send(fd, bytes)
            }
            guard let m1 = read(client, 40) else { return }
            send(server, m1)
            guard let m3 = read(client, 56) else { return }
            send(server, m3)
            var index = 0
            var held: [UInt8]?
            while true {
                if case .cutBefore(let k) = mutation, index == k { return }
                guard let header = read(client, 4) else { return }
                let n = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
                guard let body = read(client, n) else { return }
                var record = header + body
                defer { index += 1 }
                switch mutation {
                case .flipByte(let k) where k == index:
                    record[4 + n / 2] ^= 0x01
                case .replay(let k) where k == index:
                    send(server, record)
                case .swap(let k) where k == index:
                    held = record
                    continue
                case .swap(let k) where k + 1 == index:
                    send(server, record)
                    record = held!
                case .cutInside(let k) where k == index:
                    send(server, Array(record[0..<(4 + n / 2)]))
                    return
                default: break
                }
                send(server, record)
                counter.withLockedValue { $0 += 1 }
            }
        }

        deinit { close(listener) }
    }
}
