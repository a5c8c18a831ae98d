import CSodium
import NIOCore

/// The record layer of the TCP transport: `crypto_secretstream_xchacha20poly1305`, one stream
/// per direction. A record on the wire is
///
/// ```
/// u32 length (little-endian)   bytes of ciphertext that follow, 17 … maxPlaintext + 17
/// ciphertext                    one secretstream message; the 4 length bytes are its additional data
/// ```
///
/// Each outbound write (one encoded frame) is one record, split into several when it is longer
/// than `maxPlaintext`, so a receiver never buffers more than one bounded record before it can
/// authenticate it; the frame decoder above reassembles frames exactly as on the Unix socket.
/// secretstream keeps a counter-derived nonce per message, so a replayed, reordered, dropped
/// or reflected record fails authentication; an orderly close sends an empty record tagged
/// FINAL, so a stream cut between records is told apart from a goodbye.
enum SecureRecords {
    /// Plaintext bytes per record. 64 KiB, the pre-handshake frame limit: a peer that holds
    /// the secret but has not sent its hello still cannot make us buffer more than that.
    static let maxPlaintext = 64 << 10
    static let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())
    static let headerBytes = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
}

/// The sending half of a secretstream. A class, so its state (and with it the nonce) can never
/// be copied and reused by accident.
final class SecretStreamSender {
    private var state = crypto_secretstream_xchacha20poly1305_state()
    let header: [UInt8]

    init(key: [UInt8]) {
        var h = [UInt8](repeating: 0, count: SecureRecords.headerBytes)
        crypto_secretstream_xchacha20poly1305_init_push(&state, &h, key)
        header = h
    }

    /// Appends `plain` to `out` as records of at most `maxPlaintext` bytes (none for an empty
    /// buffer unless `final`). Works on the buffers' storage directly: no intermediate arrays.
    func seal(_ plain: inout ByteBuffer, into out: inout ByteBuffer, final: Bool = false) {
        repeat {
            let n = min(plain.readableBytes, SecureRecords.maxPlaintext)
            let last = final && n == plain.readableBytes
            let tag =
                last
                ? crypto_secretstream_xchacha20poly1305_tag_final()
                : crypto_secretstream_xchacha20poly1305_tag_message()
            let length = UInt32(n + SecureRecords.overhead)
            out.writeInteger(length, endianness: .little)
            var ad = length.littleEndian
            plain.withUnsafeReadableBytes { src in
                _ = out.writeWithUnsafeMutableBytes(minimumWritableBytes: n + SecureRecords.overhead) { dst in
                    withUnsafeBytes(of: &ad) { a in
                        _ = crypto_secretstream_xchacha20poly1305_push(
                            &state,
                            dst.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            nil,
                            src.baseAddress?.assumingMemoryBound(to: UInt8.self),
                            UInt64(n),
                            a.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            4,
                            tag
                        )
                    }
                    return n + SecureRecords.overhead
                }
            }
            plain.moveReaderIndex(forwardBy: n)
        } while plain.readableBytes > 0
    }
}

/// The receiving half of a secretstream.
final class SecretStreamReceiver {
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private(set) var finished = false
    private(set) var records = 0

    init(key: [UInt8], header: [UInt8]) throws {
        guard header.count == SecureRecords.headerBytes,
            crypto_secretstream_xchacha20poly1305_init_pull(&state, header, key) == 0
        else { throw SecureChannelError(.badHandshake, "invalid stream header") }
    }

    /// Opens the next whole record at the front of `buffer`, or returns nil when it is not all
    /// there yet. The claimed length is checked from the 4-byte header, before buffering.
    func open(_ buffer: inout ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer? {
        if finished, buffer.readableBytes > 0 {
            throw SecureChannelError(.protocolViolation, "data after the final message")
        }
        guard let claimed = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return nil
        }
        let c = Int(claimed)
        guard c >= SecureRecords.overhead, c <= SecureRecords.maxPlaintext + SecureRecords.overhead else {
            throw SecureChannelError(
                .oversized,
                "record \(records + 1) claims \(c) bytes (allowed \(SecureRecords.overhead)…\(SecureRecords.maxPlaintext + SecureRecords.overhead))"
            )
        }
        guard buffer.readableBytes >= 4 + c else { return nil }
        let m = c - SecureRecords.overhead
        var plain = allocator.buffer(capacity: m)
        var tag: UInt8 = 0
        var ad = claimed.littleEndian
        var ok = false
        buffer.withUnsafeReadableBytes { src in
            _ = plain.writeWithUnsafeMutableBytes(minimumWritableBytes: max(1, m)) { dst in
                ok =
                    withUnsafeBytes(of: &ad) { a in
                        crypto_secretstream_xchacha20poly1305_pull(
                            &state,
                            dst.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            nil,
                            &tag,
                            src.baseAddress!.assumingMemoryBound(to: UInt8.self) + 4,
                            UInt64(c),
                            a.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            4
                        )
                    } == 0
                return ok ? m : 0
            }
        }
        guard ok else {
            throw SecureChannelError(
                .badRecord,
                "record \(records + 1) failed authentication (tampered, replayed, reordered or not from this stream)"
            )
        }
        buffer.moveReaderIndex(forwardBy: 4 + c)
        records += 1
        if tag == crypto_secretstream_xchacha20poly1305_tag_final() { finished = true }
        return plain
    }
}
