#if canImport(Glibc)
import Glibc
#endif

/// Fixed-width per-device state (personal parameters) in one memory-mapped file of the run
/// directory, so a client process's resident memory follows the devices it touches, not
/// the shard, and the state outlives the process (a restarted client finds its devices'
/// parameters where they were).
///
/// Layout: a 64-byte header (magic, device count, floats per device), one "initialised"
/// byte per device, padding to 64 bytes, then `width` Float32 per device. Without a path the
/// mapping is anonymous (tests, in-memory runs); pages are still only allocated when touched.
public final class DeviceStateStore: @unchecked Sendable {
    public let devices: Int
    public let width: Int
    public let path: String?
    let base: UnsafeMutableRawPointer
    let length: Int
    let flagsOffset = 64
    let floatsOffset: Int
    static let magic: UInt64 = 0x3130_5453_4D49_5346  // "FSIMST01"

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(devices: Int, width: Int, path: String? = nil) throws {
        self.devices = devices
        self.width = width
        self.path = path
        floatsOffset = (64 + devices + 63) / 64 * 64
        length = max(floatsOffset + devices * width * 4, 64)
        var fd: Int32 = -1
        var fresh = true
        if let path {
            fd = open(path, O_RDWR | O_CREAT, 0o600)
            guard fd >= 0 else {
                throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
            }
            var st = stat()
            fstat(fd, &st)
            fresh = Int(st.st_size) != length
            if fresh && ftruncate(fd, off_t(length)) != 0 {
                close(fd)
                throw Failure(
                    description: "cannot size \(path) to \(length) bytes: \(String(cString: strerror(errno)))"
                )
            }
        }
        let flags = path == nil ? (MAP_PRIVATE | MAP_ANONYMOUS) : MAP_SHARED
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, flags, fd, 0)
        if fd >= 0 { close(fd) }
        guard let p, p != MAP_FAILED else { throw Failure(description: "cannot map \(length) bytes of device state") }
        base = p
        let header = base.assumingMemoryBound(to: UInt64.self)
        if fresh || header[0] != Self.magic || header[1] != UInt64(devices) || header[2] != UInt64(width) {
            // A new store (or one of another shape): start clean.
            memset(base, 0, floatsOffset)
            header[0] = Self.magic
            header[1] = UInt64(devices)
            header[2] = UInt64(width)
        }
    }

    deinit { munmap(base, length) }

    public func isInitialized(_ i: Int) -> Bool { base.load(fromByteOffset: flagsOffset + i, as: UInt8.self) != 0 }

    /// The state of device slot i (0-based within the shard): `width` floats.
    public func row(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i >= 0 && i < devices)
        let p = (base + floatsOffset + i * width * 4).assumingMemoryBound(to: Float.self)
        return UnsafeMutableBufferPointer(start: p, count: width)
    }

    public func initialize(_ i: Int, with values: [Float]) {
        precondition(values.count == width)
        let r = row(i)
        for j in 0..<width { r[j] = values[j] }
        base.storeBytes(of: 1, toByteOffset: flagsOffset + i, as: UInt8.self)
    }

    /// Flushes a file-backed store to disk (checkpoints).
    public func sync() {
        if path != nil { msync(base, length, MS_SYNC) }
    }

    /// Writes the whole store to `snapshot` atomically (temp file, fsync, rename): the
    /// devices' state as of a checkpoint.
    public func snapshot(to snapshot: String) throws {
        let tmp = snapshot + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var off = 0
        while off < length {
            let n = write(fd, base + off, length - off)
            if n <= 0 {
                close(fd)
                throw Failure(description: "write to \(tmp) failed")
            }
            off += n
        }
        fsync(fd)
        close(fd)
        guard rename(tmp, snapshot) == 0 else { throw Failure(description: "cannot rename \(tmp)") }
    }

    /// Replaces the store file at `path` with a snapshot (before the process maps it).
    public static func restore(snapshot: String, to path: String) throws {
        let tmp = path + ".restore"
        let src = open(snapshot, O_RDONLY)
        guard src >= 0 else {
            throw Failure(description: "cannot read \(snapshot): \(String(cString: strerror(errno)))")
        }
        defer { close(src) }
        let dst = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard dst >= 0 else { throw Failure(description: "cannot write \(tmp)") }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
            if n < 0 {
                close(dst)
                throw Failure(description: "read of \(snapshot) failed")
            }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { write(dst, $0.baseAddress! + off, n - off) }
                if w <= 0 {
                    close(dst)
                    throw Failure(description: "write to \(tmp) failed")
                }
                off += w
            }
        }
        fsync(dst)
        close(dst)
        guard rename(tmp, path) == 0 else { throw Failure(description: "cannot rename \(tmp)") }
    }
}
