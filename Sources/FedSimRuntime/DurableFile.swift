import CSodium
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file the run could not write, read or create: a sentence with the path and the system's
/// reason. A full disk (or quota) is told apart, because the run stops on it with a resumable
/// checkpoint and the user only has to free space and resume.
public struct StorageError: Error, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var code: Int32
    /// Another process's failure, in its own words (a client's snapshot it could not write).
    public var reported: String?
    /// What to do about it, when the reason alone does not say.
    public var hint: String?

    public init(_ operation: String, _ path: String, errno code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public init(reported: String) {
        self.init("", "", errno: 0)
        self.reported = reported
    }

    /// ENOSPC, EDQUOT and EFBIG: the storage has no room for the write.
    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT || code == EFBIG }

    /// How a client process's answer to a checkpoint says its snapshot failed: a `failed`
    /// message for the checkpoint's round whose reason starts with this.
    public static let snapshotFailurePrefix = "snapshot failed: "

    public var description: String {
        if let reported { return reported }
        let reason = code == 0 ? "short write" : String(cString: strerror(code))
        return "cannot \(operation) \(path): \(reason)"
            + (isDiskFull ? " (the disk holding the run directory is full)" : "") + (hint.map { " (\($0))" } ?? "")
    }
}

/// Whole files are written to a temporary file, fsynced, renamed over the target and the
/// folder fsynced: a crash or a full disk leaves either the old file or the new one, never a
/// torn one. Every system call's result is checked.
public enum DurableFile {
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StorageError("create", tmp) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0, path: tmp) }
            guard fsync(fd) == 0 else { throw StorageError("flush", tmp) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        guard close(fd) == 0 else {
            let e = StorageError("close", tmp)
            unlink(tmp)
            throw e
        }
        guard rename(tmp, path) == 0 else {
            let e = StorageError("rename \(tmp) to", path)
            unlink(tmp)
            throw e
        }
        syncFolder(of: path)
    }

    /// Writes all of `bytes` to `fd`, retrying interrupted and short writes; throws on anything else.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StorageError("write", path, errno: n == 0 ? ENOSPC : errno) }
            off += n
        }
    }

    /// Makes a rename durable (best effort: some file systems refuse to fsync a folder).
    static func syncFolder(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let dfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        fsync(dfd)
        close(dfd)
    }
}

/// An append-only JSON-lines file (`metrics.jsonl`, `participation.jsonl`). A line is written
/// whole and fsynced, or not at all: after a failed write the file is cut back to where it was,
/// so a reader (or a resume) never sees a partial line.
public final class AppendOnlyFile {
    let fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError("open", path) }
    }
    deinit { close(fd) }

    public func append(_ line: String) throws {
        let start = lseek(fd, 0, SEEK_END)
        let bytes = Array((line + "\n").utf8)
        do {
            try bytes.withUnsafeBytes { try DurableFile.writeAll(fd, $0, path: path) }
            guard fsync(fd) == 0 else { throw StorageError("flush", path) }
        } catch {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw error
        }
    }
}

/// BLAKE2b-256 (libsodium) over bytes or a file: the checksums of checkpoints and device-state
/// snapshots, and the scenario's digest. A class: libsodium's streaming state is an aligned
/// C struct Swift sees only as an opaque pointer, so it lives in memory this object owns.
public final class Checksum {
    let state: UnsafeMutableRawPointer

    public init() {
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        _ = crypto_generichash_init(OpaquePointer(state), nil, 0, 32)
    }
    deinit { state.deallocate() }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = crypto_generichash_update(
            OpaquePointer(state),
            base.assumingMemoryBound(to: UInt8.self),
            UInt64(bytes.count)
        )
    }

    public func finish() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash_final(OpaquePointer(state), &out, 32)
        return out.map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let c = Checksum()
        bytes.withUnsafeBytes { c.update($0) }
        return c.finish()
    }
}

/// 64 KiB the coordinator reserves in the run directory when it starts and gives
/// back when a write fails: then the summary and the error message still fit on a full disk.
final class SpaceReserve: @unchecked Sendable {
    let path: String
    let bytes: Int
    private var held = false

    init(path: String, bytes: Int = 64 << 10) {
        self.path = path
        self.bytes = bytes
    }

    func hold() throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError("create", path) }
        defer { close(fd) }
        let e = posix_fallocate(fd, 0, off_t(bytes))
        guard e == 0 else {
            unlink(path)
            throw StorageError("reserve \(bytes) bytes in", path, errno: e)
        }
        held = true
    }

    func release() {
        if held { unlink(path) }
        held = false
    }
}
