#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Thin wrappers so hot code does not need Foundation for elementary functions.
@inlinable public func _log(_ x: Double) -> Double { log(x) }
@inlinable public func _exp(_ x: Double) -> Double { exp(x) }
@inlinable public func _cos(_ x: Double) -> Double { cos(x) }
@inlinable public func _pow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@inlinable public func _log2(_ x: Double) -> Double { log2(x) }
