import FedSimConfig
import FedSimCore
import FedSimTestSupport
import Testing

/// `runtime.listen` and `runtime.connect`: the Unix socket stays the default, TCP addresses
/// are checked where they are read, and the keys survive the resolved scenario.json.
@Suite struct TransportKeysTests {
    func errors(_ yaml: String) -> [String] {
        TestSupport.scenarioErrors(yaml).map { $0.keyPath.isEmpty ? $0.message : $0.keyPath }
    }

    @Test func theUnixSocketIsTheDefault() throws {
        let s = try Scenario.load(yaml: "")
        #expect(s.runtime.listen == "unix" && s.runtime.connect.isEmpty && s.runtime.tcpListen == nil)
    }

    @Test func tcpKeysAreReadAndRoundTrip() throws {
        let s = try Scenario.load(yaml: "runtime: {listen: 'tcp://0.0.0.0:0', connect: 'tcp://10.0.0.5:7070'}")
        #expect(s.runtime.tcpListen == TCPAddress(host: "0.0.0.0", port: 0))
        #expect(TCPAddress(parsing: s.runtime.connect) == TCPAddress(host: "10.0.0.5", port: 7070))
        #expect(try Scenario.load(yaml: s.resolvedJSON()) == s)
    }

    @Test func badAddressesNameTheirKey() {
        #expect(errors("runtime: {listen: 'tcp://host'}") == ["runtime.listen"])
        #expect(errors("runtime: {listen: '127.0.0.1:80'}") == ["runtime.listen"])
        #expect(errors("runtime: {listen: 'tcp://h:1', connect: 'tcp://h:0'}") == ["runtime.connect"])
        #expect(errors("runtime: {connect: 'tcp://h:80'}") == ["runtime.connect"])
    }
}
