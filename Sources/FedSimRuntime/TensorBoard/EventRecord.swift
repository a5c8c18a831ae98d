/// TensorBoard's event-file format, written directly: no TensorFlow, no protobuf library.
///
/// An event file is a sequence of TFRecords (length, masked CRC-32C of the length, payload,
/// masked CRC-32C of the payload), each payload a serialized `tensorflow.Event` protobuf. We
/// need only a handful of fields, so they are encoded by hand; the field numbers are those
/// of tensorflow/core/util/event.proto and framework/summary.proto, and a test reads the file
/// back with the real `tensorboard` package.
enum EventRecord {
    // MARK: TFRecord framing

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
    static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's masking, so that a CRC of data that contains CRCs is still well spread.
    static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    /// One TFRecord around `payload`.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count))
        return length + littleEndian(masked(crc32c(length))) + payload + littleEndian(masked(crc32c(payload)))
    }

    // MARK: Protobuf wire format

    static func varint(_ v: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        var x = v
        while x >= 0x80 {
            out.append(UInt8(x & 0x7F) | 0x80)
            x >>= 7
        }
        out.append(UInt8(x))
        return out
    }

    static func key(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }
    static func bytesField(_ field: Int, _ b: [UInt8]) -> [UInt8] { key(field, 2) + varint(UInt64(b.count)) + b }
    static func stringField(_ field: Int, _ s: String) -> [UInt8] { bytesField(field, Array(s.utf8)) }
    static func varintField(_ field: Int, _ v: UInt64) -> [UInt8] { key(field, 0) + varint(v) }
    static func doubleField(_ field: Int, _ v: Double) -> [UInt8] { key(field, 1) + littleEndian(v.bitPattern) }
    static func floatField(_ field: Int, _ v: Float) -> [UInt8] { key(field, 5) + littleEndian(v.bitPattern) }

    // MARK: Events

    /// Event{wall_time = 1, step = 2, file_version = 3 | summary = 5}.
    static func event(wallTime: Double, step: Int, body: [UInt8]) -> [UInt8] {
        doubleField(1, wallTime) + varintField(2, UInt64(bitPattern: Int64(step))) + body
    }

    static func fileVersion(wallTime: Double) -> [UInt8] {
        event(wallTime: wallTime, step: 0, body: stringField(3, "brain.Event:2"))
    }

    /// Summary{value = 1: Value{tag = 1, simple_value = 2}} for each scalar.
    static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        let summary = values.flatMap { bytesField(1, stringField(1, $0.tag) + floatField(2, $0.value)) }
        return event(wallTime: wallTime, step: step, body: bytesField(5, summary))
    }

    /// A text summary (TensorBoard's Text tab): Value{tag = 1, metadata = 9:
    /// SummaryMetadata{plugin_data = 1: PluginData{plugin_name = 1: "text"}}, tensor = 8:
    /// TensorProto{dtype = 1: DT_STRING (7), tensor_shape = 2: {}, string_val = 8}}.
    static func text(tag: String, _ markdown: String, step: Int, wallTime: Double) -> [UInt8] {
        let metadata = bytesField(1, stringField(1, "text"))
        let tensor = varintField(1, 7) + bytesField(2, []) + bytesField(8, Array(markdown.utf8))
        let value = stringField(1, tag) + bytesField(9, metadata) + bytesField(8, tensor)
        return event(wallTime: wallTime, step: step, body: bytesField(5, bytesField(1, value)))
    }

    /// The scenario as hyperparameters (TensorBoard's HParams tab): a Value tagged
    /// "_hparams_/session_start_info" whose metadata carries the plugin "hparams" and, as its
    /// content, HParamsPluginData{version = 1: 0, session_start_info = 3:
    /// SessionStartInfo{hparams = 1: map<string, google.protobuf.Value>}}, numbers as
    /// number_value (2) and everything else as string_value (3).
    static func hyperparameters(_ values: [(name: String, value: HParam)], wallTime: Double) -> [UInt8] {
        let entries = values.flatMap { entry -> [UInt8] in
            let v: [UInt8]
            switch entry.value {
            case .number(let x): v = doubleField(2, x)
            case .text(let s): v = stringField(3, s)
            case .flag(let b): v = varintField(4, b ? 1 : 0)
            }
            return bytesField(1, stringField(1, entry.name) + bytesField(2, v))
        }
        let pluginData = varintField(1, 0) + bytesField(3, entries)
        let metadata = bytesField(1, stringField(1, "hparams") + bytesField(2, pluginData))
        let tensor = varintField(1, 1) + bytesField(2, [])  // an empty float tensor, as TF writes
        let value = stringField(1, "_hparams_/session_start_info") + bytesField(9, metadata) + bytesField(8, tensor)
        return event(wallTime: wallTime, step: 0, body: bytesField(5, bytesField(1, value)))
    }

    enum HParam: Equatable {
        case number(Double)
        case text(String)
        case flag(Bool)
    }
}
