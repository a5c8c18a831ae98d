import FedSimConfig
import FedSimRuntime
import FedSimWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ChaosBench {
    /// Connection-exhaustion faults: peers that never finish a handshake.
    static func connectionCases() -> [Case] {
        [
            Case(
                name: "socket flood: 300 idle connections, a slow hello, a claimed 200 MB hello",
                secure: false,
                action: flood,
                atRound: 2,
                mustEqualFaultFree: true,
                note: "64 wait for a handshake (runtime.max_pending_connections), the rest are refused on accept; "
                    + "idle and slow ones close at runtime.handshake_timeout_seconds; frames before the handshake are held to 64 KiB"
            )
        ]
    }

    /// Opens a raw connection to the run's socket, or -1.
    static func rawConnection(_ socketPath: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8CString)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, c) in path.prefix(raw.count - 1).enumerated() { raw[i] = UInt8(bitPattern: c) }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if ok != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// 300 connections that send nothing, one that sends a hello a byte every 100 ms, one
    /// that claims a 200 MB hello; all held open for 6 s (past the 10 s default deadline is
    /// not needed: the cap is what keeps the socket usable meanwhile), then closed.
    static func flood(_ dir: String) {
        let socketPath = RunDirectory(path: dir).socketPath
        var fds = (0..<300).map { _ in rawConnection(socketPath) }.filter { $0 >= 0 }
        let claimed = rawConnection(socketPath)
        if claimed >= 0 {
            let header: [UInt8] = [0x00, 0x00, 0x80, 0x0C, 1]  // 200 MB, then the version byte
            _ = header.withUnsafeBytes { send(claimed, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            fds.append(claimed)
        }
        let slow = rawConnection(socketPath)
        if slow >= 0 {
            var b = FrameCodec.encode(
                .hello(
                    Hello(
                        token: [UInt8](repeating: 7, count: 32),
                        processIndex: 0,
                        processCount: 2,
                        firstDevice: 0,
                        deviceCount: 200
                    )
                )
            )
            let bytes = b.readBytes(length: b.readableBytes)!
            for byte in bytes.prefix(60) {
                var one = byte
                if send(slow, &one, 1, Int32(MSG_NOSIGNAL)) != 1 { break }  // no SIGPIPE once it is closed
                usleep(100_000)
            }
            fds.append(slow)
        } else {
            sleep(6)
        }
        for fd in fds { close(fd) }
    }
}
