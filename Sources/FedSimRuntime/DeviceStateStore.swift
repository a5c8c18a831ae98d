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
            fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
            }
            var st = stat()
            fstat(fd, &st)
            fresh = st.st_size == 0
            if !fresh && Int(st.st_size) != length {
                // Never re-initialise devices' state silently: a file of another size is a
                // truncated or foreign one (a resume restores the right one first).
                close(fd)
                throw Failure(
                    description:
                        "\(path) holds \(st.st_size) bytes, not the \(length) of \(devices) devices × \(width) floats; refusing to reset the devices' state"
                )
            }
            // Reserve the blocks now: a full disk is an error here, not a SIGBUS when a page of
            // the mapping is first touched mid-run.
            if fresh, case let e = posix_fallocate(fd, 0, off_t(length)), e != 0 {
                close(fd)
                unlink(path)
                throw StorageError("reserve \(length) bytes of device state in", path, errno: e)
            }
        }
        let flags = path == nil ? (MAP_PRIVATE | MAP_ANONYMOUS) : MAP_SHARED
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, flags, fd, 0)
        if fd >= 0 { close(fd) }
        guard let p, p != MAP_FAILED else { throw Failure(description: "cannot map \(length) bytes of device state") }
        base = p
        let header = base.assumingMemoryBound(to: UInt64.self)
        if !fresh && (header[0] != Self.magic || header[1] != UInt64(devices) || header[2] != UInt64(width)) {
            munmap(p, length)
            throw Failure(
                description:
                    "\(path ?? "the device state") is not a state file of \(devices) devices × \(width) floats; refusing to reset the devices' state"
            )
        }
        if fresh {
            // A new store: start clean.
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

    /// Every device's flags and floats, for early stopping's in-memory copy of the best round.
    public func copyState() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: base + flagsOffset, count: length - flagsOffset))
    }

    /// Writes back what `copyState` returned (same store shape).
    public func restoreState(_ bytes: [UInt8]) {
        precondition(bytes.count == length - flagsOffset)
        bytes.withUnsafeBytes { (base + flagsOffset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    /// Flushes a file-backed store to disk (checkpoints).
    public func sync() {
        if path != nil { msync(base, length, MS_SYNC) }
    }
}
