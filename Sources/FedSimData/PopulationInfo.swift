import Foundation

/// What the coordinator needs to know about the population, without any raw data.
public struct PopulationInfo: Codable, Sendable, Equatable {
    public var name: String
    public var devices: Int
    public var items: Int
    public var ratingMin: Float
    public var ratingMax: Float
    /// Domain names (absent in run directories written before populations had them).
    public var domains: [String]?
    /// Number of categorical user features and of item categories (the two-tower model's
    /// shape; absent in older run directories).
    public var userFeatures: Int?
    public var categories: Int?
    /// Names of the user features (demographic cohorts).
    public var userFeatureNames: [String]?

    public init(name: String, devices: Int, items: Int, ratingMin: Float, ratingMax: Float) {
        self.name = name
        self.devices = devices
        self.items = items
        self.ratingMin = ratingMin
        self.ratingMax = ratingMax
    }

    /// Everything the coordinator may know about `population`.
    public init(_ population: any Population) {
        self.init(
            name: population.name,
            devices: population.deviceCount,
            items: population.itemCount,
            ratingMin: population.ratingScale.lowerBound,
            ratingMax: population.ratingScale.upperBound
        )
        domains = population.domainNames
        userFeatures = population.userFeatureNames.count
        userFeatureNames = population.userFeatureNames
        categories = population.categoryNames.count
    }

    public func json() -> String {
        String(decoding: try! JSONEncoder().encode(self), as: UTF8.self)
    }

    public static func parse(_ s: String) throws -> PopulationInfo {
        try JSONDecoder().decode(PopulationInfo.self, from: Data(s.utf8))
    }
}
