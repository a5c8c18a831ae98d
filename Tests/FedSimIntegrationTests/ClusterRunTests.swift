import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimRuntime
import FedSimTestSupport
import Foundation
import Testing

/// Clients started by a cluster launcher: Open MPI's real `mpirun` (installed by
/// `make setup`) starts `fedsim-client --join` on each rank of a loopback hostfile; every
/// rank asks the coordinator for the run, takes its index from `OMPI_COMM_WORLD_RANK`, and
/// serves its shard over TCP with the secure channel.
@Suite(.serialized) struct ClusterRunTests {
    /// Three ranks on "localhost"; `--oversubscribe` because this machine may have fewer cores.
    static func clusterScenario(_ s: Scenario) throws -> (file: String, hostfile: String) {
        var s = s
        s.runtime.listen = "tcp://127.0.0.1:0"
        s.runtime.cluster.advertise = "127.0.0.1"
        s.runtime.cluster.launcherArguments = ["--oversubscribe"]
        let hostfile = TestSupport.temporaryDirectory() + "/hostfile"
        TestSupport.write("localhost slots=1\n", to: hostfile)
        return (MultiProcessTests.scenarioFile(s), hostfile)
    }

    static func requireMPIRun() throws {
        let found = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/mpirun")
        }
        try #require(found, "mpirun is not installed: `make setup` installs Open MPI (openmpi-bin)")
    }

    @Test func mpirunRanksEndWithTheModelOfTheSingleHostRun() throws {
        try Self.requireMPIRun()
        var s = TestSupport.tinyScenario(devices: 90, rounds: 3, perRound: 30, processes: 3)
        s.secureAggregation.protocol = .secaggPlus
        s.evaluation.every = 3
        let local = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(local.status == 0, "\(local.stderr)")

        let (file, hostfile) = try Self.clusterScenario(s)
        let cluster = try MultiProcessTests.fedsim([
            "run", file, "--hosts", hostfile, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(cluster.status == 0, "\(cluster.stderr)")
        let dir = cluster.runDirectory
        let a = try #require(FileManager.default.contents(atPath: local.runDirectory + "/model.bin"))
        let b = try #require(FileManager.default.contents(atPath: dir + "/model.bin"))
        #expect(a.count > 0 && a == b)

        let command = try String(contentsOfFile: dir + "/launch-command", encoding: .utf8)
        #expect(command.hasPrefix("mpirun -np 3 --enable-recovery"), "\(command)")
        #expect(command.contains("--hostfile \(hostfile)") && command.contains("--join tcp://127.0.0.1:"))
        // Every rank asked for the run, then joined with its own index from the launcher.
        let coordinator = try String(contentsOfFile: dir + "/logs/coordinator.log", encoding: .utf8)
        #expect(coordinator.components(separatedBy: "asked to join").count - 1 == 3, "\(coordinator)")
        let clients = try String(contentsOfFile: dir + "/logs/clients.log", encoding: .utf8)
        for rank in 0..<3 { #expect(clients.contains("[1,\(rank)]<stderr>:"), "\(clients)") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/logs/client-0.log"))
    }

    /// A rank that dies mid-run (SIGKILL, as a lost host) is dropped like a local client: mpirun
    /// keeps the other ranks, the run completes and the summary names the lost process.
    @Test func aLostRankLeavesTheRunToTheOthers() throws {
        try Self.requireMPIRun()
        // Many rounds after the loss, so that mpirun's abort (without --enable-recovery) would
        // land long before the run could end.
        var s = TestSupport.tinyScenario(devices: 90, rounds: 40, perRound: 45, processes: 3)
        var crash = FaultConfig()
        crash.kind = .crash
        crash.process = 1
        crash.round = 2
        s.runtime.faults = [crash]
        let (file, hostfile) = try Self.clusterScenario(s)
        let r = try MultiProcessTests.fedsim([
            "run", file, "--hosts", hostfile, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try TestSupport.summary(r.runDirectory)
        #expect(summary.status == .completed)
        #expect(summary.rounds == 40)
        #expect(summary.lostProcesses?.reasons.keys.sorted() == [1])
        let clients = try String(contentsOfFile: r.runDirectory + "/logs/clients.log", encoding: .utf8)
        for rank in [0, 2] {
            #expect(
                clients.contains("[1,\(rank)]<stderr>:") && clients.contains("[client-\(rank)] shutdown: run complete")
            )
        }
    }

    /// SIGKILL the coordinator of an mpirun run whose ranks keep their secrets and device
    /// state in a folder of their own (`runtime.cluster.secrets`), then `fedsim resume`: a new
    /// mpirun starts the ranks again, they find their state there, and the run ends with the
    /// uninterrupted run's model.
    @Test func anMPIRunResumesFromItsCheckpointWithTheSameModel() throws {
        try Self.requireMPIRun()
        var s = ResumeTests.scenario(privacy: false)
        s.runtime.processes = 3
        s.runtime.cluster.launcher = .mpirun
        let (referenceFile, hostfile) = try Self.clusterScenario(s)
        let reference = try MultiProcessTests.fedsim([
            "run", referenceFile, "--hosts", hostfile, "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(reference.status == 0, "\(reference.stderr)")

        s.runtime.cluster.secrets = TestSupport.temporaryDirectory() + "/node-secrets"
        let (file, _) = try Self.clusterScenario(s)
        let parent = TestSupport.temporaryDirectory()
        let (proc, _) = try ResumeTests.start(["run", file, "--hosts", hostfile, "--out", parent, "--quiet"])
        let dir = try #require(ResumeTests.runDirectory(in: parent))
        #expect(ResumeTests.waitForRounds(dir, 5))
        kill(try ResumeTests.coordinatorPID(dir), SIGKILL)
        proc.waitUntilExit()
        #expect(TestSupport.metricsLines(dir + "/metrics.jsonl").count < 12, "the run finished before the kill")
        #expect(FileManager.default.fileExists(atPath: s.runtime.cluster.secrets + "/state/process-2.bin"))

        let resumed = try MultiProcessTests.fedsim(["resume", dir, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = FileManager.default.contents(atPath: reference.runDirectory + "/model.bin")
        #expect(a != nil && a == FileManager.default.contents(atPath: dir + "/model.bin"))
    }

    /// `runtime.cluster.launcher: srun`, with a stand-in for Slurm's `srun` on PATH (this
    /// machine has no Slurm): it starts `--ntasks` copies of the client with `SLURM_PROCID` and
    /// `SLURM_NTASKS` set, as srun does. What it checks is FedSim's side: the command line, the
    /// index from Slurm's variables, and the same model as the single-host run.
    @Test func srunTasksTakeTheirIndexFromSlurmsVariables() throws {
        var s = TestSupport.tinyScenario(devices: 60, rounds: 3, perRound: 30, processes: 3)
        s.evaluation.every = 3
        let local = try MultiProcessTests.fedsim([
            "run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet",
        ])
        #expect(local.status == 0, "\(local.stderr)")
        let bin = TestSupport.temporaryDirectory()
        TestSupport.write(
            """
            #!/bin/sh
            # Stand-in for Slurm's srun: --ntasks=N copies of the program with Slurm's task variables.
            echo "srun $*" >&2
            n=1
            while case "$1" in --ntasks=*) n=${1#--ntasks=} ;; --*) ;; *) false ;; esac; do shift; done
            i=0
            while [ $i -lt $n ]; do SLURM_PROCID=$i SLURM_NTASKS=$n "$@" & i=$((i + 1)); done
            wait

            """,
            to: bin + "/srun"
        )
        chmod(bin + "/srun", 0o755)
        s.runtime.listen = "tcp://127.0.0.1:0"
        s.runtime.cluster.launcher = .srun
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let r = try MultiProcessTests.command(
            "fedsim",
            ["run", MultiProcessTests.scenarioFile(s), "--out", TestSupport.temporaryDirectory(), "--quiet"],
            environment: environment
        )
        #expect(r.status == 0, "\(r.stderr)")
        let a = FileManager.default.contents(atPath: local.runDirectory + "/model.bin")
        #expect(a != nil && a == FileManager.default.contents(atPath: r.runDirectory + "/model.bin"))
        let clients = try String(contentsOfFile: r.runDirectory + "/logs/clients.log", encoding: .utf8)
        #expect(clients.contains("srun --ntasks=3 --kill-on-bad-exit=0 --no-kill --label "), "\(clients)")
        for rank in 0..<3 { #expect(clients.contains("as process \(rank) of 3"), "\(clients)") }
    }

    /// What a rank started by hand gets wrong is said before it connects anywhere.
    @Test func aJoiningClientSaysWhatIsMissing() throws {
        let open = TestSupport.temporaryDirectory()
        chmod(open, 0o755)
        let r1 = try MultiProcessTests.command("fedsim-client", ["--join", "tcp://127.0.0.1:9", "--secrets", open])
        #expect(r1.status == ExitCodes.badInput && r1.stderr.contains("accessible to other users"), "\(r1.stderr)")

        let secrets = TestSupport.temporaryDirectory()
        chmod(secrets, 0o700)
        TestSupport.write(String(repeating: "ab", count: 32), to: secrets + "/token")
        chmod(secrets + "/token", 0o600)
        let r2 = try MultiProcessTests.command("fedsim-client", ["--join", "tcp://127.0.0.1:9", "--secrets", secrets])
        #expect(r2.status == ExitCodes.badInput && r2.stderr.contains("OMPI_COMM_WORLD_RANK"), "\(r2.stderr)")

        let r3 = try MultiProcessTests.command("fedsim-client", ["--join", "unix", "--secrets", secrets])
        #expect(r3.status == ExitCodes.badInput && r3.stderr.contains("not tcp://HOST:PORT"), "\(r3.stderr)")
    }
}

/// The pieces of a cluster launch without processes: ranks from each launcher's variables,
/// the command lines, and the scenario rules.
@Suite struct ClusterLaunchTests {
    @Test func theRankComesFromWhicheverLauncherStartedTheProcess() throws {
        #expect(
            try LauncherRank.fromEnvironment(["OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4"])
                == LauncherRank(index: 2, size: 4)
        )
        #expect(try LauncherRank.fromEnvironment(["PMIX_RANK": "1"]) == LauncherRank(index: 1, size: nil))
        #expect(
            try LauncherRank.fromEnvironment(["SLURM_PROCID": "7", "SLURM_NTASKS": "8"])
                == LauncherRank(index: 7, size: 8)
        )
        #expect(
            try LauncherRank.fromEnvironment(["PMI_RANK": "0", "PMI_SIZE": "3"]) == LauncherRank(index: 0, size: 3)
        )
        // Open MPI's own variable wins over the PMIx one it also sets.
        #expect(try LauncherRank.fromEnvironment(["PMIX_RANK": "5", "OMPI_COMM_WORLD_RANK": "1"]).index == 1)
        #expect(throws: RunDirectory.SetupError.self) { try LauncherRank.fromEnvironment(["SLURM_PROCID": "x"]) }
        #expect(throws: RunDirectory.SetupError.self) { try LauncherRank.fromEnvironment([:]) }
    }

    @Test func theLauncherLinesKeepTheJobGoingWhenARankFails() {
        var c = ClusterConfig()
        c.launcher = .mpirun
        c.hostfile = "hosts.txt"
        c.launcherArguments = ["--mca", "plm_rsh_agent", "ip netns exec"]
        let join = TCPAddress(host: "node1", port: 4000)
        let mpi = Launcher.clusterCommand(
            c,
            processes: 6,
            join: join,
            secrets: "/shared/run",
            client: "/opt/fedsim/fedsim-client",
            runningAsRoot: false
        )
        #expect(
            mpi == [
                "mpirun", "-np", "6", "--enable-recovery", "--bind-to", "none", "--tag-output", "--hostfile",
                "hosts.txt",
                "--mca", "plm_rsh_agent", "ip netns exec", "/opt/fedsim/fedsim-client", "--join", "tcp://node1:4000",
                "--secrets", "/shared/run",
            ]
        )
        c.launcher = .srun
        c.hostfile = ""
        c.launcherArguments = []
        let srun = Launcher.clusterCommand(
            c,
            processes: 6,
            join: join,
            secrets: "/s",
            client: "fc",
            runningAsRoot: true
        )
        #expect(
            srun == [
                "srun", "--ntasks=6", "--kill-on-bad-exit=0", "--no-kill", "--label", "fc", "--join",
                "tcp://node1:4000",
                "--secrets", "/s",
            ]
        )
        var any = ClusterConfig()
        #expect(
            Launcher.advertisedAddress(bound: TCPAddress(host: "10.0.0.1", port: 5), cluster: any).host == "10.0.0.1"
        )
        #expect(Launcher.advertisedAddress(bound: TCPAddress(host: "0.0.0.0", port: 5), cluster: any).host != "0.0.0.0")
        any.advertise = "head"
        #expect(
            Launcher.advertisedAddress(bound: TCPAddress(host: "0.0.0.0", port: 5), cluster: any)
                == TCPAddress(host: "head", port: 5)
        )
    }

    @Test func aClusterLauncherNeedsTCPAndAProcessCount() {
        let base = "name: c\ndata: {source: synthetic}\nruntime:\n"
        func errors(_ runtime: String) -> String {
            do {
                _ = try Scenario.load(yaml: base + runtime, file: "c.yaml")
                return ""
            } catch { return "\(error)" }
        }
        let unix = errors("  processes: 4\n  cluster: {launcher: mpirun}\n")
        #expect(unix.contains("runtime.cluster.launcher") && unix.contains("tcp://0.0.0.0:0"), "\(unix)")
        let noCount = errors("  listen: tcp://0.0.0.0:0\n  cluster: {launcher: srun}\n")
        #expect(noCount.contains("set runtime.processes"), "\(noCount)")
        let hostfile = errors("  processes: 2\n  listen: tcp://0.0.0.0:0\n  cluster: {launcher: srun, hostfile: h}\n")
        #expect(hostfile.contains("runtime.cluster.hostfile") && hostfile.contains("mpirun's"), "\(hostfile)")
        let typo = errors("  processes: 2\n  listen: tcp://0.0.0.0:0\n  cluster: {launcher: mpirun, hostfle: h}\n")
        #expect(typo.contains("hostfle") && typo.contains("hostfile"), "\(typo)")
        #expect(
            errors("  processes: 2\n  listen: tcp://0.0.0.0:0\n  cluster: {launcher: mpirun, hostfile: h}\n").isEmpty
        )
    }
}

/// The coordinator's identity keys: one 32-byte slot per device, for 10,000,000 devices.
@Suite struct IdentityKeyDirectoryTests {
    @Test func keysReadBackAndADifferentKeyConflicts() {
        var keys = IdentityKeyDirectory(devices: 1_000)
        #expect(keys[7] == nil && !keys.conflicts(7, [UInt8](repeating: 1, count: 32)))
        let a = (0..<32).map { UInt8($0) }
        let b = (0..<32).map { UInt8(255 - $0) }
        keys.set(999, a)
        keys.set(0, b)
        #expect(keys[999] == a && keys[0] == b && keys[998] == nil && keys[1] == nil)
        #expect(!keys.conflicts(999, a) && keys.conflicts(999, b))
        keys.set(999, b)
        #expect(keys[999] == b)
    }
}
