import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Device-state snapshots (`state/process-i.r<round>.ckpt`): the store's bytes, then a footer
/// naming what they are, so a resume can refuse a snapshot that is truncated, corrupt, of
/// another round or of another scenario, instead of silently re-initialising every device.
///
/// Footer (152 bytes, little-endian): magic "FSIMSNP2", round, body length, the scenario's
/// digest (64 hex characters) and the body's BLAKE2b-256 checksum (64 hex characters).
extension DeviceStateStore {
    static let snapshotMagic: UInt64 = 0x3250_4E53_4D49_5346  // "FSIMSNP2"
    static let footerLength = 24 + 64 + 64

    /// Writes the whole store and its footer to `snapshot` atomically (temp file, checked
    /// writes, fsync, rename).
    public func snapshot(to snapshot: String, round: Int, scenarioDigest: String) throws {
        let tmp = snapshot + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError("create", tmp) }
        do {
            let body = UnsafeRawBufferPointer(start: base, count: length)
            let sum = Checksum()
            sum.update(body)
            try DurableFile.writeAll(fd, body, path: tmp)
            let footer = Self.footer(round: round, length: length, digest: scenarioDigest, checksum: sum.finish())
            try footer.withUnsafeBytes { try DurableFile.writeAll(fd, $0, path: tmp) }
            guard fsync(fd) == 0 else { throw StorageError("flush", tmp) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        guard rename(tmp, snapshot) == 0 else {
            let e = StorageError("rename \(tmp) to", snapshot)
            unlink(tmp)
            throw e
        }
        DurableFile.syncFolder(of: snapshot)
    }

    static func footer(round: Int, length: Int, digest: String, checksum: String) -> [UInt8] {
        var out: [UInt8] = []
        for v in [snapshotMagic, UInt64(round), UInt64(length)] { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        out += Array(digest.utf8.prefix(64)) + [UInt8](repeating: 0x20, count: max(0, 64 - digest.utf8.count))
        out += Array(checksum.utf8.prefix(64))
        return out
    }

    /// Checks the snapshot of `round` and copies its body to `staged` (a temp file beside the
    /// store), without touching the store itself: a resume stages every process's snapshot
    /// first and replaces the stores only when all of them check out.
    public static func stage(
        snapshot: String,
        round: Int,
        scenarioDigest: String,
        devices: Int,
        to staged: String
    ) throws {
        func refuse(_ why: String) -> RunDirectory.SetupError {
            RunDirectory.SetupError(
                description: "the device-state snapshot \(snapshot) \(why); refusing to resume from it"
            )
        }
        let src = open(snapshot, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard src >= 0 else {
            throw errno == ELOOP
                ? refuse("is a symlink") : refuse("cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { close(src) }
        var st = stat()
        guard fstat(src, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw refuse("is not a regular file") }
        let size = Int(st.st_size)
        guard size >= footerLength + 64 else { throw refuse("is truncated (\(size) bytes)") }
        var footer = [UInt8](repeating: 0, count: footerLength)
        guard
            footer.withUnsafeMutableBytes({ pread(src, $0.baseAddress, footerLength, off_t(size - footerLength)) })
                == footerLength
        else { throw refuse("cannot be read") }
        func word(_ i: Int) -> UInt64 {
            footer[(i * 8)..<(i * 8 + 8)].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        }
        guard word(0) == snapshotMagic else { throw refuse("has no snapshot footer (truncated or corrupt)") }
        guard word(2) == UInt64(size - footerLength) else { throw refuse("is truncated") }
        guard word(1) == UInt64(round) else { throw refuse("was written for round \(word(1)), not \(round)") }
        let digest = String(decoding: footer[24..<88], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard digest == scenarioDigest else {
            throw refuse("was written for another scenario (digest \(digest.prefix(12))…)")
        }
        let stored = String(decoding: footer[88..<152], as: UTF8.self)
        let length = size - footerLength
        let expectedLength = { (width: Int) in max((64 + devices + 63) / 64 * 64 + devices * width * 4, 64) }

        let dst = open(staged, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard dst >= 0 else { throw StorageError("create", staged) }
        do {
            let sum = Checksum()
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            var off = 0
            var header: [UInt64] = []
            while off < length {
                let n = buf.withUnsafeMutableBytes {
                    pread(src, $0.baseAddress, min($0.count, length - off), off_t(off))
                }
                guard n > 0 else { throw refuse("cannot be read") }
                if off == 0 && n >= 24 {
                    header = (0..<3).map { i in
                        buf[(i * 8)..<(i * 8 + 8)].withUnsafeBytes {
                            UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
                        }
                    }
                }
                try buf.withUnsafeBytes { b in
                    let part = UnsafeRawBufferPointer(rebasing: b[0..<n])
                    sum.update(part)
                    try DurableFile.writeAll(dst, part, path: staged)
                }
                off += n
            }
            guard sum.finish() == stored else { throw refuse("is corrupt: its checksum does not match its content") }
            guard header.count == 3, header[0] == magic, header[1] == UInt64(devices),
                expectedLength(Int(header[2])) == length
            else { throw refuse("does not hold the state of this process's \(devices) devices") }
            guard fsync(dst) == 0 else { throw StorageError("flush", staged) }
        } catch {
            close(dst)
            unlink(staged)
            throw error
        }
        close(dst)
    }
}
