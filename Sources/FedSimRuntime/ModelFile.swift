import FedSimCore
import Foundation

/// Saves shared parameters as raw little-endian Float32 (`model.bin`) plus a JSON layout
/// (`model.json`) naming each tensor's offset and shape, readable from numpy:
/// `np.fromfile("model.bin", "<f4")`.
public enum ModelFile {
    public static func save(_ values: [Float], layout: ParameterLayout, in dir: RunDirectory) throws {
        let bytes = values.withUnsafeBytes { Array($0) }
        try RunDirectory.atomicWrite(bytes, path: dir.modelFile, mode: 0o600)
        var tensors: [String] = []
        for (i, t) in layout.tensors.enumerated() {
            var o = JSONObject()
            o.add("name", t.name)
            o.add("offset", layout.offsets[i])
            o.add("rows", t.rows)
            o.add("columns", t.columns)
            o.add("group", t.group.description)
            tensors.append(o.text)
        }
        var top = JSONObject()
        top.add("dtype", "float32-le")
        top.add("count", values.count)
        top.add("tensors", raw: "[" + tensors.joined(separator: ",") + "]")
        try dir.write(top.text + "\n", to: "model.json")
    }

    public static func load(from dir: RunDirectory) throws -> [Float] {
        guard let d = FileManager.default.contents(atPath: dir.modelFile) else {
            throw RunDirectory.SetupError(description: "cannot read \(dir.modelFile)")
        }
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
