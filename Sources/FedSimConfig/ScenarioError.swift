/// A problem with a scenario, naming the key path (`training.local.learning_rate`) and, where
/// the YAML parser knows it, the file and line. The message says what was expected.
public struct ScenarioError: Error, CustomStringConvertible, Equatable, Sendable {
    public var keyPath: String
    public var message: String
    public var file: String?
    public var line: Int?

    public init(keyPath: String, message: String, file: String? = nil, line: Int? = nil) {
        self.keyPath = keyPath
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        var where_ = ""
        if let file { where_ += file + ":" }
        if let line { where_ += "\(line):" }
        if !where_.isEmpty { where_ += " " }
        let key = keyPath.isEmpty ? "(top level)" : keyPath
        return "\(where_)\(key): \(message)"
    }
}

/// Several problems found in one pass, so a user fixes them all at once.
public struct ScenarioErrors: Error, CustomStringConvertible, Sendable {
    public var errors: [ScenarioError]
    public init(errors: [ScenarioError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
