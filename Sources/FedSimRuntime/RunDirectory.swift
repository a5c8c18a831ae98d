import FedSimConfig
import FedSimCore
import FedSimData
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The files of one run. Private to the user (0700); the token and socket are 0600.
///
/// ```
/// runs/<scenario>-<timestamp>/
///   scenario.json       resolved scenario, every default filled in (JSON is valid YAML)
///   population.json     device/item counts the coordinator needs (never raw data)
///   token               per-run secret for the handshake (0600)
///   coordinator.sock    the coordinator's Unix-domain socket (0600)
///   coordinator.addr    with runtime.listen: tcp://…, the address it bound (0600)
///   metrics.jsonl       one line per round
///   summary.json        final figures
///   model.bin, model.json   final shared parameters (little-endian f32) and their layout
///   logs/coordinator.log, logs/client-<i>.log
/// ```
public struct RunDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var scenarioFile: String { path + "/scenario.json" }
    public var populationFile: String { path + "/population.json" }
    public var tokenFile: String { path + "/token" }
    /// Unix socket paths are limited to 107 bytes, so long run paths fall back to a short
    /// private directory under /tmp (recorded in `socket-path`).
    public var socketPath: String {
        if let p = try? String(contentsOfFile: path + "/socket-path", encoding: .utf8) { return p }
        return path + "/coordinator.sock"
    }
    public var metricsFile: String { path + "/metrics.jsonl" }
    /// Per-device sizes and main domains (`DeviceDirectory`), written by `fedsim run`.
    public var directoryFile: String { path + "/directory.bin" }
    public var participationFile: String { path + "/participation.jsonl" }
    public var checkpointFile: String { path + "/checkpoint.json" }

    /// Keeps the lines of a JSON-lines file whose "round" is ≤ `round` (and drops a torn
    /// last line), atomically. A missing file is left missing.
    public static func truncateJSONLines(_ file: String, keepingRoundsUpTo round: Int) throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return }
        var kept = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let r = o["round"] as? Int, r <= round
            else { continue }
            kept += line + "\n"
        }
        try atomicWrite(Array(kept.utf8), path: file)
    }

    /// Refuses to run in a run directory other local users can read or write (it holds the
    /// token, the enrollment secret and the socket), or in a symlinked one.
    public func checkPrivate() throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw SetupError(description: "cannot stat \(path)") }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SetupError(description: "\(path) is not a directory (a symlink?); refusing to run")
        }
        guard st.st_uid == getuid() else {
            throw SetupError(description: "\(path) belongs to another user; refusing to run")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw SetupError(
                description:
                    "\(path) is accessible to other users (mode \(String(st.st_mode & 0o777, radix: 8))); refusing to run: chmod 700 it"
            )
        }
    }

    /// The memory-mapped personal state of client process i (`state/process-i.bin`, 0600).
    public func stateFile(process i: Int) throws -> String {
        let folder = path + "/state"
        if !FileManager.default.fileExists(atPath: folder) {
            guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
                throw SetupError(description: "cannot create \(folder): \(String(cString: strerror(errno)))")
            }
        }
        return folder + "/process-\(i).bin"
    }

    public func loadDirectory() throws -> DeviceDirectory? {
        guard let data = FileManager.default.contents(atPath: directoryFile) else { return nil }
        return try DeviceDirectory.decode([UInt8](data))
    }
    public var summaryFile: String { path + "/summary.json" }
    public var logsDir: String { path + "/logs" }
    public var modelFile: String { path + "/model.bin" }
    public var modelLayoutFile: String { path + "/model.json" }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Creates a fresh run directory below `parent` (created if needed).
    /// Creates `parent/name-TIMESTAMP` (0700), or exactly `parent/exactName` when given
    /// (sweeps name their runs; the folder must not exist yet).
    public static func create(parent: String, name: String, exactName: String? = nil) throws -> RunDirectory {
        let fm = FileManager.default
        try makeFolders(parent)
        var st = stat()
        if stat(parent, &st) == 0, st.st_mode & 0o002 != 0, st.st_mode & 0o1000 == 0 {
            throw SetupError(
                description: "\(parent) is world-writable without the sticky bit; refusing to create a run there"
            )
        }
        let stamp = Self.timestamp()
        var candidate = exactName.map { "\(parent)/\($0)" } ?? "\(parent)/\(name)-\(stamp)"
        var n = 1
        while exactName == nil && fm.fileExists(atPath: candidate) {
            n += 1
            candidate = "\(parent)/\(name)-\(stamp)-\(n)"
        }
        guard mkdir(candidate, 0o700) == 0 else { throw StorageError("create the run directory", candidate) }
        chmod(candidate, 0o700)
        guard mkdir(candidate + "/logs", 0o700) == 0 else { throw StorageError("create", candidate + "/logs") }
        let dir = RunDirectory(path: candidate)
        if (dir.path + "/coordinator.sock").utf8.count > 100 {
            var template = Array("/tmp/fedsim-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { throw StorageError("create a socket folder in", "/tmp") }
            try dir.write(String(cString: p) + "/coordinator.sock", to: "socket-path", mode: 0o600)
        }
        return dir
    }

    /// `mkdir -p` with errors that name the path and the reason (not a Foundation error dump):
    /// an `--out` that is a file, read-only or not permitted.
    static func makeFolders(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw StorageError("use", path, errno: ENOTDIR) }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeFolders(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw StorageError("create", path) }
    }

    /// What to do after a failed write: the newest checkpoint that checks out, and the command.
    public func resumeAdvice() -> String {
        if let c = try? CoordinatorCheckpoint.load(checkpointFile) {
            return "the checkpoint of round \(c.round) is intact: free space, then `fedsim resume \(path)`"
        }
        return "no checkpoint was written yet: free space and start the run again"
    }

    static func timestamp() -> String {
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        func p(_ v: Int32, _ w: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return
            "\(p(tmv.tm_year + 1900, 4))\(p(tmv.tm_mon + 1))\(p(tmv.tm_mday))-\(p(tmv.tm_hour))\(p(tmv.tm_min))\(p(tmv.tm_sec))"
    }

    /// Writes a file atomically (temp file, fsync, rename) with the given mode.
    public func write(_ text: String, to name: String, mode: mode_t = 0o600) throws {
        try RunDirectory.atomicWrite(Array(text.utf8), path: path + "/" + name, mode: mode)
    }

    /// See `DurableFile.write`: temp file, checked writes, fsync, rename, folder fsync.
    public static func atomicWrite(_ bytes: [UInt8], path: String, mode: mode_t = 0o600) throws {
        try DurableFile.write(bytes, to: path, mode: mode)
    }

    public func read(_ name: String) throws -> String {
        guard let s = try? String(contentsOfFile: path + "/" + name, encoding: .utf8) else {
            throw SetupError(description: "cannot read \(path)/\(name)")
        }
        return s
    }

    /// Creates the per-run token (32 CSPRNG bytes, hex, 0600).
    public func createToken() throws -> [UInt8] {
        let token = SecureRandom.bytes(32)
        try write(Hex.encode(token), to: "token", mode: 0o600)
        return token
    }

    /// The enrollment authority's secret (32 CSPRNG bytes, 0600). Client processes derive
    /// device identities from it; the coordinator never reads it (see `Enrollment`).
    public func createEnrollmentSecret() throws {
        try write(Hex.encode(SecureRandom.bytes(32)), to: "enrollment.key", mode: 0o600)
    }

    public func readEnrollmentSecret() throws -> [UInt8] {
        let path = self.path + "/enrollment.key"
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw SetupError(description: "missing \(path) (secure aggregation needs it)")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw SetupError(description: "\(path) is readable by others; refusing to use it")
        }
        guard let s = Hex.decode(try read("enrollment.key").trimmingCharacters(in: .whitespacesAndNewlines)),
            s.count == 32
        else {
            throw SetupError(description: "\(path) is not a 32-byte hex secret")
        }
        return s
    }

    public func readToken() throws -> [UInt8] {
        var st = stat()
        guard stat(tokenFile, &st) == 0 else { throw SetupError(description: "missing \(tokenFile)") }
        guard st.st_mode & 0o077 == 0 else {
            throw SetupError(description: "\(tokenFile) is readable by others; refusing to use it")
        }
        guard let t = Hex.decode(try read("token").trimmingCharacters(in: .whitespacesAndNewlines)), t.count == 32
        else {
            throw SetupError(description: "\(tokenFile) is not a 32-byte hex token")
        }
        return t
    }

    public func loadScenario() throws -> Scenario {
        try Scenario.load(file: scenarioFile)
    }
}

/// Contiguous device ranges per client process: process i of P hosts [i·N/P, (i+1)·N/P).
public enum Sharding {
    public static func range(process i: Int, of p: Int, devices n: Int) -> Range<Int> {
        (i * n / p)..<((i + 1) * n / p)
    }

    public static func process(of device: Int, processes p: Int, devices n: Int) -> Int {
        // Inverse of `range`: the largest i with i·N/P <= device.
        var i = min(p - 1, device * p / max(n, 1))
        while i > 0 && range(process: i, of: p, devices: n).lowerBound > device { i -= 1 }
        while i < p - 1 && range(process: i, of: p, devices: n).upperBound <= device { i += 1 }
        return i
    }
}
