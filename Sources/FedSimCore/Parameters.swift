/// Who may see a parameter. Declared by each model, enforced by the runtime: the transport
/// only ever carries `shared` (and, later, `domain`) groups; `personal` ones live and die on
/// the device.
public enum ParameterGroup: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Federated across all devices (e.g. item embeddings).
    case shared
    /// Federated only among devices of one domain (per-domain adapters).
    case domain(String)
    /// Never leaves the device (e.g. the user embedding).
    case personal

    public var description: String {
        switch self {
        case .shared: return "shared"
        case .domain(let d): return "domain:\(d)"
        case .personal: return "personal"
        }
    }

    public var leavesDevice: Bool { self != .personal }
}

/// How an aggregate weights one tensor's elements. Per-row weights let each item row be
/// averaged over only the devices that touched it (no dilution by devices that never rated
/// the item); the weights travel next to the values, so they survive a secure sum.
public enum WeightScheme: Hashable, Sendable, Codable {
    /// One weight per row (`rows` rows of `columns` elements each).
    case perRow
    /// One weight for the whole tensor.
    case whole
}

/// One named tensor of a model.
public struct TensorSpec: Hashable, Sendable, Codable {
    public var name: String
    public var rows: Int
    public var columns: Int
    public var group: ParameterGroup
    public var weighting: WeightScheme

    public init(name: String, rows: Int, columns: Int, group: ParameterGroup, weighting: WeightScheme = .whole) {
        self.name = name
        self.rows = rows
        self.columns = columns
        self.group = group
        self.weighting = weighting
    }

    public var count: Int { rows * columns }
    public var weightCount: Int { weighting == .perRow ? rows : 1 }
}

/// The flat layout of a group of tensors in one contiguous `[Float]` buffer, plus the layout
/// of their weight slots. Everything that moves or sums parameters works on the flat buffer;
/// names exist for people and for checkpoints.
public struct ParameterLayout: Hashable, Sendable, Codable {
    public private(set) var tensors: [TensorSpec]
    public private(set) var offsets: [Int]
    public private(set) var weightOffsets: [Int]
    public private(set) var count: Int
    public private(set) var weightCount: Int

    public init(_ tensors: [TensorSpec]) {
        self.tensors = tensors
        var o = 0
        var w = 0
        offsets = []
        weightOffsets = []
        for t in tensors {
            offsets.append(o)
            weightOffsets.append(w)
            o += t.count
            w += t.weightCount
        }
        count = o
        weightCount = w
    }

    public func index(of name: String) -> Int? { tensors.firstIndex { $0.name == name } }

    public func range(of name: String) -> Range<Int>? {
        guard let i = index(of: name) else { return nil }
        return offsets[i]..<(offsets[i] + tensors[i].count)
    }

    /// The sub-layout of the tensors in one group, in declaration order.
    public func filter(_ include: (TensorSpec) -> Bool) -> ParameterLayout {
        ParameterLayout(tensors.filter(include))
    }

    /// For every element, the index of its weight slot. Computed once per layout.
    public func elementWeightSlots() -> [Int32] {
        var slots = [Int32](repeating: 0, count: count)
        for (i, t) in tensors.enumerated() {
            let base = offsets[i]
            let wbase = weightOffsets[i]
            for r in 0..<t.rows {
                let slot = Int32(wbase + (t.weighting == .perRow ? r : 0))
                for c in 0..<t.columns { slots[base + r * t.columns + c] = slot }
            }
        }
        return slots
    }
}
